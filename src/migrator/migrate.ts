/** `migrate`: the unlocked up-to-date answer, else pending migrations applied under the lock. */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { applyPending } from "./apply.js"
import { indexOf, prepare } from "./checks.js"
import { locked, type MigratorContext } from "./context.js"
import { dryRun } from "./dryRun.js"
import * as History from "./history.js"
import { compare, isUpToDate } from "./plan.js"
import type { MigrateOptions, MigrateResult, OnEvent } from "./types.js"

/**
 * A run with nothing to do, told without the lock: one statement reads the history (a
 * consistent snapshot), and it holds every migration, applied with its checksum, and no
 * other row. That is the answer a locked run would give at that instant, without the
 * reserved connection, the lock and the settings (six round trips). Anything else —
 * pending, changed, missing or failed migrations, no history table yet, any error — is
 * none, and goes the locked way, which reads the history again under the lock before it
 * acts: a racing deploy still applies each migration once.
 */
export const upToDateUnlocked = (ctx: MigratorContext, opts: MigrateOptions, onEvent: OnEvent) =>
  Effect.gen(function*() {
    const migrations = yield* ctx.options.source
    const history = yield* Effect.option(History.readRows(ctx.pool, ctx.table))
    if (Option.isNone(history)) return Option.none<MigrateResult>()
    const status = compare(migrations, history.value)
    if (!isUpToDate(status)) return Option.none<MigrateResult>()
    if (opts.to !== undefined) yield* indexOf(migrations, opts.to)
    yield* onEvent({ _tag: "Started", pending: 0, target: ctx.target })
    return Option.some<MigrateResult>({ applied: [], skipped: [], upToDate: status.applied.length, dryRun: false })
  })

/** Applies pending migrations (or tries them and rolls back, with `dryRun`). */
export const migrate = (ctx: MigratorContext, opts: MigrateOptions = {}) => {
  const onEvent = opts.onEvent ?? (() => Effect.void)
  if (opts.dryRun === true) return dryRun(ctx, opts, onEvent)
  return Effect.flatMap(
    upToDateUnlocked(ctx, opts, onEvent),
    (done) => Option.isSome(done) ? Effect.succeed(done.value) : migrateLocked(ctx, opts, onEvent)
  )
}

/** The pending migrations applied under the lock, each committed. */
export const migrateLocked = (ctx: MigratorContext, opts: MigrateOptions, onEvent: OnEvent) =>
  locked(ctx, onEvent, (state) =>
    Effect.gen(function*() {
      const pending = yield* prepare(ctx, state, opts, onEvent)
      const upToDate = state.status.applied.length
      const applied: Array<{ name: string; durationMs: number }> = []
      // Earlier commits in the run skip the WAL flush (the last one flushes them all). If the
      // run stops before its last commit, one commit that assigns a transaction id flushes
      // them instead, so what the run reports as applied is durable.
      // (ROLLBACK first: never commit what a failed migration left open. Not on interruption:
      // the run's finalizer rolls back, and the connection may still be busy.)
      const flushEarlier = Effect.ignore(state.run("ROLLBACK; BEGIN; SELECT txid_current(); COMMIT"))
      yield* applyPending(ctx, state, pending, onEvent, applied).pipe(
        Effect.onExit((exit) =>
          exit._tag === "Failure" && !Cause.isInterrupted(exit.cause) && applied.length > 0 ? flushEarlier : Effect.void
        )
      )
      return { applied, skipped: [], upToDate, dryRun: false } satisfies MigrateResult
    }))
