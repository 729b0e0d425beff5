/**
 * Health: the checks a DBA would run (checks.ts), as one report with a verdict.
 *
 * A check that cannot run — a missing view, a permission, its own time limit — is `unknown`
 * with the reason; it never fails the report. Connectivity runs first: when the database does
 * not answer it is `critical` and the checks that need answers are `unknown` without being
 * tried. `layerResilient` goes one step further for the CLI and the HTTP probe: it connects on
 * demand, so a report (connectivity critical) is still produced when the database was never
 * reachable, and a later report connects once it is.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import * as Cause from "effect/Cause"
import * as Config from "effect/Config"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as ExecutionStrategy from "effect/ExecutionStrategy"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Scope from "effect/Scope"
import { Backup } from "../backup/Backup.js"
import { Database } from "../Database.js"
import { Migrator } from "../migrator/Migrator.js"
import { reason as reasonOf } from "../ServerError.js"
import { defaultThresholds, fromEnvironment, type Thresholds } from "../Thresholds.js"
import {
  allChecks,
  type Check,
  type CheckEnv,
  checkNames,
  connectivity as connectivityCheck,
  type DatabaseAccess
} from "./checks.js"
import { InvalidThreshold, UnknownHealthCheck } from "./errors.js"
import { type CheckResult, type Outcome, overall, type OverallStatus } from "./status.js"

export { defaultThresholds, type Thresholds } from "../Thresholds.js"
export type { CheckResult, CheckStatus, OverallStatus } from "./status.js"

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

/** The Health service. */
export class Health extends Context.Tag("dbkit/Health")<Health, {
  /** The names of the checks, in report order. */
  readonly checks: ReadonlyArray<string>
  /** Runs the checks (all, or `only`) and grades them. Never fails because a check failed. */
  readonly report: (options?: ReportOptions) => Effect.Effect<HealthReport, UnknownHealthCheck>
  /** Connectivity and migrations only: what a readiness probe asks. */
  readonly ready: Effect.Effect<Readiness>
}>() {}

export { checkNames }

/** What the services provide when the database was reached. */
type Connected = { readonly access: DatabaseAccess; readonly target: string; readonly embedded: boolean }
/** Why it was not. */
type Unreachable = { readonly target: string; readonly reason: string }

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
const run = (
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

const readiness = (report: Effect.Effect<HealthReport, UnknownHealthCheck>): Effect.Effect<Readiness> =>
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
const makeAccess = Effect.gen(function*() {
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

/** Builds the service over the current SqlClient, Database, Migrator and Backup. */
export const make = (
  options: HealthOptions = {}
): Effect.Effect<Health["Type"], never, SqlClient.SqlClient | Database | Migrator | Backup> =>
  Effect.map(makeAccess, (connect) => {
    const report = (reportOptions: ReportOptions = {}) => {
      const thresholds = { ...defaultThresholds, ...options.thresholds, ...reportOptions.thresholds }
      return run(Either.right(connect(() => thresholds)), reportOptions, options)
    }
    return {
      checks: checkNames,
      report,
      ready: readiness(report({ only: ["connectivity", "migrations"] }))
    }
  })

/** Health over the database, Migrator and Backup in context. */
export const layer = (
  options: HealthOptions = {}
): Layer.Layer<Health, never, SqlClient.SqlClient | Database | Migrator | Backup> => Layer.effect(Health, make(options))

/** Thresholds from DBKIT_HEALTH_* and Redis from REDIS_URL, over `options`. */
export const optionsFromEnvironment = (options: HealthOptions = {}): Effect.Effect<HealthOptions, InvalidThreshold> =>
  Effect.gen(function*() {
    const thresholds = yield* fromEnvironment
    const redisUrl = yield* Config.option(Config.redacted("REDIS_URL")).pipe(Effect.orElseSucceed(() => Option.none()))
    return {
      thresholds: { ...thresholds, ...options.thresholds },
      redisUrl: options.redisUrl ??
        Option.getOrUndefined(Option.filter(redisUrl, (u) => Redacted.value(u).trim() !== ""))
    }
  })

/** Health with thresholds and Redis read from the environment. */
export const layerConfig = (
  options: HealthOptions = {}
): Layer.Layer<Health, InvalidThreshold, SqlClient.SqlClient | Database | Migrator | Backup> =>
  Layer.unwrapEffect(Effect.map(optionsFromEnvironment(options), layer))

/**
 * Health that connects on demand through `dependencies` (the database, Migrator and Backup),
 * retried on every report until it succeeds: while the database cannot be reached, reports say
 * connectivity is critical (with the reason) instead of failing. For probes and the CLI, which
 * must answer even when the database is down. `target` names the database in those reports.
 */
export const layerResilient = <E, R>(
  dependencies: Layer.Layer<SqlClient.SqlClient | Database | Migrator | Backup, E, R>,
  options: HealthOptions & { readonly target: string }
): Layer.Layer<Health, never, R> =>
  Layer.scoped(
    Health,
    Effect.gen(function*() {
      const scope = yield* Effect.scope
      const lock = yield* Effect.makeSemaphore(1)
      let service: Option.Option<Health["Type"]> = Option.none()
      const connect: Effect.Effect<Either.Either<Health["Type"], Unreachable>, never, R> = lock.withPermits(1)(
        Effect.suspend(() => {
          if (Option.isSome(service)) return Effect.succeed(Either.right(service.value))
          return Effect.gen(function*() {
            const child = yield* Scope.fork(scope, ExecutionStrategy.sequential)
            const built = yield* Effect.exit(Layer.buildWithScope(dependencies, child))
            if (Exit.isFailure(built)) {
              yield* Scope.close(child, built)
              const reason = Option.match(Cause.failureOption(built.cause), {
                onNone: () => reasonOf(Cause.squash(built.cause)),
                onSome: (error) => reasonOf(error)
              })
              const target = Option.match(Cause.failureOption(built.cause), {
                onNone: () => options.target,
                onSome: (error) => {
                  const t = (error as { target?: unknown } | null)?.target
                  return typeof t === "string" ? t : options.target
                }
              })
              return Either.left<Unreachable>({ target, reason })
            }
            const made = yield* make(options).pipe(Effect.provide(built.value))
            service = Option.some(made)
            return Either.right(made)
          })
        })
      )
      const context = yield* Effect.context<R>()
      const report = (reportOptions: ReportOptions = {}) =>
        Effect.gen(function*() {
          const started = Date.now()
          const state = yield* Effect.provide(connect, context)
          const result = yield* Either.match(state, {
            onLeft: (down) => run(Either.left(down), reportOptions, options),
            onRight: (up) => up.report(reportOptions)
          })
          // The time includes connecting (or failing to), which is part of the answer.
          return { ...result, checkedAt: new Date(started).toISOString(), durationMs: Date.now() - started }
        })
      return Health.of({
        checks: checkNames,
        report,
        ready: readiness(report({ only: ["connectivity", "migrations"] }))
      })
    })
  )
