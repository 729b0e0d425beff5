/**
 * `db cleanup`: retention rules declared in code — rows of `table` older than `keep` (by
 * `timestampColumn`) go — applied in small batches. Each batch is its own short transaction
 * with a low `lock_timeout`, picks its rows with FOR UPDATE SKIP LOCKED (rows someone is
 * working on are left for a later run) and deletes them by primary key (ctid without one), so a
 * cleanup never holds locks for long nor blocks the application. A batch that cannot get its
 * lock is retried with backoff, then the rule is reported failed and the next rule runs.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import { quoteIdent } from "../Identifier.js"
import { reason as reasonOf, sqlState } from "../ServerError.js"
import { columnType, findTable, type Query, type TableInfo, type TenantRef } from "./catalog.js"

/** A retention rule. `where` narrows the rows it may delete, as SQL written by the developer. */
export interface RetentionRule {
  /** For messages (default `table.timestampColumn`). */
  readonly name?: string | undefined
  readonly table: string
  readonly timestampColumn: string
  /** How long rows are kept. */
  readonly keep: Duration.DurationInput
  /** The table has tenant_id: a cleanup restricted to one tenant applies this rule to its rows. */
  readonly tenantScoped?: boolean | undefined
  readonly where?: string | undefined
}

/** A rule's count before anything is deleted. */
export interface RetentionCount {
  readonly rule: string
  readonly table: string
  /** Rows older than this go. */
  readonly cutoff: string | null
  readonly rows: number
  /** Why the rule does not apply, if it does not (missing table or column, not tenant-scoped). */
  readonly skipped: string | null
}

/** A rule after it ran. */
export interface RetentionResult extends RetentionCount {
  readonly status: "done" | "failed" | "skipped"
  readonly deleted: number
  readonly batches: number
  readonly error: string | null
}

export const ruleName = (rule: RetentionRule) => rule.name ?? `${rule.table}.${rule.timestampColumn}`

/** A rule bound to its table, or the reason it is skipped. */
interface Resolved {
  readonly rule: RetentionRule
  readonly table: TableInfo | undefined
  readonly cutoff: string | null
  readonly skipped: string | null
}

const resolve = (query: Query, rule: RetentionRule, tenant: TenantRef | null): Effect.Effect<Resolved, SqlError> =>
  Effect.gen(function*() {
    const skip = (skipped: string): Resolved => ({ rule, table: undefined, cutoff: null, skipped })
    if (tenant && !rule.tenantScoped) return skip(`not tenant-scoped; runs only without --tenant`)
    const table = yield* findTable(query, rule.table)
    if (!table) return skip(`no table ${rule.table}`)
    const type = yield* columnType(query, table, rule.timestampColumn)
    if (!type) return skip(`no column ${rule.timestampColumn} in ${table.name}`)
    if (tenant && !table.tenantOwned) return skip(`${table.name} has no tenant_id`)
    // The database's clock, not this machine's, decides what is old.
    const [row] = yield* query<{ cutoff: Date | string }>(
      "SELECT now() - make_interval(secs => $1::float8) AS cutoff",
      [Duration.toMillis(rule.keep) / 1000]
    )
    return { rule, table, cutoff: new Date(row!.cutoff).toISOString(), skipped: null }
  })

/** `WHERE …` of the rows a rule deletes (alias-free), and its parameters. */
const eligible = (resolved: Resolved, tenant: TenantRef | null): { where: string; params: Array<unknown> } => {
  const { rule, table } = resolved
  const byTenant = tenant !== null && table!.tenantOwned
  return {
    where: `${quoteIdent(rule.timestampColumn)} < $1::timestamptz${byTenant ? " AND tenant_id = $2::uuid" : ""}${
      rule.where ? ` AND (${rule.where})` : ""
    }`,
    params: byTenant ? [resolved.cutoff, tenant.id] : [resolved.cutoff]
  }
}

/** A rule resolved against the catalog, with the fields every report of it starts with. */
const resolveWithBase = (query: Query, rule: RetentionRule, tenant: TenantRef | null) =>
  Effect.map(resolve(query, rule, tenant), (resolved) => ({
    resolved,
    base: {
      rule: ruleName(rule),
      table: resolved.table?.name ?? rule.table,
      cutoff: resolved.cutoff,
      skipped: resolved.skipped
    }
  }))

/** How many rows each rule would delete now. */
export const plan = (
  query: Query,
  rules: ReadonlyArray<RetentionRule>,
  tenant: TenantRef | null
): Effect.Effect<ReadonlyArray<RetentionCount>, SqlError> =>
  Effect.forEach(rules, (rule) =>
    Effect.gen(function*() {
      const { base, resolved } = yield* resolveWithBase(query, rule, tenant)
      if (resolved.skipped !== null) return { ...base, rows: 0 }
      const { params, where } = eligible(resolved, tenant)
      const [row] = yield* query<{ n: number }>(
        `SELECT count(*)::float8 AS n FROM ${resolved.table!.sql} WHERE ${where}`,
        params
      )
      return { ...base, rows: row?.n ?? 0 }
    }))

export interface ApplyOptions {
  readonly batchSize: number
  readonly lockTimeoutMs: number
  /** Called after each batch with the rule's running total. */
  readonly onBatch?: ((rule: string, deleted: number) => Effect.Effect<void>) | undefined
}

/** Lock waits end in lock_timeout (55P03); those are worth another try, nothing else is. */
const lockRetry = Schedule.exponential("200 millis").pipe(
  Schedule.jittered,
  Schedule.intersect(Schedule.recurs(3)),
  Schedule.whileInput((error: SqlError) => sqlState(error) === "55P03")
)

/** Deletes each rule's old rows in batches; one rule failing does not stop the others. */
export const apply = (
  sql: SqlClient.SqlClient,
  query: Query,
  rules: ReadonlyArray<RetentionRule>,
  tenant: TenantRef | null,
  options: ApplyOptions
): Effect.Effect<ReadonlyArray<RetentionResult>, SqlError> =>
  Effect.forEach(rules, (rule) =>
    Effect.gen(function*() {
      const { base, resolved } = yield* resolveWithBase(query, rule, tenant)
      if (resolved.skipped !== null) {
        return { ...base, rows: 0, status: "skipped", deleted: 0, batches: 0, error: null } as const
      }
      const table = resolved.table!
      const { params, where } = eligible(resolved, tenant)
      const key = table.primaryKey.length > 0 ? table.primaryKey.map(quoteIdent).join(", ") : "ctid"
      const statement = `WITH gone AS (
          DELETE FROM ${table.sql} WHERE (${key}) IN (
            SELECT ${key} FROM ${table.sql} WHERE ${where} LIMIT ${
        Math.max(1, Math.floor(options.batchSize))
      } FOR UPDATE SKIP LOCKED)
          RETURNING 1)
        SELECT count(*)::int AS n FROM gone`
      const batch = sql.withTransaction(
        Effect.zipRight(
          sql.unsafe(`SET LOCAL lock_timeout = ${Math.max(1, Math.round(options.lockTimeoutMs))}`),
          sql.unsafe<{ n: number }>(statement, params)
        )
      ).pipe(
        Effect.retry(lockRetry),
        Effect.map((rows) => rows[0]?.n ?? 0)
      )
      let deleted = 0
      let batches = 0
      for (;;) {
        const n = yield* Effect.either(batch)
        if (n._tag === "Left") {
          return { ...base, rows: deleted, status: "failed", deleted, batches, error: reasonOf(n.left) } as const
        }
        if (n.right > 0) {
          batches++
          deleted += n.right
          if (options.onBatch) {
            yield* options.onBatch(base.rule, deleted)
          }
        }
        if (n.right < options.batchSize) break
      }
      return { ...base, rows: deleted, status: "done", deleted, batches, error: null } as const
    }))
