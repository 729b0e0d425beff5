/** Running a migration body, in a transaction with timeouts, retried on lock timeouts. */
import * as SqlClient from "@effect/sql/SqlClient"
import type { Connection } from "@effect/sql/SqlConnection"
import type { SqlError } from "@effect/sql/SqlError"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import { type MigratorContext, timeouts } from "./context.js"
import type { MigrationFailed } from "./errors.js"
import { failure, isLockTimeout } from "./failure.js"
import type * as History from "./history.js"
import type { Migration, MigrationBody } from "./source.js"
import type { OnEvent } from "./types.js"

/** Runs a body; a failure names the file and statement and keeps the server's message. */
export const runBody = (
  ctx: MigratorContext,
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
        Effect.provideService(SqlClient.SqlClient, ctx.sql),
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

/**
 * The backoff between lock-timeout retries: 250 ms doubling, jittered (×0.8–1.2), at most
 * `retries` times. It waits on the Clock, so a TestClock drives it in tests.
 */
export const lockRetrySchedule = (retries: number): Schedule.Schedule<unknown, unknown> =>
  Schedule.exponential("250 millis").pipe(
    Schedule.jittered,
    Schedule.intersect(Schedule.recurs(retries))
  )

/** Retries `attempt` after lock timeouts, on `ctx.retrySchedule`, announcing each retry. */
export const retryingLockTimeouts = <A, E>(
  ctx: Pick<MigratorContext, "retries" | "retrySchedule">,
  name: string,
  onEvent: OnEvent,
  attempt: Effect.Effect<A, E>
) => {
  let attempts = 0
  return attempt.pipe(
    Effect.tapError((error) =>
      isLockTimeout(error) && ++attempts <= ctx.retries
        ? onEvent({ _tag: "Retrying", name, attempt: attempts, reason: "lock timeout" }).pipe(
          Effect.zipRight(Effect.logWarning(`lock timeout in ${name}; retrying (attempt ${attempts + 1})`))
        )
        : Effect.void
    ),
    Effect.retry({ schedule: ctx.retrySchedule, while: isLockTimeout })
  )
}

/** `work` in its own transaction with timeouts set, retried on lock timeouts. */
export const inTransaction = (
  ctx: MigratorContext,
  run: History.Session,
  name: string,
  onEvent: OnEvent,
  work: Effect.Effect<void, MigrationFailed | SqlError>
) =>
  retryingLockTimeouts(
    ctx,
    name,
    onEvent,
    Effect.gen(function*() {
      const started = Date.now()
      yield* run("BEGIN")
      const outcome = yield* Effect.exit(
        run(timeouts(ctx, true)).pipe(Effect.zipRight(work), Effect.zipRight(run("COMMIT")))
      )
      if (outcome._tag === "Failure") {
        yield* Effect.ignore(run("ROLLBACK"))
        return yield* Effect.failCause(outcome.cause)
      }
      return Date.now() - started
    })
  )
