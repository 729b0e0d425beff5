/**
 * Seeder: runs declared seeds — production-safe reference data and deterministic generated data.
 *
 * Seeds run in dependency order, each in its own transaction: a failing seed is rolled back
 * whole and the seeds that depend on it do not run. Run-once seeds are recorded in `dbkit.seeds`
 * and skipped afterwards; reference seeds are idempotent upserts that run every time. Generated
 * data draws from a `Random` seeded by `--seed` and the seed's name, so the same number gives the
 * same bytes on every run and on both databases.
 *
 * This module holds the service's shape and wiring; the work is in top-level functions over one
 * context record (context.ts): run.ts, list.ts, validate.ts, clean.ts, with dbkit.seeds in
 * history.ts and what a seed is in seed.ts.
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as AdvisoryLock from "../AdvisoryLock.js"
import type { DbConfig, InvalidConfig } from "../Config.js"
import type { Database } from "../Database.js"
import type { Guard, GuardError } from "../Guard.js"
import * as Project from "../Project.js"
import { spanTarget, traced } from "../Tracing.js"
import { clean } from "./clean.js"
import { makeContext } from "./context.js"
import type { SeedCycle, SeedFailed, SeedPlanError, UnknownSeedDependency } from "./errors.js"
import { list, type SeedListing } from "./list.js"
import { run, type SeedOptions, type SeedResult } from "./run.js"
import type { Seed } from "./seed.js"
import { validate, type ValidationProblem } from "./validate.js"

export type { SeedListing } from "./list.js"
export type { PreviousRun, SeedEvent, SeedOptions, SeedResult } from "./run.js"
export type { Profile, Seed, SeedContext } from "./seed.js"
export type { ValidationProblem } from "./validate.js"

/** Declares a seed (an identity function that checks the shape). */
export const make = (seed: Seed): Seed => seed

/** The Seeder service, with its layers. */
export class Seeder extends Context.Tag("dbkit/Seeder")<Seeder, {
  /** Runs the seeds for the environment (or options), in dependency order. */
  readonly run: (
    options?: SeedOptions
  ) => Effect.Effect<ReadonlyArray<SeedResult>, SeedPlanError | SeedFailed | AdvisoryLock.LockTimeout | SqlError>
  /** The declared seeds and what has run. */
  readonly list: Effect.Effect<ReadonlyArray<SeedListing>, UnknownSeedDependency | SeedCycle | SqlError>
  /** Row counts against what each seed that ran declares. */
  readonly validate: (
    options?: { readonly scale?: number | undefined }
  ) => Effect.Effect<ReadonlyArray<ValidationProblem>, SqlError>
  /** Deletes generated data (guarded: DB_SEED_CLEAN_CONFIRM / --yes) and forgets those runs. */
  readonly clean: (options?: { readonly yes?: boolean | undefined }) => Effect.Effect<
    { readonly tables: ReadonlyArray<{ readonly table: string; readonly rows: number }> },
    GuardError | SqlError,
    Guard
  >
}>() {
  /** The Seeder over the given seeds. */
  static get layer(): typeof layer {
    return layer
  }
  /** The Seeder over the seeds the project declares. */
  static get layerConfig(): typeof layerConfig {
    return layerConfig
  }
  /** Declares a seed (an identity function that checks the shape). */
  static get make(): typeof make {
    return make
  }
}

/** The service over `seeds` (`make` declares a seed): its context record, and each operation over it. */
const makeService = (seeds: ReadonlyArray<Seed>) =>
  Effect.map(Effect.zip(makeContext(seeds), spanTarget), ([context, target]) =>
    Seeder.of(traced("Seeder", target, {
      run: (options) => run(context, options),
      list: list(context),
      validate: (options) => validate(context, options),
      clean: (options) => clean(context, options)
    })))

/** The Seeder over the given seeds. */
export const layer = (options: { readonly seeds: ReadonlyArray<Seed> }): Layer.Layer<
  Seeder,
  never,
  SqlClient.SqlClient | DbConfig | Database
> => Layer.effect(Seeder, makeService(options.seeds))

/**
 * The Seeder over the project's seeds: the modules `seeds` names in dbkit.config.ts. A project
 * that declares none is InvalidConfig naming the field, unless `optional` (then it seeds nothing).
 */
export const layerConfig = (options: { readonly optional?: boolean | undefined } = {}): Layer.Layer<
  Seeder,
  InvalidConfig,
  SqlClient.SqlClient | DbConfig | Database
> =>
  Layer.unwrapEffect(
    Effect.gen(function*() {
      const project = yield* Project.current
      return layer({
        seeds: yield* (options.optional === true ? Project.seeds(project) : Project.requiredSeeds(project))
      })
    })
  )
