/**
 * dbkit's public API: the services, their layers, errors and types — nothing else.
 *
 * Each service is its Context tag with its layers attached, so a program reads
 * `const migrator = yield* Migrator` and is wired with `Migrator.layer({ ... })`.
 */
import * as ConfigModule from "./Config.js"
import * as GuardModule from "./Guard.js"
import * as MigratorModule from "./migrator/Migrator.js"

/** Configuration read from the environment (`DbConfig.layer`) or given (`DbConfig.layerFrom`). */
export const DbConfig = Object.assign(ConfigModule.DbConfig, {
  layer: ConfigModule.layer,
  layerFrom: ConfigModule.layerFrom,
  load: ConfigModule.load
})
export type DbConfig = ConfigModule.DbConfigShape
export { type Environment, environments, InvalidConfig } from "./Config.js"

export {
  Database,
  DatabaseLive,
  type DatabaseShape,
  DatabaseUnavailable,
  EmbeddedInUse,
  EmbeddedVersionMismatch,
  NotSupportedOnEmbedded,
  PgliteLive,
  PgLive
} from "./Database.js"

/** Confirmation and production guards for destructive actions. */
export const Guard = Object.assign(GuardModule.Guard, { layer: GuardModule.layer })
export { type Confirmation, ConfirmationRequired, type GuardRequest, ProductionRefused } from "./Guard.js"

/** Migrations: apply, dry-run, status. */
export const Migrator = Object.assign(MigratorModule.Migrator, {
  layer: MigratorModule.layer,
  layerConfig: MigratorModule.layerConfig
})
export type {
  MigrateEvent,
  MigrateOptions,
  MigrateResult,
  MigratorOptions,
  MigrationStatus
} from "./migrator/Migrator.js"
export * as MigrationSource from "./migrator/source.js"
export type { CodeMigration, Migration } from "./migrator/source.js"
export * from "./migrator/errors.js"

import * as SeederModule from "./seeder/Seeder.js"

/** Seeds: reference data everywhere, deterministic generated data outside production. */
export const Seeder = Object.assign(SeederModule.Seeder, { layer: SeederModule.layer, make: SeederModule.make })
export type { Profile, Seed, SeedContext, SeedEvent, SeedListing, SeedOptions, SeedResult } from "./seeder/Seeder.js"
export * from "./seeder/errors.js"
export * as Random from "./seeder/random.js"
export { BulkInsertFailed, copyRows, type CopyOptions, type CopyValue } from "./Bulk.js"
