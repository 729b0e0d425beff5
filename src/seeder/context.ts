/**
 * What every Seeder operation works over: the database, its configuration, the declared seeds,
 * and the in-process lock of seeding runs on that database. `makeContext` gathers it; run,
 * list, validate and clean take it as their first parameter.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { DbConfig, type DbConfigShape } from "../Config.js"
import { Database, type DatabaseShape } from "../Database.js"
import type { SeedCycle, UnknownSeedDependency } from "./errors.js"
import { order } from "./graph.js"
import type { Seed } from "./seed.js"

/** One Seeder service's context record. */
export interface SeederContext {
  readonly sql: SqlClient.SqlClient
  readonly config: DbConfigShape
  readonly database: DatabaseShape
  readonly seeds: ReadonlyArray<Seed>
  /** One seeding run of this database at a time in this process, shared by every Seeder of it. */
  readonly runLock: Effect.Semaphore
}

/**
 * One seeding run per database in this process, whichever Seeder instance asks: the embedded
 * database has no session locks, so two Seeders of it in one process meet only here. The one
 * process-wide state of the Seeder.
 */
const runLocks = new Map<string, Effect.Semaphore>()

const runLockOf = (target: string): Effect.Semaphore =>
  runLocks.get(target) ?? runLocks.set(target, Effect.unsafeMakeSemaphore(1)).get(target)!

/** The context record of a Seeder over `seeds`, over the services in scope. */
export const makeContext = (seeds: ReadonlyArray<Seed>) =>
  Effect.gen(function*() {
    const database = yield* Database
    return {
      sql: yield* SqlClient.SqlClient,
      config: yield* DbConfig,
      database,
      seeds,
      runLock: runLockOf(database.target)
    } satisfies SeederContext
  })

/** The declared seeds in dependency order, or the problem that prevents any order. */
export const ordered = (
  context: SeederContext
): Effect.Effect<ReadonlyArray<Seed>, UnknownSeedDependency | SeedCycle> =>
  Effect.suspend(() => Either.match(order(context.seeds), { onLeft: Effect.fail, onRight: Effect.succeed }))
