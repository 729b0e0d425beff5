/**
 * What every engine function gets: the Migrator's settings, resolved once by `make`, and the
 * `locked` run that holds one reserved connection and the advisory lock while history is written.
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import type { Connection } from "@effect/sql/SqlConnection"
import type { SqlError } from "@effect/sql/SqlError"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Schedule from "effect/Schedule"
import * as AdvisoryLock from "../AdvisoryLock.js"
import type { Database, DatabaseShape } from "../Database.js"
import { type MigrateError, MigrationLockTimeout } from "./errors.js"
import * as History from "./history.js"
import { compare, type HistoryRow, type MigrationStatus } from "./plan.js"
import type { Migration } from "./source.js"
import type { MigrateOptions, MigrateResult, MigratorOptions, OnEvent } from "./types.js"

/** The Migrator's settings and connections, built once per layer. */
export interface MigratorContext {
  readonly sql: SqlClient.SqlClient
  readonly database: DatabaseShape
  readonly options: MigratorOptions
  readonly table: History.HistoryTable
  /** The database (and schema) runs report they act on. */
  readonly target: string
  readonly lockWaitMs: number
  readonly lockTimeoutMs: number
  readonly statementTimeoutMs: number
  /** Retries after a lock timeout. */
  readonly retries: number
  readonly key: string
  /** The pool, for reads that need no lock. */
  readonly pool: History.Session
  readonly retrySchedule: Schedule.Schedule<unknown, unknown>
  readonly catalogScope: { readonly schemas?: ReadonlyArray<string> }
  /**
   * Migrates with another Migrator over these options, on the database provided: the scratch
   * replays of drift and dry runs. Passed in by Migrator.ts so the engine never imports it.
   */
  readonly replay: (
    options: MigratorOptions,
    migrate: MigrateOptions
  ) => Effect.Effect<MigrateResult, MigrateError | SqlError, SqlClient.SqlClient | Database>
}

/** What every locked run gets: the session, its connection, the source and the history. */
export interface Locked {
  readonly run: History.Session
  readonly conn: Connection
  readonly migrations: ReadonlyArray<Migration>
  readonly history: ReadonlyArray<HistoryRow>
  readonly status: MigrationStatus
}

/** Polls for the advisory lock until `lockWait`; the lock is released with the scope. */
export const lock = (ctx: MigratorContext, run: History.Session, onEvent: OnEvent) =>
  ctx.database.sessionLocks // embedded: one process, one session, already exclusive
    ? AdvisoryLock.acquire(run, ctx.key, {
      wait: Duration.millis(ctx.lockWaitMs),
      onWait: (holder) => onEvent({ _tag: "WaitingForLock", holderPid: holder?.pid }),
      onTimeout: (holder) => new MigrationLockTimeout({ timeoutMs: ctx.lockWaitMs, holder })
    })
    : Effect.void

/**
 * One reserved connection (search_path set for schema runs), the lock, the history table,
 * then `use`. Everything that writes history goes through here.
 */
export const locked = <A, E, R>(
  ctx: MigratorContext,
  onEvent: OnEvent,
  use: (locked: Locked) => Effect.Effect<A, E, R>
) =>
  Effect.scoped(
    Effect.gen(function*() {
      const migrations = yield* ctx.options.source
      const conn = yield* ctx.sql.reserve
      const run = History.session(conn)
      // A killed migrator should abort its migration, not leave the server to finish (and
      // commit) a message nobody is waiting for: PostgreSQL 14+ checks the client while a
      // statement runs. Elsewhere (older servers, the embedded database) this is skipped.
      if (ctx.database.kind === "server") {
        yield* Effect.acquireRelease(
          Effect.ignore(run("SET client_connection_check_interval = 1000")),
          () => Effect.ignore(run("RESET client_connection_check_interval"))
        )
      }
      // The lock comes before anything is created: CREATE … IF NOT EXISTS is not safe
      // against a concurrent run doing the same.
      yield* lock(ctx, run, onEvent)
      if (ctx.options.schema) {
        const schema = History.quoteIdent(ctx.options.schema)
        yield* Effect.acquireRelease(
          run(`CREATE SCHEMA IF NOT EXISTS ${schema}; SET search_path TO ${schema}, public`),
          () => Effect.ignore(run(`RESET search_path`))
        )
      }
      // Registered last, so it runs first: whatever ends this run — failure or interruption
      // mid-transaction — the session is rolled back before the lock is released and the
      // connection goes back to the pool. (Outside a transaction it is a harmless warning.)
      yield* Effect.addFinalizer(() => Effect.ignore(run("ROLLBACK")))
      yield* History.ensureTable(run, ctx.table)
      const history = yield* History.readRows(run, ctx.table)
      return yield* use({ run, conn, migrations, history, status: compare(migrations, history) })
    })
  )

/** The SET statements for `lock_timeout` and `statement_timeout` (transaction-local or not). */
export const timeouts = (ctx: MigratorContext, local: boolean) => {
  const scope = local ? "LOCAL " : ""
  return `SET ${scope}lock_timeout = ${ctx.lockTimeoutMs}; SET ${scope}statement_timeout = ${ctx.statementTimeoutMs}`
}
