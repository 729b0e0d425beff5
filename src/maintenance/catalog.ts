/**
 * The catalog questions every maintenance feature asks: read-only, time-limited queries; each
 * table's key and whether it is tenant-owned; a tenant's id from its slug; and a statistics
 * flush, so that what this session did is counted before statistics are read.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Effect from "effect/Effect"
import { quoteIdent, quoteQualified } from "../Identifier.js"
import { TenantNotFound } from "../tenancy/errors.js"
import { isUuid, lookupBy } from "../tenancy/registry.js"

/** A query over the catalogs or the statistics views. */
export type Query = <A extends object>(
  text: string,
  params?: ReadonlyArray<unknown>
) => Effect.Effect<ReadonlyArray<A>, SqlError>

/**
 * Runs `text` in a READ ONLY transaction with `statement_timeout` and a short `lock_timeout`:
 * a question about the database never changes it, and never queues for long behind a lock.
 */
export const readOnly =
  (sql: SqlClient.SqlClient, timeoutMs: number): Query =>
  <A extends object>(text: string, params: ReadonlyArray<unknown> = []) =>
    sql.withTransaction(
      Effect.zipRight(
        sql.unsafe(
          `SET TRANSACTION READ ONLY; SET LOCAL statement_timeout = ${Math.max(1, Math.round(timeoutMs))}; ` +
            `SET LOCAL lock_timeout = ${Math.max(1, Math.min(2_000, Math.round(timeoutMs / 2)))}`
        ),
        sql.unsafe<A>(text, params as Array<unknown>)
      )
    )

/**
 * Statistics are sent to shared memory when a session goes idle, at most once a second; this
 * session's own counts (and, on the single-session embedded database, all of them) are
 * flushed now. A server older than 15 has no such function: nothing to do there.
 */
export const flushStatistics = (sql: SqlClient.SqlClient): Effect.Effect<void> =>
  sql.unsafe("SELECT pg_stat_force_next_flush()").pipe(Effect.ignore)

/** Schemas that are PostgreSQL's own, as a SQL condition on `column`. */
export const notSystemSchema = (column: string) =>
  `${column} NOT IN ('pg_catalog', 'information_schema') AND ${column} NOT LIKE 'pg\\_%'`

/** What maintenance needs to know about one table. */
export interface TableInfo {
  /** `schema.table`, for messages. */
  readonly name: string
  /** Quoted, for SQL. */
  readonly sql: string
  /** Primary key columns, in key order (empty: none). */
  readonly primaryKey: ReadonlyArray<string>
  /** Whether it has a `tenant_id` column. */
  readonly tenantOwned: boolean
}

interface TableInfoRow {
  readonly schema: string
  readonly table: string
  readonly pk: ReadonlyArray<string> | string | null
  readonly tenant_owned: boolean
}

const parseJsonArray = (value: ReadonlyArray<string> | string | null): ReadonlyArray<string> =>
  value === null ? [] : typeof value === "string" ? (JSON.parse(value) as ReadonlyArray<string>) : value

const toInfo = (row: TableInfoRow): TableInfo => ({
  name: `${row.schema}.${row.table}`,
  sql: `${quoteIdent(row.schema)}.${quoteIdent(row.table)}`,
  primaryKey: parseJsonArray(row.pk),
  tenantOwned: row.tenant_owned
})

const tableInfoSelect = `
  SELECT n.nspname AS schema, c.relname AS table,
         (SELECT json_agg(a.attname ORDER BY k.i)
            FROM pg_constraint p
            CROSS JOIN LATERAL unnest(p.conkey) WITH ORDINALITY AS k(num, i)
            JOIN pg_attribute a ON a.attrelid = p.conrelid AND a.attnum = k.num
           WHERE p.conrelid = c.oid AND p.contype = 'p') AS pk,
         EXISTS (SELECT 1 FROM pg_attribute a
                  WHERE a.attrelid = c.oid AND a.attname = 'tenant_id' AND a.attnum > 0 AND NOT a.attisdropped) AS tenant_owned
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace`

/** The table a (possibly schema-qualified, unquoted) name resolves to on the search_path, if any. */
export const findTable = (query: Query, name: string): Effect.Effect<TableInfo | undefined, SqlError> =>
  Effect.map(
    query<TableInfoRow>(`${tableInfoSelect} WHERE c.oid = to_regclass($1) AND c.relkind IN ('r', 'p')`, [
      name.split(".").map(quoteIdent).join(".")
    ]),
    (rows) => (rows[0] ? toInfo(rows[0]) : undefined)
  )

/** The type of a column (`format_type`), or undefined when the table has no such column. */
export const columnType = (
  query: Query,
  table: TableInfo,
  column: string
): Effect.Effect<string | undefined, SqlError> =>
  Effect.map(
    query<{ type: string }>(
      `SELECT format_type(a.atttypid, a.atttypmod) AS type FROM pg_attribute a
        WHERE a.attrelid = $1::regclass AND a.attname = $2 AND a.attnum > 0 AND NOT a.attisdropped`,
      [table.sql, column]
    ),
    (rows) => rows[0]?.type
  )

/**
 * The expression naming a row of `table` (aliased `alias`) in samples: its primary key as text
 * ("42", or "(a, b)" for a composite key), else its ctid. Keys, never other column values.
 */
export const keyExpression = (table: TableInfo, alias: string): string => {
  const columns = table.primaryKey.map((c) => `${alias}.${quoteIdent(c)}::text`)
  if (columns.length === 0) return `${alias}.ctid::text`
  return columns.length === 1 ? columns[0]! : `'(' || concat_ws(', ', ${columns.join(", ")}) || ')'`
}

/** A tenant, as the commands name it. */
export interface TenantRef {
  readonly id: string
  readonly slug: string
}

/**
 * A tenant by slug, id or domain: from dbkit's registry (dbkit.tenants) when there is one, else
 * (by slug or id) from the project's own tenants table (dbkit.config.ts `tenancy.tenantTable`).
 * Both keep the same id for a tenant.
 */
export const resolveTenant = (
  query: Query,
  tenant: string,
  tenantTable?: string | undefined
): Effect.Effect<TenantRef, TenantNotFound | SqlError> =>
  Effect.gen(function*() {
    const [present] = yield* query<{ registry: boolean; own: boolean }>(
      `SELECT to_regclass('dbkit.tenants') IS NOT NULL AS registry,
              EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass($1::text) AND attname = 'slug' AND NOT attisdropped) AS own`,
      [tenantTable === undefined ? null : quoteQualified(tenantTable)]
    )
    // One registry: where dbkit.tenants exists it alone answers (as it does for `audit report`
    // and withTenant), by the same lookup; the project's own table only stands in for a database without it.
    const [row] = present?.registry
      ? yield* query<TenantRef>(
        `SELECT id::text AS id, slug FROM dbkit.tenants WHERE ${lookupBy(tenant)[0]}`,
        [lookupBy(tenant)[1]]
      )
      : present?.own && tenantTable !== undefined
      ? yield* query<TenantRef>(
        `SELECT id::text AS id, slug FROM ${quoteQualified(tenantTable)} WHERE ${
          isUuid(tenant) ? "id = $1::uuid" : "slug = $1"
        }`,
        [tenant]
      )
      : []
    if (row) return row
    return yield* new TenantNotFound({ tenant })
  })
