/**
 * Applying pending migrations under the lock: transactional SQL ones as one message each, or
 * several to a message (batch.ts chooses), code ones in a transaction, the rest outside one.
 */
import type { Connection } from "@effect/sql/SqlConnection"
import type { SqlError } from "@effect/sql/SqlError"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { batchable, nextBatch, nextBatchSize } from "./batch.js"
import { type Locked, type MigratorContext, timeouts } from "./context.js"
import { MigrationFailed } from "./errors.js"
import { failure, isSqlError, serverError } from "./failure.js"
import * as History from "./history.js"
import type { Migration } from "./source.js"
import { inTransaction, retryingLockTimeouts, runBody } from "./transaction.js"
import type { OnEvent } from "./types.js"

/** A non-transactional migration: its statements one by one under a `running` history row. */
export const applyOutsideTransaction = (
  ctx: MigratorContext,
  run: History.Session,
  conn: Connection,
  migration: Migration
) =>
  Effect.gen(function*() {
    const started = Date.now()
    yield* History.recordRunning(run, ctx.table, migration.name, migration.checksum)
    yield* run(timeouts(ctx, false))
    yield* runBody(ctx, run, conn, migration, migration.up, migration.file).pipe(
      Effect.tapError((error) =>
        error instanceof MigrationFailed
          ? History.recordFailed(run, ctx.table, migration.name, error.statement, error.serverMessage)
          : Effect.void
      ),
      Effect.ensuring(Effect.ignore(run("RESET lock_timeout; RESET statement_timeout")))
    )
    yield* History.recordApplied(run, ctx.table, migration.name, migration.checksum, Date.now() - started)
    return Date.now() - started
  })

/**
 * A transactional SQL migration as one simple-protocol message — BEGIN, timeouts, its
 * statements, its history row, COMMIT — so applying it costs one round trip. When the
 * message fails, the transaction is rolled back and the statements are replayed one by one
 * in a transaction that is always rolled back, to name the statement that fails. Lock and
 * statement timeouts are not replayed (they would only wait again); they are retried.
 */
export const applyInOneMessage = (
  ctx: MigratorContext,
  state: Locked,
  migration: Migration,
  statements: ReadonlyArray<string>,
  flush: boolean
) =>
  Effect.gen(function*() {
    const started = Date.now()
    const outcome = yield* Effect.exit(state.run(transactionText(ctx, migration, statements, flush)))
    if (outcome._tag === "Success") return Date.now() - started
    yield* Effect.ignore(state.run("ROLLBACK"))
    return yield* messageFailed(ctx, state, migration, outcome.cause)
  })

/** A transactional SQL migration as text: BEGIN, timeouts, its statements, its history row, COMMIT. */
export const transactionText = (
  ctx: MigratorContext,
  migration: Migration,
  statements: ReadonlyArray<string>,
  flush: boolean
) =>
  [
    "BEGIN",
    History.markStartText,
    timeouts(ctx, true),
    // Only the run's last commit waits for the WAL flush; flushing it flushes every earlier
    // one, so a finished run is as durable as with synchronous commits throughout, and a
    // crash mid-run loses whole later migrations (they run again), never part of one.
    ...(flush ? [] : ["SET LOCAL synchronous_commit = off"]),
    ...statements,
    History.recordAppliedText(ctx.table, migration.name, migration.checksum),
    "COMMIT"
  ].join("\n;\n") // a newline first: a statement may end in a line comment

/** How a message failed in `migration` (rolled back): a timeout as it is, else diagnosed. */
export const messageFailed = (
  ctx: MigratorContext,
  state: Locked,
  migration: Migration,
  cause: Cause.Cause<SqlError>
) => {
  const error = Option.getOrUndefined(Cause.failureOption(cause))
  const code = isSqlError(error) ? serverError(error).code : undefined
  if (code === "55P03" || code === "57014" || error === undefined) {
    const statements = migration.up._tag === "Sql" ? migration.up.statements.length : 1
    return Effect.failCause(Cause.map(cause, (e) => failure(migration, migration.file, 0, statements, e)))
  }
  return diagnose(ctx, state, migration, error)
}

/**
 * Several transactional SQL migrations in one message (batch.ts chooses them), each its own
 * transaction as `transactionText` writes it, then a SELECT of their history rows for the
 * durations the server measured. The server stops at the first error: the migrations before
 * it are committed (their rows say which; the failed one is rolled back), the rest never ran.
 */
export const applyBatch = (ctx: MigratorContext, state: Locked, batch: ReadonlyArray<Migration>, flushLast: boolean) =>
  Effect.gen(function*() {
    const durations = History.durationsText(ctx.table, batch.map((m) => m.name))
    const statementsOf = (m: Migration) => (m.up._tag === "Sql" ? m.up.statements.map((s) => s.text) : [])
    const text = [
      ...batch.map((m, index) => transactionText(ctx, m, statementsOf(m), flushLast && index === batch.length - 1)),
      durations
    ].join("\n;\n")
    const durationsIn = (rows: ReadonlyArray<any>) =>
      new Map(rows.map((row) => [row.name as string, Number(row.duration_ms)]))
    const outcome = yield* Effect.exit(state.run(text))
    if (outcome._tag === "Success") {
      const measured = durationsIn(outcome.value.at(-1) ?? [])
      return {
        committed: batch.map((m) => ({ name: m.name, durationMs: measured.get(m.name) ?? 0 })),
        failed: undefined
      }
    }
    yield* Effect.ignore(state.run("ROLLBACK"))
    const measured = durationsIn(yield* state.run(durations))
    const committed = batch.flatMap((m) =>
      measured.has(m.name) ? [{ name: m.name, durationMs: measured.get(m.name)! }] : []
    )
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
export const applyPending = (
  ctx: MigratorContext,
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
        apply(ctx, state, pending[index]!, onEvent, index === pending.length - 1),
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
      const outcome = yield* applyBatch(ctx, state, batch, index + batch.length === pending.length)
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
      if (!rerun) return yield* messageFailed(ctx, state, outcome.failed.migration, outcome.failed.cause)
      yield* alone(index)
      index++
      size = 1
    }
  })

/** Replays a failed migration statement by statement (always rolled back) to find the culprit. */
export const diagnose = (ctx: MigratorContext, state: Locked, migration: Migration, original: SqlError) =>
  Effect.gen(function*() {
    yield* state.run("BEGIN")
    const replay = yield* Effect.exit(
      state.run(timeouts(ctx, true)).pipe(
        Effect.zipRight(runBody(ctx, state.run, state.conn, migration, migration.up, migration.file))
      )
    )
    yield* Effect.ignore(state.run("ROLLBACK"))
    if (replay._tag === "Failure") return yield* Effect.failCause(replay.cause)
    return yield* failure(
      migration,
      migration.file,
      0,
      migration.up._tag === "Sql" ? migration.up.statements.length : 1,
      original
    )
  })

/** Applies one migration the way its kind needs; returns how long it took. */
export const apply = (ctx: MigratorContext, locked: Locked, migration: Migration, onEvent: OnEvent, last: boolean) => {
  if (!migration.transactional) return applyOutsideTransaction(ctx, locked.run, locked.conn, migration)
  const up = migration.up
  if (up._tag === "Sql") {
    const statements = up.statements.map((s) => s.text)
    return retryingLockTimeouts(
      ctx,
      migration.name,
      onEvent,
      applyInOneMessage(ctx, locked, migration, statements, last)
    )
  }
  return inTransaction(
    ctx,
    locked.run,
    migration.name,
    onEvent,
    Effect.gen(function*() {
      const started = Date.now()
      yield* runBody(ctx, locked.run, locked.conn, migration, up, migration.file)
      yield* History.recordApplied(locked.run, ctx.table, migration.name, migration.checksum, Date.now() - started)
    })
  )
}
