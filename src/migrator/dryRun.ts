/** `migrate --dry-run`: pending migrations tried on this database, rolled back, then in a scratch one. */
import * as SqlClient from "@effect/sql/SqlClient"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { Database } from "../Database.js"
import * as Scratch from "../Scratch.js"
import { prepare } from "./checks.js"
import { type Locked, locked, type MigratorContext, timeouts } from "./context.js"
import { MigrationFailed } from "./errors.js"
import { failure, needsEarlierCommits } from "./failure.js"
import type * as History from "./history.js"
import type { HistoryRow } from "./plan.js"
import type { Migration } from "./source.js"
import { runBody } from "./transaction.js"
import type { MigrateOptions, MigrateResult, OnEvent } from "./types.js"

/**
 * A dry run: first on this database, then — from the first migration that cannot be judged
 * there as migrate would run it — in a scratch database. The scratch part runs after the
 * lock and the reserved connection are released: it only reads what the first part saw, and
 * the embedded database has one session, which creating the scratch database needs.
 */
export const dryRun = (ctx: MigratorContext, opts: MigrateOptions, onEvent: OnEvent) =>
  Effect.gen(function*() {
    const onTarget = yield* locked(ctx, onEvent, (state) =>
      Effect.gen(function*() {
        const pending = yield* prepare(ctx, state, opts, onEvent)
        const judged = yield* dryRunOnTarget(ctx, state, pending, onEvent)
        return {
          ...judged,
          pending,
          migrations: state.migrations,
          history: state.history,
          upToDate: state.status.applied.length
        }
      }))
    const result = { applied: onTarget.tried, skipped: [], upToDate: onTarget.upToDate, dryRun: true }
    if (onTarget.resumeAt === undefined) return result satisfies MigrateResult
    const rest = yield* dryRunOnScratch(ctx, onTarget, onTarget.resumeAt, onEvent)
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
export const dryRunOnTarget = (
  ctx: MigratorContext,
  state: Locked,
  pending: ReadonlyArray<Migration>,
  onEvent: OnEvent
) =>
  Effect.gen(function*() {
    const tried: Array<{ name: string; durationMs: number }> = []
    yield* state.run("BEGIN")
    const resumeAt = yield* Effect.gen(function*() {
      yield* state.run(timeouts(ctx, true))
      for (const [index, migration] of pending.entries()) {
        if (!migration.transactional) return index
        yield* onEvent({ _tag: "Applying", name: migration.name, index: index + 1, total: pending.length })
        const started = Date.now()
        const outcome = yield* Effect.exit(
          runBody(ctx, state.run, state.conn, migration, migration.up, migration.file).pipe(
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
export const commitChecks = (run: History.Session, migration: Migration) =>
  Effect.gen(function*() {
    const statements = migration.up._tag === "Sql" ? migration.up.statements.length : 1
    yield* run("SAVEPOINT dbkit_commit_checks")
    const checked = yield* Effect.exit(run("SET CONSTRAINTS ALL IMMEDIATE"))
    yield* run("ROLLBACK TO SAVEPOINT dbkit_commit_checks; RELEASE SAVEPOINT dbkit_commit_checks")
    if (checked._tag === "Failure") {
      return yield* Effect.failCause(
        Cause.map(checked.cause, (e) => failure(migration, migration.file, 0, statements, e))
      )
    }
  })

/**
 * The rest of a dry run, from `resumeAt`, in a scratch database: what this database has
 * applied replayed, then the pending migrations applied exactly as migrate applies them (each
 * committed; non-transactional ones outside a transaction). Faithful to migrate and to the
 * schema, blind to this database's data. What it cannot try is returned as skipped, with the
 * reason — never reported as a migration to fix.
 */
export const dryRunOnScratch = (
  ctx: MigratorContext,
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
      ctx.replay({ ...ctx.options, source: Effect.succeed(source) }, { allowOutOfOrder: true, onEvent: onScratchEvent })
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
        Effect.mapError((error) =>
          unjudged(`the applied migrations could not be replayed into a scratch database (${error.message})`)
        )
      )
      yield* inScratch(migrations.filter((m) => appliedNames.has(m.name) || pendingNames.has(m.name)), forward).pipe(
        Effect.mapError((error) =>
          error instanceof MigrationFailed && judging.has(error.migration)
            ? new MigrationFailed({ ...error, scratch: true })
            : unjudged(
              `the pending migrations before it could not be replayed into a scratch database (${error.message})`
            )
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
  }).pipe(Effect.provideService(SqlClient.SqlClient, ctx.sql), Effect.provideService(Database, ctx.database))
