/**
 * dbkit's public API: the services, their layers, errors and types — nothing else.
 */
export * as DbConfig from "./Config.js"
export { DbConfig as DbConfigService, type Environment, environments, InvalidConfig } from "./Config.js"
export {
  Database,
  DatabaseLive,
  DatabaseUnavailable,
  EmbeddedInUse,
  EmbeddedVersionMismatch,
  NotSupportedOnEmbedded,
  PgliteLive,
  PgLive
} from "./Database.js"
export * as Guard from "./Guard.js"
export { ConfirmationRequired, ProductionRefused } from "./Guard.js"
export * as MigrationSource from "./migrator/source.js"
export * from "./migrator/errors.js"
export * as Migrator from "./migrator/Migrator.js"
export type { Migration } from "./migrator/source.js"
export type { MigrationStatus } from "./migrator/plan.js"
