/**
 * Maintenance: performance insight (stats), upkeep (maintain), data integrity (validate),
 * retention (cleanup) and a load test, over any SqlClient — the server or the embedded database.
 *
 * Changing operations (maintain, cleanup, load-test) are guarded in production only:
 * `<PREFIX>_CONFIRM=1` or `yes`, plus `<PREFIX>_ALLOW_PRODUCTION=1` (DB_MAINTAIN, DB_CLEANUP,
 * DB_LOAD_TEST). Elsewhere they are routine and run as asked. The relationships validate checks
 * and the retention rules cleanup applies are declared in code, as options, defaulting to the
 * reference schema's.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { DbConfig, type InvalidConfig } from "../Config.js"
import { Database, NotSupportedOnEmbedded } from "../Database.js"
import { Guard, type GuardError, type GuardRequest } from "../Guard.js"
import * as Project from "../Project.js"
import type { TenantNotFound } from "../tenancy/errors.js"
import { flushStatistics, readOnly, resolveTenant, type TenantRef } from "./catalog.js"
import type { InvalidMaintenanceOptions, LoadTestSchemaMissing } from "./errors.js"
import { type IntegrityReport, type Relationship, validate } from "./integrity.js"
import * as LoadTest from "./loadTest.js"
import * as Retention from "./retention.js"
import { stats, type StatsOptions, type StatsReport } from "./stats.js"
import * as Tasks from "./tasks.js"
import { defaultMaintenanceThresholds, type MaintenanceThresholds } from "./thresholds.js"

export type { Finding, IntegrityReport, Relationship } from "./integrity.js"
export type { Latency, LoadTestOptions, LoadTestReport, LoadTestType } from "./loadTest.js"
export type { RetentionCount, RetentionResult, RetentionRule } from "./retention.js"
export type {
  IndexUsage,
  Recommendation,
  StatsOptions,
  StatsReport,
  TableUsage,
  TopQueries,
  TopQuery
} from "./stats.js"
import { spanTarget, traced } from "../Tracing.js"
export type { MaintenanceTask, TaskResult } from "./tasks.js"
export { defaultMaintenanceThresholds, type MaintenanceThresholds } from "./thresholds.js"

export interface MaintenanceOptions {
  /** Relationships without a foreign key that validate checks (default none). */
  readonly relationships?: ReadonlyArray<Relationship> | undefined
  /** Retention rules cleanup applies (default none). */
  readonly retention?: ReadonlyArray<Retention.RetentionRule> | undefined
  /** The application's own tenants table (id, slug), where `--tenant` is looked up without dbkit.tenants. */
  readonly tenantTable?: string | undefined
  readonly thresholds?: Partial<MaintenanceThresholds> | undefined
  /** How long a maintenance statement or cleanup batch waits for a lock (default 2 s). */
  readonly lockTimeout?: Duration.DurationInput | undefined
  /** Rows a cleanup batch deletes (default 1000). */
  readonly batchSize?: number | undefined
}

export interface MaintainOptions {
  readonly yes?: boolean | undefined
  /** Called as each task finishes. */
  readonly onTask?: ((result: Tasks.TaskResult) => Effect.Effect<void>) | undefined
}

export interface MaintainResult {
  readonly tasks: ReadonlyArray<Tasks.TaskResult>
  readonly done: number
  readonly failed: number
}

export interface ValidateOptions {
  /** Only this tenant's rows (slug or id). */
  readonly tenant?: string | undefined
}

export interface CleanupOptions {
  /** Only this tenant's rows, by the tenant-scoped rules (slug or id). */
  readonly tenant?: string | undefined
}

export interface CleanupRunOptions extends CleanupOptions {
  readonly yes?: boolean | undefined
  readonly onBatch?: ((rule: string, deleted: number) => Effect.Effect<void>) | undefined
}

export interface CleanupResult {
  readonly tenant: TenantRef | null
  readonly rules: ReadonlyArray<Retention.RetentionResult>
  readonly deleted: number
  readonly failed: number
}

/** The Maintenance service, with its layers. */
export class Maintenance extends Context.Tag("dbkit/Maintenance")<Maintenance, {
  /** Top statements, table and index sizes and usage, and recommendations. */
  readonly stats: (options?: StatsOptions) => Effect.Effect<StatsReport, SqlError>
  /** What maintain would do now, and why. Changes nothing. */
  readonly plan: Effect.Effect<ReadonlyArray<Tasks.MaintenanceTask>, SqlError>
  /** Runs the plan, one statement at a time; a failed task is reported and the rest still run. */
  readonly maintain: (options?: MaintainOptions) => Effect.Effect<MaintainResult, GuardError | SqlError, Guard>
  /** Integrity findings: NOT VALID constraints, orphaned rows, cross-tenant references. */
  readonly validate: (options?: ValidateOptions) => Effect.Effect<IntegrityReport, TenantNotFound | SqlError>
  /** Rows each retention rule would delete now. Changes nothing. */
  readonly cleanupPlan: (
    options?: CleanupOptions
  ) => Effect.Effect<
    { readonly tenant: TenantRef | null; readonly rules: ReadonlyArray<Retention.RetentionCount> },
    TenantNotFound | SqlError
  >
  /** Deletes what the retention rules say, in small batches. */
  readonly cleanup: (
    options?: CleanupRunOptions
  ) => Effect.Effect<CleanupResult, GuardError | TenantNotFound | SqlError, Guard>
  /** A load test of the reference schema (server only). */
  readonly loadTest: (
    options: LoadTest.LoadTestOptions & { readonly yes?: boolean | undefined }
  ) => Effect.Effect<
    LoadTest.LoadTestReport,
    GuardError | NotSupportedOnEmbedded | InvalidMaintenanceOptions | LoadTestSchemaMissing | SqlError,
    Guard
  >
}>() {
  /** Maintenance over the database in context. */
  static get layer(): typeof layer {
    return layer
  }
  /** Maintenance with the project's relationships and retention rules. */
  static get layerConfig(): typeof layerConfig {
    return layerConfig
  }
  /** Builds the service over the SqlClient, Database and DbConfig in context. */
  static get make(): typeof make {
    return make
  }
  /** The thresholds used when the options say nothing else. */
  static get defaultThresholds(): typeof defaultMaintenanceThresholds {
    return defaultMaintenanceThresholds
  }
}

/** Catalog reads are quick; integrity and retention counts scan tables. */
const CATALOG_TIMEOUT_MS = 15_000
const SCAN_TIMEOUT_MS = 10 * 60_000

/** Builds the service over the SqlClient, Database and DbConfig in context. */
export const make = (
  options: MaintenanceOptions = {}
): Effect.Effect<Maintenance["Type"], never, SqlClient.SqlClient | Database | DbConfig> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const database = yield* Database
    const config = yield* DbConfig
    const thresholds: MaintenanceThresholds = { ...defaultMaintenanceThresholds, ...options.thresholds }
    const lockTimeoutMs = Duration.toMillis(options.lockTimeout ?? Duration.seconds(2))
    const catalog = readOnly(sql, CATALOG_TIMEOUT_MS)
    const scan = readOnly(sql, SCAN_TIMEOUT_MS)
    const embedded = database.kind === "embedded"

    /** Routine outside production; in production the guard decides. */
    const guardInProduction = (request: Omit<GuardRequest, "target">) =>
      config.environment === "production"
        ? Effect.flatMap(Guard, (guard) => guard.confirm({ ...request, target: database.database }))
        : Effect.void

    const tenantOf = (tenant: string | undefined) =>
      tenant === undefined ? Effect.succeed(null) : resolveTenant(catalog, tenant, options.tenantTable)

    const plan = Effect.zipRight(flushStatistics(sql), Tasks.plan(catalog, thresholds))
    const rules = options.retention ?? []

    return Maintenance.of(traced("Maintenance", yield* spanTarget, {
      stats: (statsOptions = {}) =>
        Effect.zipRight(
          flushStatistics(sql),
          stats(catalog, { embedded, limit: Math.max(1, statsOptions.limit ?? 10), thresholds })
        ),
      plan,
      maintain: (maintainOptions = {}) =>
        Effect.gen(function*() {
          yield* guardInProduction({
            action: "run database maintenance (VACUUM, ANALYZE, REINDEX)",
            variable: "DB_MAINTAIN",
            yes: maintainOptions.yes
          })
          const tasks = yield* plan
          const results = yield* Effect.forEach(tasks, (task) =>
            Effect.tap(
              Tasks.runTask(sql, task, lockTimeoutMs),
              (result) => maintainOptions.onTask?.(result) ?? Effect.void
            ))
          const failed = results.filter((r) => r.status === "failed").length
          return { tasks: results, done: results.length - failed, failed }
        }),
      validate: (validateOptions = {}) =>
        Effect.flatMap(
          tenantOf(validateOptions.tenant),
          (tenant) => validate(scan, options.relationships ?? [], tenant)
        ),
      cleanupPlan: (cleanupOptions = {}) =>
        Effect.gen(function*() {
          const tenant = yield* tenantOf(cleanupOptions.tenant)
          return { tenant, rules: yield* Retention.plan(scan, rules, tenant) }
        }),
      cleanup: (cleanupOptions = {}) =>
        Effect.gen(function*() {
          const tenant = yield* tenantOf(cleanupOptions.tenant)
          yield* guardInProduction({
            action: "delete rows past their retention",
            variable: "DB_CLEANUP",
            yes: cleanupOptions.yes
          })
          const results = yield* Retention.apply(sql, catalog, rules, tenant, {
            batchSize: options.batchSize ?? 1000,
            lockTimeoutMs,
            onBatch: cleanupOptions.onBatch
          })
          return {
            tenant,
            rules: results,
            deleted: results.reduce((n, r) => n + r.deleted, 0),
            failed: results.filter((r) => r.status === "failed").length
          }
        }),
      loadTest: ({ yes, ...loadOptions }) =>
        Effect.gen(function*() {
          if (embedded) {
            return yield* new NotSupportedOnEmbedded({
              feature: "the load test (it measures concurrent sessions; the embedded database has one)"
            })
          }
          yield* LoadTest.checkOptions(loadOptions)
          yield* guardInProduction({
            action: "run a load test (it adds and removes a tenant's data)",
            variable: "DB_LOAD_TEST",
            yes
          })
          return yield* LoadTest.run(sql, loadOptions)
        })
    }))
  })

/** Maintenance over the database in context. */
export const layer = (
  options: MaintenanceOptions = {}
): Layer.Layer<Maintenance, never, SqlClient.SqlClient | Database | DbConfig> =>
  Layer.effect(Maintenance, make(options))

/** Maintenance with the project's relationships and retention rules (dbkit.config.ts `integrity`, `retention`). */
export const layerConfig = (
  options: Omit<MaintenanceOptions, "relationships" | "retention" | "tenantTable"> = {}
): Layer.Layer<Maintenance, InvalidConfig, SqlClient.SqlClient | Database | DbConfig> =>
  Layer.unwrapEffect(
    Effect.map(Project.current, (project) =>
      layer({
        ...options,
        relationships: Project.relationships(project),
        retention: Project.retention(project),
        tenantTable: project.tenancy.tenantTable
      }))
  )
