/**
 * One health report: the checks selected, connectivity first (it decides whether the rest is
 * worth asking), each check under its time limit with whatever goes wrong as `unknown`, and the
 * verdict over them. Health.ts wires these to the database it is given, or to none (`Unreachable`).
 */
import * as SqlClient from "@effect/sql/SqlClient"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import type * as Redacted from "effect/Redacted"
import { Backup } from "../backup/Backup.js"
import { Database } from "../Database.js"
import { Migrator } from "../migrator/Migrator.js"
import { reason as reasonOf } from "../ServerError.js"
import { defaultThresholds, type Thresholds } from "../Thresholds.js"
import {
  allChecks,
  type Check,
  type CheckEnv,
  checkNames,
  connectivity as connectivityCheck,
  type DatabaseAccess
} from "./checks.js"
import { UnknownHealthCheck } from "./errors.js"
import { type CheckResult, type Outcome, overall, type OverallStatus } from "./status.js"

/** A health report: the verdict and every check that ran. */
export interface HealthReport {
  readonly status: OverallStatus
  /** Where the database is (`user@host:port/db`, never a password). */
  readonly target: string
  readonly checkedAt: string
  readonly durationMs: number
  readonly checks: ReadonlyArray<CheckResult>
}

/** Whether to send traffic: the database answers and no migration is pending or failed. */
export interface Readiness {
  readonly ready: boolean
  readonly checks: ReadonlyArray<CheckResult>
}

export interface ReportOptions {
  /** Run only these checks (names from `checkNames`). */
  readonly only?: ReadonlyArray<string> | undefined
  /** Overrides on top of the layer's thresholds. */
  readonly thresholds?: Partial<Thresholds> | undefined
}

export interface HealthOptions {
  readonly thresholds?: Partial<Thresholds> | undefined
  /** Checks Redis with PING when given. */
  readonly redisUrl?: Redacted.Redacted<string> | undefined
}

/** What the services provide when the database was reached. */
export type Connected = { readonly access: DatabaseAccess; readonly target: string; readonly embedded: boolean }
/** Why it was not. */
export type Unreachable = { readonly target: string; readonly reason: string }

const unknown = (detail: string): Outcome => ({ status: "unknown", value: null, unit: null, threshold: "", detail })

/** Runs one check under its time limit; whatever goes wrong becomes an `unknown` outcome. */
const guarded = (effect: Effect.Effect<Outcome, unknown>, thresholds: Thresholds): Effect.Effect<Outcome> =>
  effect.pipe(
    Effect.timeoutFail({
      duration: Math.max(1, thresholds.checkTimeoutMs),
      onTimeout: () => new Error(`timed out after ${thresholds.checkTimeoutMs} ms`)
    }),
    Effect.catchAllCause((cause) =>
      Effect.succeed(unknown(Option.match(Cause.failureOption(cause), {
        onNone: () => reasonOf(Cause.squash(cause)),
        onSome: reasonOf
      })))
    )
  )

/** Validates `only`; returns the checks to run. */
const select = (only: ReadonlyArray<string> | undefined): Effect.Effect<ReadonlyArray<Check>, UnknownHealthCheck> => {
  if (only === undefined || only.length === 0) return Effect.succeed(allChecks)
  const unknownNames = only.filter((name) => !checkNames.includes(name))
  return unknownNames.length > 0
    ? Effect.fail(new UnknownHealthCheck({ names: unknownNames, known: checkNames }))
    : Effect.succeed(allChecks.filter((c) => only.includes(c.name)))
}

/** The report over a connection (or the reason there is none). */
export const run = (
  state: Either.Either<Connected, Unreachable>,
  options: ReportOptions,
  base: HealthOptions
): Effect.Effect<HealthReport, UnknownHealthCheck> =>
  Effect.gen(function*() {
    const started = Date.now()
    const selected = yield* select(options.only)
    const thresholds: Thresholds = { ...defaultThresholds, ...base.thresholds, ...options.thresholds }
    const env: CheckEnv = { thresholds, redisUrl: Option.fromNullable(base.redisUrl) }
    const connected = Either.getRight(state)

    // Connectivity first: it decides whether the rest is worth asking.
    const connectivity: Outcome = yield* Either.match(state, {
      onLeft: (down) =>
        Effect.succeed<Outcome>({
          status: "critical",
          value: null,
          unit: "ms",
          threshold: "no answer → critical",
          detail: down.reason
        }),
      onRight: (up) =>
        guarded(connectivityCheck.run(up.access, env), thresholds).pipe(
          Effect.map((o): Outcome =>
            o.status === "unknown"
              ? { ...o, status: "critical", threshold: "no answer → critical", detail: `${up.target}: ${o.detail}` }
              : o
          )
        )
    })
    const answers = connectivity.status !== "critical"

    const outcomeOf = (check: Check): Effect.Effect<Outcome> => {
      if (check.name === connectivityCheck.name) return Effect.succeed(connectivity)
      if (check.requires === "nothing") return guarded(check.run(env), thresholds)
      if (Option.isNone(connected)) return Effect.succeed(unknown("not run: no connection to the database"))
      const up = connected.value
      if (up.embedded && check.notOnEmbedded) {
        return Effect.succeed<Outcome>({
          status: "not applicable",
          value: null,
          unit: null,
          threshold: "",
          detail: check.notOnEmbedded
        })
      }
      if (check.requires === "answer" && !answers) {
        return Effect.succeed(unknown("not run: the database did not answer"))
      }
      return guarded(check.run(up.access, env), thresholds)
    }

    const outcomes = yield* Effect.forEach(selected, outcomeOf, { concurrency: 4 })
    const checks = selected.map((check, i): CheckResult => ({ name: check.name, ...outcomes[i]! }))
    return {
      status: overall(checks.map((c) => c.status)),
      target: Either.match(state, { onLeft: (d) => d.target, onRight: (u) => u.target }),
      checkedAt: new Date(started).toISOString(),
      durationMs: Date.now() - started,
      checks
    } satisfies HealthReport
  })

export const readiness = (report: Effect.Effect<HealthReport, UnknownHealthCheck>): Effect.Effect<Readiness> =>
  report.pipe(
    Effect.map((r) => ({
      ready: r.checks.every((c) =>
        c.name === "connectivity" ? c.status === "ok" || c.status === "warn" : c.status === "ok"
      ),
      checks: r.checks
    })),
    Effect.orDie // the names below are ours
  )

/** The database access checks use: catalog queries in a read-only, time-limited transaction. */
export const makeAccess = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const database = yield* Database
  const migrator = yield* Migrator
  const backup = yield* Backup
  return (thresholds: () => Thresholds): Connected => ({
    target: database.target,
    embedded: database.kind === "embedded",
    access: {
      database,
      migrator,
      backup,
      query: <A extends object>(text: string, params: ReadonlyArray<unknown> = []) =>
        sql.withTransaction(
          Effect.gen(function*() {
            const ms = Math.max(1, Math.round(thresholds().checkTimeoutMs))
            yield* sql.unsafe(
              // A lock wait ends well inside the check's time limit, so it is reported as one.
              `SET TRANSACTION READ ONLY; SET LOCAL statement_timeout = ${ms}; SET LOCAL lock_timeout = ${
                Math.max(1, Math.min(1000, Math.floor(ms / 2)))
              }`
            )
            return yield* sql.unsafe<A>(text, params as Array<unknown>)
          })
        )
    }
  })
})
