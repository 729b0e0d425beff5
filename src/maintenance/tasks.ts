/**
 * `db maintain`: what the database needs, from its statistics and catalog — ANALYZE where
 * statistics are stale, VACUUM where dead rows pile up, REINDEX CONCURRENTLY of invalid indexes
 * (left by a failed CREATE INDEX CONCURRENTLY), DROP INDEX CONCURRENTLY of the leftovers of a
 * failed REINDEX CONCURRENTLY (`…_ccnew`, `…_ccold`) — and running it, one statement at a time.
 *
 * VACUUM and the CONCURRENTLY statements cannot run inside a transaction block, so each runs
 * alone on a pooled connection with a short `lock_timeout`: a table locked by someone else
 * fails that step quickly (and says so) instead of queueing every later query behind it.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Effect from "effect/Effect"
import { INVALID_INDEXES, percent } from "../health/status.js"
import { quoteIdent } from "../Identifier.js"
import { reason as reasonOf } from "../ServerError.js"
import type { Query } from "./catalog.js"
import type { MaintenanceThresholds } from "./thresholds.js"

/** One maintenance statement and why it is proposed. */
export interface MaintenanceTask {
  readonly action: "analyze" | "vacuum" | "vacuum-analyze" | "reindex" | "drop-index"
  /** `schema.table` or `schema.index`. */
  readonly target: string
  /** The statement `run` executes. */
  readonly statement: string
  /** One line: the figures behind it. */
  readonly reason: string
}

/** A task after it ran. */
export interface TaskResult extends MaintenanceTask {
  readonly status: "done" | "failed"
  readonly durationMs: number
  /** The server's one-line reason, when it failed. */
  readonly error: string | null
}

/** A table's activity counters. */
export interface TableActivity {
  readonly schema: string
  readonly table: string
  readonly live: number
  readonly dead: number
  /** Rows changed since the last analyze. */
  readonly modified: number
  readonly analyzedAt: string | null
  readonly vacuumedAt: string | null
}

/** An index that is not valid. */
export interface InvalidIndex {
  readonly schema: string
  readonly index: string
  readonly table: string
  readonly unique: boolean
}

const rows = (n: number) => Math.round(n).toLocaleString("en-US")
const qualified = (schema: string, name: string) => `${quoteIdent(schema)}.${quoteIdent(name)}`

/** REINDEX CONCURRENTLY's transient copies: `_ccnew` (the failed new one), `_ccold` (the old one not dropped). */
const LEFTOVER = /_cc(new|old)\d*$/

/** The tasks for these counters and invalid indexes, in the order they should run. */
export const planTasks = (
  tables: ReadonlyArray<TableActivity>,
  invalid: ReadonlyArray<InvalidIndex>,
  thresholds: MaintenanceThresholds
): ReadonlyArray<MaintenanceTask> => {
  const indexTasks = invalid.map((i): MaintenanceTask => {
    const target = `${i.schema}.${i.index}`
    if (LEFTOVER.test(i.index)) {
      return {
        action: "drop-index",
        target,
        statement: `DROP INDEX CONCURRENTLY ${qualified(i.schema, i.index)}`,
        reason:
          `invalid index on ${i.schema}.${i.table} left by a failed REINDEX CONCURRENTLY: never used, still slows writes`
      }
    }
    return {
      action: "reindex",
      target,
      statement: `REINDEX INDEX CONCURRENTLY ${qualified(i.schema, i.index)}`,
      reason:
        `invalid index on ${i.schema}.${i.table} (left by a failed CREATE INDEX CONCURRENTLY): never used, still slows writes` +
        (i.unique ? "; unique, so the rebuild fails while duplicate keys remain" : "")
    }
  })
  const tableTasks = tables.flatMap((t): ReadonlyArray<MaintenanceTask> => {
    const total = t.live + t.dead
    const deadRatio = total > 0 ? t.dead / total : 0
    const bloated = t.dead >= thresholds.vacuumMinDeadRows && deadRatio > thresholds.vacuumDeadRatio
    const stale = t.modified >= thresholds.analyzeMinChanges &&
      (t.analyzedAt === null || t.modified > thresholds.analyzeRatio * t.live)
    if (!bloated && !stale) return []
    const why = [
      ...(bloated
        ? [`${rows(t.dead)} dead rows, ${percent(deadRatio)} of the table (last vacuum ${t.vacuumedAt ?? "never"})`]
        : []),
      ...(stale
        ? [
          t.analyzedAt === null
            ? `never analyzed, ${rows(t.modified)} rows changed`
            : `${rows(t.modified)} rows changed since the last analyze (${t.analyzedAt}), ${
              percent(t.modified / Math.max(1, t.live))
            } of ${rows(t.live)} live rows`
        ]
        : [])
    ]
    const action = bloated && stale ? "vacuum-analyze" : bloated ? "vacuum" : "analyze"
    const verb = action === "vacuum-analyze" ? "VACUUM (ANALYZE)" : action === "vacuum" ? "VACUUM" : "ANALYZE"
    return [{
      action,
      target: `${t.schema}.${t.table}`,
      statement: `${verb} ${qualified(t.schema, t.table)}`,
      reason: why.join("; ")
    }]
  })
  // Leftovers first (a REINDEX would otherwise copy next to them), then rebuilds, then tables.
  const order = { "drop-index": 0, reindex: 1, vacuum: 2, "vacuum-analyze": 2, analyze: 3 } as const
  return [...indexTasks, ...tableTasks].sort((a, b) =>
    order[a.action] - order[b.action] || a.target.localeCompare(b.target)
  )
}

const iso = (value: Date | string | null) => (value === null ? null : new Date(value).toISOString())

/** Reads the counters and invalid indexes, and plans. */
export const plan = (
  query: Query,
  thresholds: MaintenanceThresholds
): Effect.Effect<ReadonlyArray<MaintenanceTask>, SqlError> =>
  Effect.gen(function*() {
    const tables = yield* query<{
      schema: string
      table: string
      live: number
      dead: number
      modified: number
      analyzed: Date | string | null
      vacuumed: Date | string | null
    }>(
      `SELECT schemaname AS schema, relname AS table, n_live_tup::float8 AS live, n_dead_tup::float8 AS dead,
              n_mod_since_analyze::float8 AS modified,
              greatest(last_analyze, last_autoanalyze) AS analyzed, greatest(last_vacuum, last_autovacuum) AS vacuumed
         FROM pg_stat_user_tables ORDER BY 1, 2`
    )
    const invalid = yield* query<InvalidIndex>(INVALID_INDEXES)
    return planTasks(
      tables.map((t) => ({ ...t, analyzedAt: iso(t.analyzed), vacuumedAt: iso(t.vacuumed) })),
      invalid,
      thresholds
    )
  })

/**
 * Runs one task alone on a pooled connection (outside any transaction block) under
 * `lock_timeout`, resetting the setting before the connection goes back. A failure is the
 * task's result, not an error: the next task still runs.
 */
export const runTask = (
  sql: SqlClient.SqlClient,
  task: MaintenanceTask,
  lockTimeoutMs: number
): Effect.Effect<TaskResult> =>
  Effect.gen(function*() {
    const started = performance.now()
    const outcome = yield* Effect.scoped(
      Effect.gen(function*() {
        const conn = yield* sql.reserve
        yield* conn.execute(`SET lock_timeout = ${Math.max(1, Math.round(lockTimeoutMs))}`, [], undefined)
        yield* conn.execute(task.statement, [], undefined).pipe(
          Effect.ensuring(conn.execute("RESET lock_timeout", [], undefined).pipe(Effect.ignore))
        )
      })
    ).pipe(Effect.either)
    const durationMs = Math.round(performance.now() - started)
    return outcome._tag === "Right"
      ? { ...task, status: "done", durationMs, error: null }
      : { ...task, status: "failed", durationMs, error: reasonOf(outcome.left) }
  })
