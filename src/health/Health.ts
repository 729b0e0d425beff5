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
import type * as SqlClient from "@effect/sql/SqlClient"
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
import type { Backup } from "../backup/Backup.js"
import type { Database } from "../Database.js"
import type { Migrator } from "../migrator/Migrator.js"
import { reason as reasonOf } from "../ServerError.js"
import { defaultThresholds, fromEnvironment } from "../Thresholds.js"
import { spanTarget, traced } from "../Tracing.js"
import { checkNames } from "./checks.js"
import type { InvalidThreshold, UnknownHealthCheck } from "./errors.js"
import {
  type HealthOptions,
  type HealthReport,
  makeAccess,
  type Readiness,
  readiness,
  type ReportOptions,
  run,
  type Unreachable
} from "./report.js"

export { defaultThresholds, type Thresholds } from "../Thresholds.js"
export type { HealthOptions, HealthReport, Readiness, ReportOptions } from "./report.js"
export type { CheckResult, CheckStatus, OverallStatus } from "./status.js"

/** The Health service, with its layers. */
export class Health extends Context.Tag("dbkit/Health")<Health, {
  /** The names of the checks, in report order. */
  readonly checks: ReadonlyArray<string>
  /** Runs the checks (all, or `only`) and grades them. Never fails because a check failed. */
  readonly report: (options?: ReportOptions) => Effect.Effect<HealthReport, UnknownHealthCheck>
  /** Connectivity and migrations only: what a readiness probe asks. */
  readonly ready: Effect.Effect<Readiness>
}>() {
  /** Health over the database, Migrator and Backup in context. */
  static get layer(): typeof layer {
    return layer
  }
  /** Health with thresholds and Redis read from the environment. */
  static get layerConfig(): typeof layerConfig {
    return layerConfig
  }
  /** Health that connects on demand, so a report is produced even while the database is down. */
  static get layerResilient(): typeof layerResilient {
    return layerResilient
  }
  /** The names of the checks, in report order. */
  static get checkNames(): typeof checkNames {
    return checkNames
  }
  /** The thresholds used when neither the environment nor the options say otherwise. */
  static get defaultThresholds(): typeof defaultThresholds {
    return defaultThresholds
  }
}

export { checkNames }

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
): Layer.Layer<Health, never, SqlClient.SqlClient | Database | Migrator | Backup> =>
  Layer.effect(
    Health,
    Effect.map(Effect.zip(make(options), spanTarget), ([health, target]) => traced("Health", target, health))
  )

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
      return Health.of(traced("Health", yield* spanTarget, {
        checks: checkNames,
        report,
        ready: readiness(report({ only: ["connectivity", "migrations"] }))
      }))
    })
  )
