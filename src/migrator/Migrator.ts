/**
 * Migrator: applies, plans, rolls back, baselines, adopts, repairs and checks migrations.
 *
 * Every run that writes history holds one reserved connection with a session advisory lock
 * (server) taken in a poll loop *before* the history table is touched, so racing deploys apply
 * each migration exactly once. Each migration runs in its own transaction with `lock_timeout`
 * set; lock timeouts are retried with jittered backoff. Statements PostgreSQL refuses inside a
 * transaction run one by one, under a `running` history row that becomes `failed` (and blocks
 * later runs until repair) if they stop halfway.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type { Connection } from "@effect/sql/SqlConnection"
import type { SqlError } from "@effect/sql/SqlError"
import * as Cause from "effect/Cause"
import * as Config from "effect/Config"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import * as AdvisoryLock from "../AdvisoryLock.js"
import { DbConfig, InvalidConfig } from "../Config.js"
import { type ConnectError, Database } from "../Database.js"
import { Guard, type GuardError } from "../Guard.js"
import * as Scratch from "../Scratch.js"
import * as Catalog from "./catalog.js"
import {
  AdoptRequired,
  ChecksumMismatch,
  InvalidTarget,
  type MigrateError,
  MigrationBlocked,
  MigrationFailed,
  MigrationLockTimeout,
  type MigrationSourceError,
  MissingDownMigration,
  OutOfOrder,
  type RollbackError,
  TransactionControlRefused,
  UnknownMigration
} from "./errors.js"
import { batchable, nextBatch, nextBatchSize } from "./batch.js"
import * as History from "./history.js"
import { type LintFinding, lintMigrations } from "./lint.js"
import { compare, type HistoryRow, isUpToDate, type MigrationStatus, newestAppliedName } from "./plan.js"
import {
  findTransactionControl,
  fromDirectory,
  type Migration,
  type MigrationBody,
  type MigrationSource
} from "./source.js"

/** Progress of a run, one event per migration. */
export type MigrateEvent =
  | { readonly _tag: "Started"; readonly pending: number; readonly target: string }
  | { readonly _tag: "Applying"; readonly name: string; readonly index: number; readonly total: number }
  | { readonly _tag: "Applied"; readonly name: string; readonly durationMs: number }
  | { readonly _tag: "RolledBack"; readonly name: string; readonly durationMs: number }
  | { readonly _tag: "Retrying"; readonly name: string; readonly attempt: number; readonly reason: string }
  | { readonly _tag: "WaitingForLock"; readonly holderPid: number | undefined }

type OnEvent = (event: MigrateEvent) => Effect.Effect<void>

/** Progress of a drift check: the replay's own events, then the comparison. */
export type DriftEvent = MigrateEvent | { readonly _tag: "Comparing" }

export interface DriftOptions {
  /** Called as the replay applies each migration, and once before the catalogs are compared. */
  readonly onEvent?: ((event: DriftEvent) => Effect.Effect<void>) | undefined
}

export interface MigrateOptions {
  /** Stop after this migration (inclusive). */
  readonly to?: string | undefined
  /** Apply pending migrations older than the newest applied one instead of failing. */
  readonly allowOutOfOrder?: boolean | undefined
  /**
   * Try the pending migrations and change nothing: in one transaction on this database, rolled
   * back (so they meet its data); from the first one that transaction cannot judge as migrate
   * runs it (one that cannot run in a transaction, or one that needs the earlier ones committed,
   * such as an enum value added and then used), in a scratch database replaying the migrations.
   */
  readonly dryRun?: boolean | undefined
  readonly onEvent?: OnEvent | undefined
}

export interface MigrateResult {
  readonly applied: ReadonlyArray<{ readonly name: string; readonly durationMs: number }>
  /** Migrations a dry run could not try (see `skippedBecause`). */
  readonly skipped: ReadonlyArray<string>
  readonly upToDate: number
  readonly dryRun: boolean
  /** Dry run: the migrations (among `applied`) judged in a scratch database, not on this one. */
  readonly replayed?: ReadonlyArray<string>
  /** Dry run: why the `skipped` ones could not be tried. */
  readonly skippedBecause?: string
}

export interface RollbackOptions {
  /** How many of the most recently applied migrations to roll back (default 1). */
  readonly steps?: number | undefined
  /** Roll back everything applied after this migration (it stays applied). */
  readonly to?: string | undefined
  /** `--yes`: confirm without DB_ROLLBACK_CONFIRM or a prompt. */
  readonly yes?: boolean | undefined
  readonly onEvent?: OnEvent | undefined
}

/** What `migrate plan` shows: the pending SQL and what looks risky in it. */
export interface MigrationPlan {
  readonly target: string
  readonly pending: ReadonlyArray<{
    readonly name: string
    readonly file: string
    readonly transactional: boolean
    readonly statements: ReadonlyArray<string>
  }>
  readonly findings: ReadonlyArray<LintFinding>
  readonly status: MigrationStatus
}

export interface RepairResult {
  readonly checksumsAccepted: ReadonlyArray<string>
  readonly cleared: ReadonlyArray<string>
  readonly markedApplied: ReadonlyArray<string>
}

export interface AdoptResult {
  readonly adopted: ReadonlyArray<{ readonly name: string; readonly from: "drizzle" | "@effect/sql" }>
  /** History rows of the other tool that match no migration here. */
  readonly unmatched: ReadonlyArray<string>
}

export interface DriftReport {
  readonly target: string
  readonly differences: ReadonlyArray<Catalog.CatalogDifference>
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

type Failure = MigrationSourceError | SqlError

/** The Migrator service. */
export class Migrator extends Context.Tag("dbkit/Migrator")<Migrator, {
  /** The migrations known to the source, in order. */
  readonly migrations: Effect.Effect<ReadonlyArray<Migration>, MigrationSourceError>
  /** Applied, pending, changed, missing, out-of-order and failed migrations. Changes nothing. */
  readonly status: Effect.Effect<MigrationStatus, Failure>
  /** The pending migrations' SQL and lint findings. Changes nothing. */
  readonly plan: (options?: { readonly to?: string | undefined }) => Effect.Effect<MigrationPlan, Failure | UnknownMigration>
  /** Applies pending migrations (or tries them and rolls back, with `dryRun`). */
  readonly migrate: (options?: MigrateOptions) => Effect.Effect<MigrateResult, MigrateError | SqlError>
  /** Runs down migrations, newest first, after the guard agrees (DB_ROLLBACK_CONFIRM / --yes). */
  readonly rollback: (
    options?: RollbackOptions
  ) => Effect.Effect<{ readonly rolledBack: ReadonlyArray<string> }, RollbackError | GuardError | SqlError, Guard>
  /** Records migrations up to `to` as applied without running them (an existing schema). */
  readonly baseline: (options: { readonly to: string }) => Effect.Effect<
    { readonly marked: ReadonlyArray<string> },
    MigrationSourceError | MigrationLockTimeout | UnknownMigration | MigrationBlocked | SqlError
  >
  /** Imports drizzle-orm's and @effect/sql's migration history, so nothing re-runs. */
  readonly adopt: Effect.Effect<AdoptResult, MigrationSourceError | MigrationLockTimeout | SqlError>
  /** Accepts changed checksums and clears failed records (re-run them, or `markApplied`). */
  readonly repair: (options?: {
    readonly markApplied?: ReadonlyArray<string> | undefined
  }) => Effect.Effect<RepairResult, MigrationSourceError | MigrationLockTimeout | UnknownMigration | SqlError>
  /** Replays every migration into a scratch database and compares its catalog with this one. */
  readonly drift: (options?: DriftOptions) => Effect.Effect<DriftReport, MigrateError | ConnectError | SqlError>
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

const isSqlError = (u: unknown): u is SqlError =>
  typeof u === "object" && u !== null && "_tag" in u && u._tag === "SqlError"

const failure = (
  migration: Migration,
  file: string,
  statement: number,
  statements: number,
  cause: unknown,
  transactional = migration.transactional
) => {
  const server = isSqlError(cause)
    ? serverError(cause)
    : { message: cause instanceof Error ? cause.message : String(cause), code: undefined, detail: undefined, position: undefined }
  return new MigrationFailed({
    migration: migration.name,
    file,
    statement,
    statements,
    serverMessage: server.message,
    code: server.code,
    position: server.position,
    detail: server.detail,
    transactional,
    cause
  })
}

const isLockTimeout = (error: unknown) => error instanceof MigrationFailed && error.code === "55P03"

/** What every locked run gets: the session, its connection, the source and the history. */
interface Locked {
  readonly run: History.Session
  readonly conn: Connection
  readonly migrations: ReadonlyArray<Migration>
  readonly history: ReadonlyArray<HistoryRow>
  readonly status: MigrationStatus
}

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
    const pool: History.Session = (text, params = []) => sql.unsafe(text, params)
    const retrySchedule = Schedule.exponential("250 millis").pipe(Schedule.jittered, Schedule.intersect(Schedule.recurs(retries)))

    /** Polls for the advisory lock until `lockWait`; the lock is released with the scope. */
    const lock = (run: History.Session, onEvent: OnEvent) =>
      database.sessionLocks // embedded: one process, one session, already exclusive
        ? AdvisoryLock.acquire(run, key, {
          wait: Duration.millis(lockWaitMs),
          onWait: (holder) => onEvent({ _tag: "WaitingForLock", holderPid: holder?.pid }),
          onTimeout: (holder) => new MigrationLockTimeout({ timeoutMs: lockWaitMs, holder })
        })
        : Effect.void

    /**
     * One reserved connection (search_path set for schema runs), the lock, the history table,
     * then `use`. Everything that writes history goes through here.
     */
    const locked = <A, E, R>(onEvent: OnEvent, use: (locked: Locked) => Effect.Effect<A, E, R>) =>
      Effect.scoped(
        Effect.gen(function*() {
          const migrations = yield* options.source
          const conn = yield* sql.reserve
          const run = History.session(conn)
          // A killed migrator should abort its migration, not leave the server to finish (and
          // commit) a message nobody is waiting for: PostgreSQL 14+ checks the client while a
          // statement runs. Elsewhere (older servers, the embedded database) this is skipped.
          if (database.kind === "server") {
            yield* Effect.acquireRelease(
              Effect.ignore(run("SET client_connection_check_interval = 1000")),
              () => Effect.ignore(run("RESET client_connection_check_interval"))
            )
          }
          // The lock comes before anything is created: CREATE … IF NOT EXISTS is not safe
          // against a concurrent run doing the same.
          yield* lock(run, onEvent)
          if (options.schema) {
            const schema = History.quoteIdent(options.schema)
            yield* Effect.acquireRelease(
              run(`CREATE SCHEMA IF NOT EXISTS ${schema}; SET search_path TO ${schema}, public`),
              () => Effect.ignore(run(`RESET search_path`))
            )
          }
          // Registered last, so it runs first: whatever ends this run — failure or interruption
          // mid-transaction — the session is rolled back before the lock is released and the
          // connection goes back to the pool. (Outside a transaction it is a harmless warning.)
          yield* Effect.addFinalizer(() => Effect.ignore(run("ROLLBACK")))
          yield* History.ensureTable(run, table)
          const history = yield* History.readRows(run, table)
          return yield* use({ run, conn, migrations, history, status: compare(migrations, history) })
        })
      )

    const timeouts = (local: boolean) => {
      const scope = local ? "LOCAL " : ""
      return `SET ${scope}lock_timeout = ${lockTimeoutMs}; SET ${scope}statement_timeout = ${statementTimeoutMs}`
    }

    /** Runs a body; a failure names the file and statement and keeps the server's message. */
    const runBody = (
      run: History.Session,
      conn: Connection,
      migration: Migration,
      body: MigrationBody,
      file: string,
      transactional = migration.transactional
    ) =>
      Effect.gen(function*() {
        if (body._tag === "Code") {
          return yield* body.effect.pipe(
            Effect.provideService(SqlClient.TransactionConnection, [conn, 0]),
            Effect.provideService(SqlClient.SqlClient, sql),
            Effect.asVoid,
            Effect.mapError((cause) => failure(migration, file, 1, 1, cause, transactional))
          )
        }
        const total = body.statements.length
        for (let index = 0; index < total; index++) {
          yield* run(body.statements[index]!.text).pipe(
            Effect.mapError((error) => failure(migration, file, index + 1, total, error, transactional))
          )
        }
      })

    /** Retries `attempt` after lock timeouts, with jittered backoff, announcing each retry. */
    const retryingLockTimeouts = <A, E>(name: string, onEvent: OnEvent, attempt: Effect.Effect<A, E>) => {
      let attempts = 0
      return attempt.pipe(
        Effect.tapError((error) =>
          isLockTimeout(error) && ++attempts <= retries
            ? onEvent({ _tag: "Retrying", name, attempt: attempts, reason: "lock timeout" }).pipe(
              Effect.zipRight(Effect.logWarning(`lock timeout in ${name}; retrying (attempt ${attempts + 1})`))
            )
            : Effect.void
        ),
        Effect.retry({ schedule: retrySchedule, while: isLockTimeout })
      )
    }

    /** `work` in its own transaction with timeouts set, retried on lock timeouts. */
    const inTransaction = (
      run: History.Session,
      name: string,
      onEvent: OnEvent,
      work: Effect.Effect<void, MigrationFailed | SqlError>
    ) =>
      retryingLockTimeouts(
        name,
        onEvent,
        Effect.gen(function*() {
          const started = Date.now()
          yield* run("BEGIN")
          const outcome = yield* Effect.exit(run(timeouts(true)).pipe(Effect.zipRight(work), Effect.zipRight(run("COMMIT"))))
          if (outcome._tag === "Failure") {
            yield* Effect.ignore(run("ROLLBACK"))
            return yield* Effect.failCause(outcome.cause)
          }
          return Date.now() - started
        })
      )

    const applyOutsideTransaction = (run: History.Session, conn: Connection, migration: Migration) =>
      Effect.gen(function*() {
        const started = Date.now()
        yield* History.recordRunning(run, table, migration.name, migration.checksum)
        yield* run(timeouts(false))
        yield* runBody(run, conn, migration, migration.up, migration.file).pipe(
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

    /**
     * A transactional SQL migration as one simple-protocol message — BEGIN, timeouts, its
     * statements, its history row, COMMIT — so applying it costs one round trip. When the
     * message fails, the transaction is rolled back and the statements are replayed one by one
     * in a transaction that is always rolled back, to name the statement that fails. Lock and
     * statement timeouts are not replayed (they would only wait again); they are retried.
     */
    const applyInOneMessage = (
      state: Locked,
      migration: Migration,
      statements: ReadonlyArray<string>,
      flush: boolean
    ) =>
      Effect.gen(function*() {
        const started = Date.now()
        const outcome = yield* Effect.exit(state.run(transactionText(migration, statements, flush)))
        if (outcome._tag === "Success") return Date.now() - started
        yield* Effect.ignore(state.run("ROLLBACK"))
        return yield* messageFailed(state, migration, outcome.cause)
      })

    /** A transactional SQL migration as text: BEGIN, timeouts, its statements, its history row, COMMIT. */
    const transactionText = (migration: Migration, statements: ReadonlyArray<string>, flush: boolean) =>
      [
        "BEGIN",
        History.markStartText,
        timeouts(true),
        // Only the run's last commit waits for the WAL flush; flushing it flushes every earlier
        // one, so a finished run is as durable as with synchronous commits throughout, and a
        // crash mid-run loses whole later migrations (they run again), never part of one.
        ...(flush ? [] : ["SET LOCAL synchronous_commit = off"]),
        ...statements,
        History.recordAppliedText(table, migration.name, migration.checksum),
        "COMMIT"
      ].join("\n;\n") // a newline first: a statement may end in a line comment

    /** How a message failed in `migration` (rolled back): a timeout as it is, else diagnosed. */
    const messageFailed = (state: Locked, migration: Migration, cause: Cause.Cause<SqlError>) => {
      const error = Option.getOrUndefined(Cause.failureOption(cause))
      const code = isSqlError(error) ? serverError(error).code : undefined
      if (code === "55P03" || code === "57014" || error === undefined) {
        const statements = migration.up._tag === "Sql" ? migration.up.statements.length : 1
        return Effect.failCause(Cause.map(cause, (e) => failure(migration, migration.file, 0, statements, e)))
      }
      return diagnose(state, migration, error)
    }

    /**
     * Several transactional SQL migrations in one message (batch.ts chooses them), each its own
     * transaction as `transactionText` writes it, then a SELECT of their history rows for the
     * durations the server measured. The server stops at the first error: the migrations before
     * it are committed (their rows say which; the failed one is rolled back), the rest never ran.
     */
    const applyBatch = (state: Locked, batch: ReadonlyArray<Migration>, flushLast: boolean) =>
      Effect.gen(function*() {
        const durations = History.durationsText(table, batch.map((m) => m.name))
        const statementsOf = (m: Migration) => (m.up._tag === "Sql" ? m.up.statements.map((s) => s.text) : [])
        const text = [
          ...batch.map((m, index) => transactionText(m, statementsOf(m), flushLast && index === batch.length - 1)),
          durations
        ].join("\n;\n")
        const durationsIn = (rows: ReadonlyArray<any>) => new Map(rows.map((row) => [row.name as string, Number(row.duration_ms)]))
        const outcome = yield* Effect.exit(state.run(text))
        if (outcome._tag === "Success") {
          const measured = durationsIn(outcome.value.at(-1) ?? [])
          return { committed: batch.map((m) => ({ name: m.name, durationMs: measured.get(m.name) ?? 0 })), failed: undefined }
        }
        yield* Effect.ignore(state.run("ROLLBACK"))
        const measured = durationsIn(yield* state.run(durations))
        const committed = batch.flatMap((m) => measured.has(m.name) ? [{ name: m.name, durationMs: measured.get(m.name)! }] : [])
        const failed = batch[committed.length]
        if (failed === undefined) return yield* Effect.failCause(outcome.cause)
        return { committed, failed: { migration: failed, cause: outcome.cause } }
      })

    /**
     * Applies `pending` in order, recording each in `applied` and announcing it. Runs of
     * batchable migrations go several to a message (applyBatch); after a failed message, the
     * migration it stopped in fails the run as it would alone (diagnosed), or runs alone first
     * when that cannot be told yet or a lock timeout wants its retries.
     */
    const applyPending = (
      state: Locked,
      pending: ReadonlyArray<Migration>,
      onEvent: OnEvent,
      applied: Array<{ name: string; durationMs: number }>
    ) =>
      Effect.gen(function*() {
        const applying = (index: number) =>
          onEvent({ _tag: "Applying", name: pending[index]!.name, index: index + 1, total: pending.length })
        const done = (result: { readonly name: string; readonly durationMs: number }) => {
          applied.push(result)
          return onEvent({ _tag: "Applied", ...result })
        }
        const alone = (index: number) =>
          Effect.flatMap(
            apply(state, pending[index]!, onEvent, index === pending.length - 1),
            (durationMs) => done({ name: pending[index]!.name, durationMs })
          )
        let size = 1
        let index = 0
        while (index < pending.length) {
          const batch = nextBatch(pending, index, size)
          yield* applying(index)
          const started = Date.now()
          if (batch.length === 1) {
            yield* alone(index)
            if (batchable(batch[0]!)) size = nextBatchSize(1, Date.now() - started)
            index++
            continue
          }
          const outcome = yield* applyBatch(state, batch, index + batch.length === pending.length)
          for (const [offset, result] of outcome.committed.entries()) {
            if (offset > 0) yield* applying(index + offset)
            yield* done(result)
          }
          index += outcome.committed.length
          if (outcome.failed === undefined) {
            size = nextBatchSize(batch.length, Date.now() - started)
            continue
          }
          if (outcome.committed.length > 0) yield* applying(index)
          const error = Option.getOrUndefined(Cause.failureOption(outcome.failed.cause))
          const code = isSqlError(error) ? serverError(error).code : undefined
          // A lock timeout gets its retries. With nothing committed, the message may not have run
          // at all (PostgreSQL parses all of it first: a syntax error in any migration stops every
          // one), so its first migration runs alone to tell. Otherwise the failure is this one's.
          const rerun = code === "55P03" || (outcome.committed.length === 0 && code !== "57014" && error !== undefined)
          if (!rerun) return yield* messageFailed(state, outcome.failed.migration, outcome.failed.cause)
          yield* alone(index)
          index++
          size = 1
        }
      })

    /** Replays a failed migration statement by statement (always rolled back) to find the culprit. */
    const diagnose = (state: Locked, migration: Migration, original: SqlError) =>
      Effect.gen(function*() {
        yield* state.run("BEGIN")
        const replay = yield* Effect.exit(
          state.run(timeouts(true)).pipe(
            Effect.zipRight(runBody(state.run, state.conn, migration, migration.up, migration.file))
          )
        )
        yield* Effect.ignore(state.run("ROLLBACK"))
        if (replay._tag === "Failure") return yield* Effect.failCause(replay.cause)
        return yield* failure(migration, migration.file, 0, migration.up._tag === "Sql" ? migration.up.statements.length : 1, original)
      })

    const apply = (locked: Locked, migration: Migration, onEvent: OnEvent, last: boolean) => {
      if (!migration.transactional) return applyOutsideTransaction(locked.run, locked.conn, migration)
      const up = migration.up
      if (up._tag === "Sql") {
        const statements = up.statements.map((s) => s.text)
        return retryingLockTimeouts(migration.name, onEvent, applyInOneMessage(locked, migration, statements, last))
      }
      return inTransaction(
        locked.run,
        migration.name,
        onEvent,
        Effect.gen(function*() {
          const started = Date.now()
          yield* runBody(locked.run, locked.conn, migration, up, migration.file)
          yield* History.recordApplied(locked.run, table, migration.name, migration.checksum, Date.now() - started)
        })
      )
    }

    /** A failed or interrupted non-transactional migration blocks everything until repair. */
    const ensureNotBlocked = (status: MigrationStatus) => {
      const blocked = status.failed[0]
      return blocked
        ? Effect.fail(
          new MigrationBlocked({
            migration: blocked.name,
            status: blocked.status,
            statement: blocked.statement ?? undefined,
            error: blocked.error ?? undefined
          })
        )
        : Effect.void
    }

    /** Refuses to migrate over a history that needs a human first. */
    const check = (locked: Locked, allowOutOfOrder: boolean) =>
      Effect.gen(function*() {
        const { status, migrations, history } = locked
        yield* ensureNotBlocked(status)
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

    const indexOf = (migrations: ReadonlyArray<Migration>, name: string) =>
      Effect.suspend(() => {
        const index = migrations.findIndex((m) => m.name === name)
        return index === -1
          ? Effect.fail(new UnknownMigration({ name, known: migrations.map((m) => m.name) }))
          : Effect.succeed(index)
      })

    const selectPending = (migrations: ReadonlyArray<Migration>, status: MigrationStatus, to: string | undefined) =>
      Effect.gen(function*() {
        const pending = new Set(status.pending)
        const last = to === undefined ? migrations.length - 1 : yield* indexOf(migrations, to)
        return migrations.filter((m, index) => pending.has(m.name) && index <= last)
      })

    /** Refuses a migration that would end dbkit's transaction for it, before anything runs. */
    const ensureNoTransactionControl = (
      migration: Migration,
      body: MigrationBody,
      file: string,
      transactional: boolean
    ) => {
      const found = findTransactionControl(body, transactional)
      return found === undefined
        ? Effect.void
        : Effect.fail(new TransactionControlRefused({ migration: migration.name, file, ...found }))
    }

    /**
     * Refuses to run every migration again over a database another migrator brought up to date
     * and nobody adopted. Only whole-database runs: a schema-targeted run (a tenant schema) has
     * a history of its own beside whatever migrated the rest of the database.
     */
    const ensureAdopted = (state: Locked, pending: ReadonlyArray<Migration>) =>
      Effect.gen(function*() {
        if (options.schema !== undefined || state.history.length > 0 || pending.length === 0) return
        const drizzle = yield* History.drizzleHistory(state.run)
        if (drizzle.length > 0) {
          return yield* new AdoptRequired({ tool: "drizzle", table: "drizzle.__drizzle_migrations", rows: drizzle.length })
        }
        const effectSql = yield* History.effectSqlHistory(state.run)
        if (effectSql.length > 0) {
          return yield* new AdoptRequired({ tool: "@effect/sql", table: "effect_sql_migrations", rows: effectSql.length })
        }
      })

    /** What `migrate` and its dry run check before they run anything; the pending migrations. */
    const prepare = (state: Locked, opts: MigrateOptions, onEvent: OnEvent) =>
      Effect.gen(function*() {
        yield* check(state, opts.allowOutOfOrder === true)
        const pending = yield* selectPending(state.migrations, state.status, opts.to)
        for (const migration of pending) {
          yield* ensureNoTransactionControl(migration, migration.up, migration.file, migration.transactional)
        }
        yield* ensureAdopted(state, pending)
        yield* onEvent({ _tag: "Started", pending: pending.length, target })
        return pending
      })

    /**
     * A run with nothing to do, told without the lock: one statement reads the history (a
     * consistent snapshot), and it holds every migration, applied with its checksum, and no
     * other row. That is the answer a locked run would give at that instant, without the
     * reserved connection, the lock and the settings (six round trips). Anything else —
     * pending, changed, missing or failed migrations, no history table yet, any error — is
     * none, and goes the locked way, which reads the history again under the lock before it
     * acts: a racing deploy still applies each migration once.
     */
    const upToDateUnlocked = (opts: MigrateOptions, onEvent: OnEvent) =>
      Effect.gen(function*() {
        const migrations = yield* options.source
        const history = yield* Effect.option(History.readRows(pool, table))
        if (Option.isNone(history)) return Option.none<MigrateResult>()
        const status = compare(migrations, history.value)
        if (!isUpToDate(status)) return Option.none<MigrateResult>()
        if (opts.to !== undefined) yield* indexOf(migrations, opts.to)
        yield* onEvent({ _tag: "Started", pending: 0, target })
        return Option.some<MigrateResult>({ applied: [], skipped: [], upToDate: status.applied.length, dryRun: false })
      })

    const migrate = (opts: MigrateOptions = {}) => {
      const onEvent = opts.onEvent ?? (() => Effect.void)
      if (opts.dryRun === true) return dryRun(opts, onEvent)
      return Effect.flatMap(upToDateUnlocked(opts, onEvent), (done) =>
        Option.isSome(done) ? Effect.succeed(done.value) : migrateLocked(opts, onEvent))
    }

    const migrateLocked = (opts: MigrateOptions, onEvent: OnEvent) =>
      locked(onEvent, (state) =>
        Effect.gen(function*() {
          const pending = yield* prepare(state, opts, onEvent)
          const upToDate = state.status.applied.length
          const applied: Array<{ name: string; durationMs: number }> = []
          // Earlier commits in the run skip the WAL flush (the last one flushes them all). If the
          // run stops before its last commit, one commit that assigns a transaction id flushes
          // them instead, so what the run reports as applied is durable.
          // (ROLLBACK first: never commit what a failed migration left open. Not on interruption:
          // the run's finalizer rolls back, and the connection may still be busy.)
          const flushEarlier = Effect.ignore(state.run("ROLLBACK; BEGIN; SELECT txid_current(); COMMIT"))
          yield* applyPending(state, pending, onEvent, applied).pipe(
            Effect.onExit((exit) =>
              exit._tag === "Failure" && !Cause.isInterrupted(exit.cause) && applied.length > 0 ? flushEarlier : Effect.void
            )
          )
          return { applied, skipped: [], upToDate, dryRun: false } satisfies MigrateResult
        }))

    /**
     * A dry run: first on this database, then — from the first migration that cannot be judged
     * there as migrate would run it — in a scratch database. The scratch part runs after the
     * lock and the reserved connection are released: it only reads what the first part saw, and
     * the embedded database has one session, which creating the scratch database needs.
     */
    const dryRun = (opts: MigrateOptions, onEvent: OnEvent) =>
      Effect.gen(function*() {
        const onTarget = yield* locked(onEvent, (state) =>
          Effect.gen(function*() {
            const pending = yield* prepare(state, opts, onEvent)
            const judged = yield* dryRunOnTarget(state, pending, onEvent)
            return { ...judged, pending, migrations: state.migrations, history: state.history, upToDate: state.status.applied.length }
          }))
        const result = { applied: onTarget.tried, skipped: [], upToDate: onTarget.upToDate, dryRun: true }
        if (onTarget.resumeAt === undefined) return result satisfies MigrateResult
        const rest = yield* dryRunOnScratch(onTarget, onTarget.resumeAt, onEvent)
        return {
          ...result,
          applied: [...onTarget.tried, ...rest.tried],
          replayed: rest.tried.map((t) => t.name),
          skipped: rest.skipped,
          ...(rest.skippedBecause === undefined ? {} : { skippedBecause: rest.skippedBecause })
        } satisfies MigrateResult
      })

    /**
     * The pending migrations in one transaction on this database, always rolled back, so they
     * meet its data. Each ends with the checks its COMMIT would make (deferred constraints), in a
     * savepoint so the migrations after it keep their constraint modes. Stops, returning the
     * index, at the first migration one transaction cannot judge as migrate runs it: one that
     * cannot run in a transaction, or one failing only because the ones before it in this
     * transaction are not committed yet (an enum value added, then used; pending trigger events).
     */
    const dryRunOnTarget = (state: Locked, pending: ReadonlyArray<Migration>, onEvent: OnEvent) =>
      Effect.gen(function*() {
        const tried: Array<{ name: string; durationMs: number }> = []
        yield* state.run("BEGIN")
        const resumeAt = yield* Effect.gen(function*() {
          yield* state.run(timeouts(true))
          for (const [index, migration] of pending.entries()) {
            if (!migration.transactional) return index
            yield* onEvent({ _tag: "Applying", name: migration.name, index: index + 1, total: pending.length })
            const started = Date.now()
            const outcome = yield* Effect.exit(
              runBody(state.run, state.conn, migration, migration.up, migration.file).pipe(
                Effect.zipRight(commitChecks(state.run, migration))
              )
            )
            if (outcome._tag === "Failure") {
              const error = Cause.failureOption(outcome.cause)
              if (index > 0 && Option.isSome(error) && needsEarlierCommits(error.value)) return index
              return yield* Effect.failCause(outcome.cause)
            }
            tried.push({ name: migration.name, durationMs: Date.now() - started })
            yield* onEvent({ _tag: "Applied", name: migration.name, durationMs: Date.now() - started })
          }
          return undefined
        }).pipe(Effect.ensuring(Effect.ignore(state.run("ROLLBACK"))))
        return { tried, resumeAt }
      })

    /** What COMMIT checks — deferred constraints — checked now, the constraint modes then restored. */
    const commitChecks = (run: History.Session, migration: Migration) =>
      Effect.gen(function*() {
        const statements = migration.up._tag === "Sql" ? migration.up.statements.length : 1
        yield* run("SAVEPOINT dbkit_commit_checks")
        const checked = yield* Effect.exit(run("SET CONSTRAINTS ALL IMMEDIATE"))
        yield* run("ROLLBACK TO SAVEPOINT dbkit_commit_checks; RELEASE SAVEPOINT dbkit_commit_checks")
        if (checked._tag === "Failure") {
          return yield* Effect.failCause(Cause.map(checked.cause, (e) => failure(migration, migration.file, 0, statements, e)))
        }
      })

    /**
     * The rest of a dry run, from `resumeAt`, in a scratch database: what this database has
     * applied replayed, then the pending migrations applied exactly as migrate applies them (each
     * committed; non-transactional ones outside a transaction). Faithful to migrate and to the
     * schema, blind to this database's data. What it cannot try is returned as skipped, with the
     * reason — never reported as a migration to fix.
     */
    const dryRunOnScratch = (
      context: {
        readonly migrations: ReadonlyArray<Migration>
        readonly history: ReadonlyArray<HistoryRow>
        readonly pending: ReadonlyArray<Migration>
      },
      resumeAt: number,
      onEvent: OnEvent
    ) =>
      Effect.gen(function*() {
        const { history, migrations, pending } = context
        const rest = pending.slice(resumeAt)
        const judging = new Map(rest.map((m) => [m.name, pending.indexOf(m) + 1]))
        const appliedNames = new Set(history.filter((row) => row.status === "applied").map((row) => row.name))
        const pendingNames = new Set(pending.map((m) => m.name))
        const tried: Array<{ name: string; durationMs: number }> = []
        const inScratch = (source: ReadonlyArray<Migration>, onScratchEvent?: OnEvent) =>
          Effect.flatMap(Migrator, (m) => m.migrate({ allowOutOfOrder: true, onEvent: onScratchEvent })).pipe(
            Effect.provide(layer({ ...options, source: Effect.succeed(source) }))
          )
        const forward: OnEvent = (event) => {
          const index = "name" in event ? judging.get(event.name) : undefined
          if (index === undefined) return Effect.void
          if (event._tag === "Applying") return onEvent({ ...event, index, total: pending.length })
          if (event._tag === "Applied") {
            tried.push({ name: event.name, durationMs: event.durationMs })
            return onEvent(event)
          }
          return Effect.void
        }
        const unjudged = (reason: string) => ({ _tag: "Unjudged" as const, reason })
        const judge = Effect.gen(function*() {
          yield* inScratch(migrations.filter((m) => appliedNames.has(m.name))).pipe(
            Effect.mapError((error) => unjudged(`the applied migrations could not be replayed into a scratch database (${error.message})`))
          )
          yield* inScratch(migrations.filter((m) => appliedNames.has(m.name) || pendingNames.has(m.name)), forward).pipe(
            Effect.mapError((error) =>
              error instanceof MigrationFailed && judging.has(error.migration)
                ? new MigrationFailed({ ...error, scratch: true })
                : unjudged(`the pending migrations before it could not be replayed into a scratch database (${error.message})`)
            )
          )
        }).pipe(Effect.provide(Layer.unwrapScoped(Effect.map(Scratch.make("dbkit_dry_run"), (scratch) => scratch.layer))))
        const outcome = yield* Effect.either(judge)
        if (outcome._tag === "Right") return { tried, skipped: [] as ReadonlyArray<string>, skippedBecause: undefined }
        const error = outcome.left
        if (error instanceof MigrationFailed) return yield* error
        const reason = error._tag === "Unjudged" ? error.reason : `no scratch database could be made (${error.message})`
        const skipped = rest.map((m) => m.name).filter((name) => !tried.some((t) => t.name === name))
        yield* Effect.logWarning(`dry run: ${skipped.join(", ")} not tried: ${reason}`)
        const why = rest[0]!.transactional ? "needs the migrations before it committed" : "cannot run in a transaction"
        return { tried, skipped, skippedBecause: `${rest[0]!.name} ${why}, and ${reason}` }
      }).pipe(Effect.provideService(SqlClient.SqlClient, sql), Effect.provideService(Database, database))

    /** A failure one transaction causes and migrate's commit after each migration would not. */
    const needsEarlierCommits = (error: unknown) =>
      error instanceof MigrationFailed &&
      (error.code === "55P04" || (error.code === "55006" && /pending trigger events/.test(error.serverMessage)))

    const status = Effect.gen(function*() {
      const migrations = yield* options.source
      return compare(migrations, yield* History.readHistory(pool, table))
    })

    const plan = (opts: { readonly to?: string | undefined } = {}) =>
      Effect.gen(function*() {
        const migrations = yield* options.source
        const current = compare(migrations, yield* History.readHistory(pool, table))
        const pending = yield* selectPending(migrations, current, opts.to)
        return {
          target,
          pending: pending.map((m) => ({
            name: m.name,
            file: m.file,
            transactional: m.transactional,
            statements: m.up._tag === "Sql" ? m.up.statements.map((s) => s.text) : ["-- (migration defined in code)"]
          })),
          findings: lintMigrations(pending),
          status: current
        } satisfies MigrationPlan
      })

    /** Which applied migrations a rollback undoes, newest first. */
    const rollbackSet = (state: Locked, opts: RollbackOptions) =>
      Effect.gen(function*() {
        const applied = state.history.filter((row) => row.status === "applied").map((row) => row.name).reverse()
        if (opts.to !== undefined) {
          const at = applied.indexOf(opts.to)
          if (at === -1) {
            return yield* state.migrations.some((m) => m.name === opts.to)
              ? Effect.fail(new InvalidTarget({ name: opts.to, reason: "is not applied, so there is nothing to roll back to" }))
              : Effect.fail(new UnknownMigration({ name: opts.to, known: applied }))
          }
          return applied.slice(0, at)
        }
        const steps = opts.steps ?? 1
        if (!Number.isInteger(steps) || steps < 1) {
          return yield* new InvalidTarget({ name: String(steps), reason: "--steps must be a positive whole number" })
        }
        return applied.slice(0, steps)
      })

    const rollback = (opts: RollbackOptions = {}) => {
      const onEvent = opts.onEvent ?? (() => Effect.void)
      return Effect.flatMap(Guard, (guard) =>
        locked(onEvent, (state) =>
          Effect.gen(function*() {
            yield* ensureNotBlocked(state.status)
            const names = yield* rollbackSet(state, opts)
            if (names.length === 0) return { rolledBack: [] }
            const byName = new Map(state.migrations.map((m) => [m.name, m]))
            const missing = names.filter((name) => Option.isNone(byName.get(name)?.down ?? Option.none()))
            if (missing.length > 0) return yield* new MissingDownMigration({ migrations: missing })
            const downOf = (migration: Migration) => {
              const body = Option.getOrThrow(migration.down)
              const file = migration.file.replace(/\.sql$/, ".down.sql")
              return { body, file, transactional: body._tag === "Code" || body.transactional !== false }
            }
            for (const name of names) {
              const migration = byName.get(name)!
              const down = downOf(migration)
              yield* ensureNoTransactionControl(migration, down.body, down.file, down.transactional)
            }
            yield* guard.confirm({
              action: `roll back ${names.join(", ")}`,
              variable: "DB_ROLLBACK",
              target: database.database,
              yes: opts.yes
            })
            const rolledBack: Array<string> = []
            for (const name of names) {
              const migration = byName.get(name)!
              const { body: down, file, transactional } = downOf(migration)
              const started = Date.now()
              if (transactional) {
                yield* inTransaction(
                  state.run,
                  name,
                  onEvent,
                  runBody(state.run, state.conn, migration, down, file, true).pipe(
                    Effect.zipRight(History.deleteRecord(state.run, table, name))
                  )
                )
              } else {
                // Outside a transaction, as for up migrations: what ran, ran. A failure halfway
                // marks the migration failed at its statement, which blocks runs until repair.
                yield* state.run(timeouts(false))
                yield* runBody(state.run, state.conn, migration, down, file, false).pipe(
                  Effect.tapError((error) =>
                    error instanceof MigrationFailed
                      ? History.recordFailed(state.run, table, name, error.statement, error.serverMessage)
                      : Effect.void
                  ),
                  Effect.ensuring(Effect.ignore(state.run("RESET lock_timeout; RESET statement_timeout")))
                )
                yield* History.deleteRecord(state.run, table, name)
              }
              rolledBack.push(name)
              yield* onEvent({ _tag: "RolledBack", name, durationMs: Date.now() - started })
            }
            return { rolledBack }
          })))
    }

    const baseline = (opts: { readonly to: string }) =>
      locked(() => Effect.void, (state) =>
        Effect.gen(function*() {
          yield* ensureNotBlocked(state.status)
          const last = yield* indexOf(state.migrations, opts.to)
          const pending = new Set(state.status.pending)
          const marked = state.migrations.filter((m, index) => index <= last && pending.has(m.name))
          for (const m of marked) {
            yield* History.recordAssumed(state.run, table, m.name, m.checksum, `baseline by ${History.appliedBy()}`)
          }
          return { marked: marked.map((m) => m.name) }
        }))

    const adopt = locked(() => Effect.void, (state) =>
      Effect.gen(function*() {
        const known = new Set(state.history.map((row) => row.name))
        const drizzle = yield* History.drizzleHistory(state.run)
        const effectSql = yield* History.effectSqlHistory(state.run)
        const rawHash = (m: Migration) =>
          m.file === "code" || !fs.existsSync(m.file)
            ? undefined
            : createHash("sha256").update(fs.readFileSync(m.file, "utf8")).digest("hex")
        const byHash = new Map(state.migrations.flatMap((m) => {
          const hash = rawHash(m)
          return hash ? [[hash, m] as const] : []
        }))
        const byNumber = new Map(state.migrations.flatMap((m) => {
          const match = /^(\d+)_/.exec(m.name)
          return match ? [[Number(match[1]), m] as const] : []
        }))
        const found = new Map<string, { from: "drizzle" | "@effect/sql"; at: Date }>()
        const unmatched: Array<string> = []
        for (const row of drizzle) {
          const m = byHash.get(row.hash)
          if (m) found.set(m.name, { from: "drizzle", at: new Date(row.createdAt) })
          else unmatched.push(`drizzle migration with hash ${row.hash.slice(0, 12)}… (created ${new Date(row.createdAt).toISOString()})`)
        }
        for (const row of effectSql) {
          const m = byNumber.get(row.id)
          if (m && !found.has(m.name)) found.set(m.name, { from: "@effect/sql", at: new Date(row.createdAt) })
          else if (!m) unmatched.push(`@effect/sql migration ${row.id}_${row.name}`)
        }
        const adopted: Array<{ name: string; from: "drizzle" | "@effect/sql" }> = []
        for (const m of state.migrations) {
          const hit = found.get(m.name)
          if (!hit || known.has(m.name)) continue
          yield* History.recordAssumed(state.run, table, m.name, m.checksum, `adopted from ${hit.from}`, hit.at)
          adopted.push({ name: m.name, from: hit.from })
        }
        return { adopted, unmatched }
      }))

    const repair = (opts: { readonly markApplied?: ReadonlyArray<string> | undefined } = {}) =>
      locked(() => Effect.void, (state) =>
        Effect.gen(function*() {
          const failed = new Set(state.status.failed.map((f) => f.name))
          for (const name of opts.markApplied ?? []) {
            if (!failed.has(name)) {
              return yield* new UnknownMigration({ name, known: [...failed] })
            }
          }
          const byName = new Map(state.migrations.map((m) => [m.name, m]))
          const markApplied = new Set(opts.markApplied ?? [])
          const result = { checksumsAccepted: [] as Array<string>, cleared: [] as Array<string>, markedApplied: [] as Array<string> }
          for (const changed of state.status.changed) {
            yield* History.acceptChecksum(state.run, table, changed.name, changed.current)
            result.checksumsAccepted.push(changed.name)
          }
          for (const name of failed) {
            const migration = byName.get(name)
            if (markApplied.has(name) && migration) {
              yield* History.recordApplied(state.run, table, name, migration.checksum, 0)
              result.markedApplied.push(name)
            } else {
              yield* History.deleteRecord(state.run, table, name)
              result.cleared.push(name)
            }
          }
          return result
        }))

    const catalogScope = options.schema ? { schemas: [options.schema] } : {}

    const drift = (driftOptions: DriftOptions = {}) =>
      Effect.scoped(
        Effect.gen(function*() {
          const onEvent = driftOptions.onEvent ?? (() => Effect.void)
          const scratch = yield* Scratch.make("dbkit_drift")
          const replay = Effect.flatMap(Migrator, (m) => m.migrate({ allowOutOfOrder: true, onEvent })).pipe(
            Effect.zipRight(Effect.suspend(() => onEvent({ _tag: "Comparing" }))),
            Effect.zipRight(Catalog.snapshot(catalogScope))
          )
          const expected = yield* replay.pipe(Effect.provide(layer(options).pipe(Layer.provideMerge(scratch.layer))))
          const actual = yield* Catalog.snapshot(catalogScope).pipe(Effect.provideService(SqlClient.SqlClient, sql))
          return { target, differences: Catalog.diff(expected, actual) } satisfies DriftReport
        })
      ).pipe(Effect.provideService(SqlClient.SqlClient, sql), Effect.provideService(Database, database))

    return Migrator.of({
      migrations: options.source,
      status,
      plan,
      migrate,
      rollback,
      baseline,
      adopt,
      repair,
      drift
    })
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
