/**
 * Migrator: applies migrations safely and reports where a database stands.
 *
 * One reserved connection per run holds a session advisory lock (server) taken in a poll loop
 * *before* the history table is touched, so racing deploys apply each migration exactly once.
 * Each migration runs in its own transaction with `lock_timeout` set; lock timeouts are retried
 * with jittered backoff. Statements PostgreSQL refuses inside a transaction run one by one,
 * with a `running` history row that turns into `failed` (and blocks later runs) if they stop
 * halfway.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schedule from "effect/Schedule"
import * as Config from "effect/Config"
import * as Option from "effect/Option"
import { DbConfig, InvalidConfig } from "../Config.js"
import { Database } from "../Database.js"
import {
  ChecksumMismatch,
  type MigrateError,
  MigrationBlocked,
  MigrationFailed,
  MigrationLockTimeout,
  type MigrationSourceError,
  OutOfOrder,
  UnknownMigration
} from "./errors.js"
import * as History from "./history.js"
import { compare, type HistoryRow, type MigrationStatus, newestAppliedName } from "./plan.js"
import { fromDirectory, type Migration, type MigrationSource } from "./source.js"

/** Progress of a run, one event per migration. */
export type MigrateEvent =
  | { readonly _tag: "Started"; readonly pending: number; readonly target: string }
  | { readonly _tag: "Applying"; readonly name: string; readonly index: number; readonly total: number }
  | { readonly _tag: "Applied"; readonly name: string; readonly durationMs: number }
  | { readonly _tag: "Retrying"; readonly name: string; readonly attempt: number; readonly reason: string }
  | { readonly _tag: "WaitingForLock"; readonly holderPid: number | undefined }

export interface MigrateOptions {
  /** Stop after this migration (inclusive). */
  readonly to?: string | undefined
  /** Apply pending migrations older than the newest applied one instead of failing. */
  readonly allowOutOfOrder?: boolean | undefined
  /** Run pending transactional migrations in one transaction and roll it back. */
  readonly dryRun?: boolean | undefined
  readonly onEvent?: ((event: MigrateEvent) => Effect.Effect<void>) | undefined
}

export interface MigrateResult {
  readonly applied: ReadonlyArray<{ readonly name: string; readonly durationMs: number }>
  /** Non-transactional migrations a dry run could not try. */
  readonly skipped: ReadonlyArray<string>
  readonly upToDate: number
  readonly dryRun: boolean
}

export interface MigratorOptions {
  readonly source: MigrationSource
  /** Run against this schema: search_path is set to it and the history lives in it. */
  readonly schema?: string | undefined
  readonly historyTable?: History.HistoryTable | undefined
  /** How long to wait for another migrator (default 60 s). */
  readonly lockWait?: Duration.DurationInput | undefined
  /** `lock_timeout` for each migration (default 5 s). */
  readonly lockTimeout?: Duration.DurationInput | undefined
  /** `statement_timeout` for each migration (default: none). */
  readonly statementTimeout?: Duration.DurationInput | undefined
  /** Retries after a lock timeout (default 4). */
  readonly lockRetries?: number | undefined
}

/** The Migrator service. */
export class Migrator extends Context.Tag("dbkit/Migrator")<Migrator, {
  /** The migrations known to the source, in order. */
  readonly migrations: Effect.Effect<ReadonlyArray<Migration>, MigrationSourceError>
  /** Applied, pending, changed, missing, out-of-order and failed migrations. Changes nothing. */
  readonly status: Effect.Effect<MigrationStatus, MigrationSourceError | SqlError>
  /** Applies pending migrations (or tries them and rolls back, with `dryRun`). */
  readonly migrate: (options?: MigrateOptions) => Effect.Effect<MigrateResult, MigrateError | SqlError>
}>() {}

const ms = (d: Duration.DurationInput) => Math.max(0, Math.round(Duration.toMillis(Duration.decode(d))))

/** The server's error fields, from pg's or PGlite's error object. */
const serverError = (error: SqlError) => {
  const cause = (error.cause ?? {}) as Record<string, unknown>
  const text = (k: string) => (typeof cause[k] === "string" && cause[k] !== "" ? (cause[k] as string) : undefined)
  const position = text("position")
  return {
    message: text("message") ?? error.message,
    code: text("code"),
    detail: text("detail"),
    position: position === undefined ? undefined : Number(position)
  }
}

const isLockTimeout = (error: unknown) => error instanceof MigrationFailed && error.code === "55P03"

const make = (options: MigratorOptions) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const database = yield* Database
    const table: History.HistoryTable = options.historyTable ??
      (options.schema ? { schema: options.schema, table: "dbkit_migrations" } : { schema: "dbkit", table: "migrations" })
    const lockWaitMs = ms(options.lockWait ?? "60 seconds")
    const lockTimeoutMs = ms(options.lockTimeout ?? "5 seconds")
    const statementTimeoutMs = options.statementTimeout === undefined ? 0 : ms(options.statementTimeout)
    const retries = options.lockRetries ?? 4
    const key = History.lockKey(table)
    const target = options.schema ? `${database.target} (schema ${options.schema})` : database.target

    /** A reserved connection, with search_path set for schema-targeted runs and reset on release. */
    const reserveSession = Effect.gen(function*() {
      const conn = yield* sql.reserve
      const run = History.session(conn)
      if (options.schema) {
        const schema = History.quoteIdent(options.schema)
        yield* Effect.acquireRelease(
          run(`CREATE SCHEMA IF NOT EXISTS ${schema}; SET search_path TO ${schema}, public`),
          () => Effect.ignore(run(`RESET search_path`))
        )
      }
      return { conn, run } as const
    })

    /** Polls for the advisory lock until `lockWait`; the lock is released with the scope. */
    const lock = (run: History.Session, onEvent: (e: MigrateEvent) => Effect.Effect<void>) =>
      Effect.gen(function*() {
        if (!database.sessionLocks) return // embedded: one process, one session, already exclusive
        const deadline = Date.now() + lockWaitMs
        let announced = false
        while (!(yield* History.tryLock(run, key))) {
          const holder = yield* History.lockHolder(run, key)
          if (!announced) {
            announced = true
            yield* onEvent({ _tag: "WaitingForLock", holderPid: holder?.pid })
            yield* Effect.logInfo("waiting for the migration lock").pipe(Effect.annotateLogs("holder", holder?.pid))
          }
          if (Date.now() >= deadline) {
            return yield* new MigrationLockTimeout({ timeoutMs: lockWaitMs, holder })
          }
          yield* Effect.sleep(Duration.millis(150 + Math.floor(Math.random() * 200)))
        }
        yield* Effect.addFinalizer(() => Effect.ignore(History.unlock(run, key)))
      })

    const timeouts = (local: boolean) => {
      const scope = local ? "LOCAL " : ""
      return `SET ${scope}lock_timeout = ${lockTimeoutMs}; SET ${scope}statement_timeout = ${statementTimeoutMs}`
    }

    /** Runs a migration body; a failure names the statement and keeps the server's message. */
    const runBody = (run: History.Session, migration: Migration, conn: unknown) =>
      Effect.gen(function*() {
        const up = migration.up
        if (up._tag === "Code") {
          return yield* up.effect.pipe(
            Effect.provideService(SqlClient.TransactionConnection, [conn as never, 0]),
            Effect.provideService(SqlClient.SqlClient, sql),
            Effect.mapError((cause) => failure(migration, 1, 1, cause))
          )
        }
        const total = up.statements.length
        for (let index = 0; index < total; index++) {
          yield* run(up.statements[index]!.text).pipe(
            Effect.mapError((error) => failure(migration, index + 1, total, error))
          )
        }
      })

    const failure = (migration: Migration, statement: number, statements: number, cause: unknown) => {
      const server = cause && typeof cause === "object" && "_tag" in cause && cause._tag === "SqlError"
        ? serverError(cause as SqlError)
        : { message: cause instanceof Error ? cause.message : String(cause), code: undefined, detail: undefined, position: undefined }
      return new MigrationFailed({
        migration: migration.name,
        file: migration.file,
        statement,
        statements,
        serverMessage: server.message,
        code: server.code,
        position: server.position,
        detail: server.detail,
        transactional: migration.transactional,
        cause
      })
    }

    const applyTransactional = (
      run: History.Session,
      conn: unknown,
      migration: Migration,
      onEvent: (e: MigrateEvent) => Effect.Effect<void>
    ) => {
      let attempt = 0
      const once = Effect.gen(function*() {
        attempt++
        const started = Date.now()
        yield* run("BEGIN")
        const outcome = yield* Effect.exit(
          Effect.gen(function*() {
            yield* run(timeouts(true))
            yield* runBody(run, migration, conn)
            yield* History.recordApplied(run, table, migration.name, migration.checksum, Date.now() - started)
            yield* run("COMMIT")
          })
        )
        if (outcome._tag === "Failure") {
          yield* Effect.ignore(run("ROLLBACK"))
          return yield* Effect.failCause(outcome.cause)
        }
        return Date.now() - started
      })
      return once.pipe(
        Effect.tapError((error) =>
          isLockTimeout(error) && attempt <= retries
            ? onEvent({ _tag: "Retrying", name: migration.name, attempt, reason: "lock timeout" }).pipe(
              Effect.zipRight(Effect.logWarning(`lock timeout in ${migration.name}; retrying (attempt ${attempt + 1})`))
            )
            : Effect.void
        ),
        Effect.retry({
          schedule: Schedule.exponential("250 millis").pipe(Schedule.jittered, Schedule.intersect(Schedule.recurs(retries))),
          while: isLockTimeout
        })
      )
    }

    const applyOutsideTransaction = (run: History.Session, conn: unknown, migration: Migration) =>
      Effect.gen(function*() {
        const started = Date.now()
        yield* History.recordRunning(run, table, migration.name, migration.checksum)
        yield* run(timeouts(false))
        yield* runBody(run, migration, conn).pipe(
          Effect.tapError((error) =>
            error instanceof MigrationFailed
              ? History.recordFailed(run, table, migration.name, error.statement, error.serverMessage)
              : Effect.void
          ),
          Effect.ensuring(Effect.ignore(run("RESET lock_timeout; RESET statement_timeout")))
        )
        yield* History.recordApplied(run, table, migration.name, migration.checksum, Date.now() - started)
        return Date.now() - started
      })

    /** Refuses to run over a history that needs a human first. */
    const check = (status: MigrationStatus, migrations: ReadonlyArray<Migration>, history: ReadonlyArray<HistoryRow>, allowOutOfOrder: boolean) =>
      Effect.gen(function*() {
        const blocked = status.failed[0]
        if (blocked) {
          return yield* new MigrationBlocked({
            migration: blocked.name,
            status: blocked.status,
            statement: blocked.statement ?? undefined,
            error: blocked.error ?? undefined
          })
        }
        if (status.changed.length > 0) return yield* new ChecksumMismatch({ migrations: status.changed })
        if (status.outOfOrder.length > 0 && !allowOutOfOrder) {
          return yield* new OutOfOrder({
            migrations: status.outOfOrder,
            newestApplied: newestAppliedName(migrations, history) ?? ""
          })
        }
        if (status.missing.length > 0) {
          yield* Effect.logWarning(`applied migrations missing from the source: ${status.missing.join(", ")}`)
        }
      })

    const selectPending = (migrations: ReadonlyArray<Migration>, status: MigrationStatus, to: string | undefined) =>
      Effect.gen(function*() {
        const pending = new Set(status.pending)
        let selected = migrations.filter((m) => pending.has(m.name))
        if (to !== undefined) {
          const index = migrations.findIndex((m) => m.name === to)
          if (index === -1) return yield* new UnknownMigration({ name: to, known: migrations.map((m) => m.name) })
          const allowed = new Set(migrations.slice(0, index + 1).map((m) => m.name))
          selected = selected.filter((m) => allowed.has(m.name))
        }
        return selected
      })

    const migrate = (opts: MigrateOptions = {}) =>
      Effect.gen(function*() {
        const onEvent = opts.onEvent ?? (() => Effect.void)
        const migrations = yield* options.source
        return yield* Effect.scoped(
          Effect.gen(function*() {
            const { conn, run } = yield* reserveSession
            yield* lock(run, onEvent)
            yield* History.ensureTable(run, table)
            const history = yield* History.readHistory(run, table)
            const status = compare(migrations, history)
            yield* check(status, migrations, history, opts.allowOutOfOrder === true)
            const pending = yield* selectPending(migrations, status, opts.to)
            const upToDate = status.applied.length
            yield* onEvent({ _tag: "Started", pending: pending.length, target })
            if (opts.dryRun === true) return yield* dryRun(run, conn, pending, upToDate, onEvent)
            const applied: Array<{ name: string; durationMs: number }> = []
            for (const [index, migration] of pending.entries()) {
              yield* onEvent({ _tag: "Applying", name: migration.name, index: index + 1, total: pending.length })
              const durationMs = migration.transactional
                ? yield* applyTransactional(run, conn, migration, onEvent)
                : yield* applyOutsideTransaction(run, conn, migration)
              applied.push({ name: migration.name, durationMs })
              yield* onEvent({ _tag: "Applied", name: migration.name, durationMs })
            }
            return { applied, skipped: [], upToDate, dryRun: false } satisfies MigrateResult
          })
        )
      })

    /** Every pending transactional migration in one transaction, always rolled back. */
    const dryRun = (
      run: History.Session,
      conn: unknown,
      pending: ReadonlyArray<Migration>,
      upToDate: number,
      onEvent: (e: MigrateEvent) => Effect.Effect<void>
    ) =>
      Effect.gen(function*() {
        const tried: Array<{ name: string; durationMs: number }> = []
        const skipped: Array<string> = []
        yield* run("BEGIN")
        yield* Effect.gen(function*() {
          yield* run(timeouts(true))
          for (const [index, migration] of pending.entries()) {
            if (!migration.transactional) {
              skipped.push(migration.name)
              continue
            }
            yield* onEvent({ _tag: "Applying", name: migration.name, index: index + 1, total: pending.length })
            const started = Date.now()
            yield* runBody(run, migration, conn)
            tried.push({ name: migration.name, durationMs: Date.now() - started })
            yield* onEvent({ _tag: "Applied", name: migration.name, durationMs: Date.now() - started })
          }
        }).pipe(Effect.ensuring(Effect.ignore(run("ROLLBACK"))))
        return { applied: tried, skipped, upToDate, dryRun: true } satisfies MigrateResult
      })

    const status = Effect.gen(function*() {
      const migrations = yield* options.source
      const history = yield* History.readHistory((text, params = []) => sql.unsafe(text, params), table)
      return compare(migrations, history)
    })

    return Migrator.of({ migrations: options.source, status, migrate })
  })

/** The Migrator over an explicit source (a folder, code migrations, or both). */
export const layer = (options: MigratorOptions): Layer.Layer<Migrator, never, SqlClient.SqlClient | Database> =>
  Layer.effect(Migrator, make(options))

/** Timeouts from the environment: DB_MIGRATION_LOCK_WAIT, DB_LOCK_TIMEOUT, DB_STATEMENT_TIMEOUT. */
const timeoutsConfig = Config.all({
  lockWait: Config.option(Config.duration("DB_MIGRATION_LOCK_WAIT")),
  lockTimeout: Config.option(Config.duration("DB_LOCK_TIMEOUT")),
  statementTimeout: Config.option(Config.duration("DB_STATEMENT_TIMEOUT"))
})

/**
 * The Migrator over the configured migrations directory (DBKIT_MIGRATIONS_DIR, default
 * `migrations`), with timeouts from the environment unless given.
 */
export const layerConfig = (
  options: Omit<MigratorOptions, "source"> = {}
): Layer.Layer<Migrator, InvalidConfig, SqlClient.SqlClient | Database | DbConfig> =>
  Layer.unwrapEffect(
    Effect.gen(function*() {
      const config = yield* DbConfig
      const timeouts = yield* Effect.mapError(
        timeoutsConfig,
        (error) => new InvalidConfig({ variable: "DB_*_TIMEOUT", reason: String(error) })
      )
      return layer({
        lockWait: Option.getOrUndefined(timeouts.lockWait),
        lockTimeout: Option.getOrUndefined(timeouts.lockTimeout),
        statementTimeout: Option.getOrUndefined(timeouts.statementTimeout),
        ...options,
        source: fromDirectory(config.migrationsDir)
      })
    })
  )

export type { MigrationStatus }
