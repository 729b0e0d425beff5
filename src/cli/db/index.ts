/**
 * `dbkit db …`: performance insight (stats), upkeep (maintain), data integrity (validate),
 * retention (cleanup) and a load test, over the configured database. The definitions; each
 * handler is in its own file, loaded when it runs.
 */
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import { lazy } from "../lazy.js"
import { jsonOption, yesOption } from "../options.js"
import { planOption, runOption, tenantOption } from "./shared.js"

export const statsConfig = {
  limit: Options.integer("limit").pipe(
    Options.withDefault(10),
    Options.withDescription("How many statements, tables and indexes to list (default 10)")
  ),
  json: jsonOption
}

const stats = Command.make("stats", statsConfig, (options) => lazy(() => import("./stats.js"), (m) => m.stats(options)))
  .pipe(
    Command.withDescription(
      "Top statements (pg_stat_statements, when installed), table and index sizes and usage, and recommendations: " +
        "missing-index candidates (big tables read by sequential scans) and unused indexes to drop"
    )
  )

export const maintainConfig = {
  plan: planOption,
  run: runOption(
    "Run the plan, one statement at a time (guarded in production: DB_MAINTAIN_CONFIRM=1 or --yes, and DB_MAINTAIN_ALLOW_PRODUCTION=1)"
  ),
  yes: yesOption,
  json: jsonOption
}

const maintain = Command.make(
  "maintain",
  maintainConfig,
  (options) => lazy(() => import("./maintain.js"), (m) => m.maintain(options))
).pipe(
  Command.withDescription(
    "Plan (--plan, the default) or run (--run) maintenance: ANALYZE tables with stale statistics, VACUUM tables with many dead rows, " +
      "REINDEX CONCURRENTLY invalid indexes, drop the leftovers of a failed REINDEX CONCURRENTLY. Guarded in production"
  )
)

export const validateConfig = {
  tenant: tenantOption(
    "Check only this tenant's rows (slug or id, from dbkit.tenants or the tenancy.tenantTable of dbkit.config.ts)"
  ),
  json: jsonOption
}

const validate = Command.make(
  "validate",
  validateConfig,
  (options) => lazy(() => import("./validate.js"), (m) => m.validate(options))
).pipe(
  Command.withDescription(
    "Check data integrity: constraints left NOT VALID, orphaned rows of relationships without a foreign key, " +
      "rows referencing another tenant's rows; each with a count and sample keys. Exits non-zero on any finding"
  )
)

export const cleanupConfig = {
  plan: planOption,
  run: runOption(
    "Delete the rows, in small batches, each its own short transaction (guarded in production: DB_CLEANUP_CONFIRM=1 or --yes, and DB_CLEANUP_ALLOW_PRODUCTION=1)"
  ),
  tenant: tenantOption("Apply only the tenant-scoped rules, to this tenant's rows (slug or id)"),
  yes: yesOption,
  json: jsonOption
}

const cleanup = Command.make(
  "cleanup",
  cleanupConfig,
  (options) => lazy(() => import("./cleanup.js"), (m) => m.cleanup(options))
).pipe(
  Command.withDescription(
    "Apply the retention rules dbkit.config.ts declares (retention: [{ table, timestampColumn, keep }]): --plan (the default) counts the rows, " +
      "--run deletes them in small batches with a low lock_timeout. Guarded in production"
  )
)

export const loadTestConfig = {
  queries: Options.integer("queries").pipe(
    Options.withDefault(1000),
    Options.withDescription("How many queries to run (default 1000)")
  ),
  concurrency: Options.integer("concurrency").pipe(
    Options.withDefault(4),
    Options.withDescription("How many at once (default 4; connections come from the pool, DB_POOL_SIZE)")
  ),
  type: Options.choice("type", ["read", "write", "mixed"]).pipe(
    Options.withDefault("read" as const),
    Options.withDescription(
      "read: tenant-scoped selects on customers and invoices; write: inserts; mixed: three reads to one write"
    )
  ),
  duration: Options.integer("duration").pipe(
    Options.withDefault(60),
    Options.withDescription("Stop after this many seconds at most (default 60)")
  ),
  yes: yesOption,
  json: jsonOption
}

const loadTest = Command.make(
  "load-test",
  loadTestConfig,
  (options) => lazy(() => import("./loadTest.js"), (m) => m.loadTest(options))
).pipe(
  Command.withDescription(
    "Load-test the example application's schema (organizations, customers, invoices; other schemas are refused): N queries at concurrency C (bounded by --duration), reported as throughput and latency p50/p90/p99/max. " +
      "Brings its own tenant and deletes it afterwards. Server only; guarded in production (DB_LOAD_TEST_CONFIRM / --yes and DB_LOAD_TEST_ALLOW_PRODUCTION)"
  )
)

export const db = Command.make("db").pipe(
  Command.withDescription("Look after the database: stats, maintain, validate, cleanup, load-test"),
  Command.withSubcommands([stats, maintain, validate, cleanup, loadTest])
)
