/**
 * `db stats`: where the time and the space go — top statements from pg_stat_statements, table
 * and index sizes and usage — and what to do about it: tables read by large sequential scans
 * (a missing index?) and indexes never scanned (drop them?).
 *
 * Statement text is shown only for statements pg_stat_statements normalises (SELECT, INSERT,
 * UPDATE, DELETE, MERGE, WITH: literals become $n), without comments and cut to 80 characters;
 * any other statement (SET, ALTER ROLE … PASSWORD …) only by its first keyword. The largest
 * tables and indexes are chosen and ordered by their actual size (`pg_total_relation_size`,
 * `pg_relation_size`), never by the catalog's `relpages`, which only VACUUM, ANALYZE and CREATE
 * INDEX update: an index that grew since would rank as the few kilobytes it once was. Each size
 * takes the relation's lightest lock for the moment it reads the file sizes, under the read's
 * short lock_timeout.
 */
import type { SqlError } from "@effect/sql/SqlError"
import * as Effect from "effect/Effect"
import { firstKeyword, percent } from "../health/status.js"
import { quoteIdent } from "../Identifier.js"
import { reason as reasonOf } from "../ServerError.js"
import type { Query } from "./catalog.js"
import type { MaintenanceThresholds } from "./thresholds.js"

/** One statement from pg_stat_statements. */
export interface TopQuery {
  /** Normalised text (≤ 80 characters) or only its first keyword; see `describeStatement`. */
  readonly query: string
  readonly calls: number
  readonly totalMs: number
  readonly meanMs: number
  readonly rows: number
}

/** Top statements, or why there are none. */
export interface TopQueries {
  readonly status: "ok" | "not installed" | "not loaded" | "not applicable" | "unavailable"
  /** What to do when status is not ok. */
  readonly detail: string
  readonly queries: ReadonlyArray<TopQuery>
}

/** One table's size and how it is read. */
export interface TableUsage {
  readonly table: string
  readonly liveRows: number
  readonly deadRows: number
  readonly seqScans: number
  readonly seqRowsRead: number
  readonly indexScans: number
  readonly tableBytes: number
  readonly indexBytes: number
  readonly totalBytes: number
}

/** One index's size and use. */
export interface IndexUsage {
  readonly index: string
  readonly table: string
  readonly scans: number
  readonly bytes: number
  readonly unique: boolean
}

/** Something worth doing, with its evidence. */
export interface Recommendation {
  readonly kind: "missing-index" | "unused-index"
  /** The table (missing-index) or index (unused-index). */
  readonly target: string
  /** One line: the figures and the suggestion. */
  readonly detail: string
}

export interface StatsReport {
  /** When the statistics were last reset (they count since then), if known. */
  readonly statsSince: string | null
  readonly topQueries: TopQueries
  readonly tables: ReadonlyArray<TableUsage>
  readonly indexes: ReadonlyArray<IndexUsage>
  readonly recommendations: ReadonlyArray<Recommendation>
}

export interface StatsOptions {
  /** How many statements, tables and indexes to list (default 10). */
  readonly limit?: number | undefined
}

const NORMALISED = new Set(["SELECT", "INSERT", "UPDATE", "DELETE", "MERGE", "WITH", "VALUES", "TABLE"])
const MAX_QUERY = 80

/**
 * What a report may say about a statement from pg_stat_statements: its normalised text when the
 * extension replaces its literals with $n (DML), without comments, on one line, at most 80
 * characters; otherwise only its first keyword ("SET …"), since utility statements keep theirs.
 */
export const describeStatement = (query: string | null | undefined): string => {
  const keyword = firstKeyword(query)
  if (query === null || query === undefined || !NORMALISED.has(keyword)) return `${keyword} …`
  const text = query.replace(/\/\*[\s\S]*?(\*\/|$)/g, " ").replace(/--[^\n]*/g, " ").replace(/\s+/g, " ").trim()
  return text.length > MAX_QUERY ? `${text.slice(0, MAX_QUERY - 1)}…` : text
}

/** Table statistics without sizes, for recommendations over every table. */
export interface TableScanRow {
  readonly table: string
  readonly live: number
  readonly seq_scan: number
  readonly seq_read: number
  readonly idx_scan: number | null
}

/** A never-scanned index and its size. */
export interface UnusedIndexRow {
  readonly index: string
  readonly table: string
  readonly bytes: number
}

const count = (n: number) => Math.round(n).toLocaleString("en-US")

/** Big tables read mostly by big sequential scans, and never-scanned indexes worth their space. */
export const recommend = (
  tables: ReadonlyArray<TableScanRow>,
  unused: ReadonlyArray<UnusedIndexRow>,
  thresholds: MaintenanceThresholds,
  statsSince: string | null
): ReadonlyArray<Recommendation> => {
  const missing = tables.flatMap((t): ReadonlyArray<Recommendation> => {
    const indexScans = t.idx_scan ?? 0
    const perScan = t.seq_scan > 0 ? t.seq_read / t.seq_scan : 0
    const candidate = t.live >= thresholds.seqScanMinRows && t.seq_scan >= thresholds.seqScanMinScans &&
      perScan >= thresholds.seqScanMinRows && indexScans < t.seq_scan
    if (!candidate) return []
    return [{
      kind: "missing-index",
      target: t.table,
      detail:
        `${count(t.seq_scan)} sequential scans read ${count(perScan)} rows each on average (${count(t.live)} rows, ` +
        `${count(indexScans)} index scans, ${percent(t.seq_scan / (t.seq_scan + indexScans))} of reads sequential): ` +
        `index the columns its frequent queries filter on (see the top queries, then EXPLAIN them)`
    }]
  })
  const since = statsSince ? ` since ${statsSince}` : " since statistics were reset"
  const drop = unused
    .filter((i) => i.bytes >= thresholds.unusedIndexMinBytes)
    .map((i): Recommendation => ({
      kind: "unused-index",
      target: i.index,
      detail: `never scanned${since}, ${count(i.bytes)} bytes on ${i.table}: DROP INDEX CONCURRENTLY ${i.index} ` +
        `(check replicas and rare jobs first; it still slows every write)`
    }))
  return [...missing, ...drop]
}

const qualified = (schema: string, name: string) => `${schema}.${name}`

/** pg_stat_statements' top statements by total time, or why they cannot be read. */
const topQueries = (query: Query, embedded: boolean, limit: number): Effect.Effect<TopQueries, SqlError> =>
  Effect.gen(function*() {
    if (embedded) {
      return {
        status: "not applicable",
        detail: "not applicable on the embedded database (pg_stat_statements needs a server that preloads it)",
        queries: []
      }
    }
    const [ext] = yield* query<{ schema: string | null; loaded: boolean; available: boolean }>(
      `SELECT (SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'pg_stat_statements') AS schema,
              'pg_stat_statements' = ANY (string_to_array(replace(current_setting('shared_preload_libraries'), ' ', ''), ',')) AS loaded,
              EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'pg_stat_statements') AS available`
    )
    const preload =
      "add pg_stat_statements to shared_preload_libraries in postgresql.conf (or ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements') and restart the server"
    if (!ext?.schema) {
      return {
        status: "not installed",
        detail:
          `pg_stat_statements is not installed: ${
            ext?.loaded ? "" : `${preload}, then `
          }run CREATE EXTENSION pg_stat_statements in this database` +
          (ext?.available ? "" : " (the server's contrib package must be installed first)"),
        queries: []
      }
    }
    if (!ext.loaded) {
      return { status: "not loaded", detail: `pg_stat_statements is installed but not loaded: ${preload}`, queries: [] }
    }
    const rows = yield* query<{ query: string | null; calls: number; total_ms: number; mean_ms: number; rows: number }>(
      `SELECT query, calls::float8 AS calls, total_exec_time::float8 AS total_ms, mean_exec_time::float8 AS mean_ms, rows::float8 AS rows
         FROM ${quoteIdent(ext.schema)}.pg_stat_statements
        WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
        ORDER BY total_exec_time DESC LIMIT $1`,
      [limit]
    ).pipe(Effect.either)
    if (rows._tag === "Left") {
      return {
        status: "unavailable",
        detail: `pg_stat_statements could not be read: ${reasonOf(rows.left)}`,
        queries: []
      }
    }
    return {
      status: "ok",
      detail: `top ${rows.right.length} statements by total execution time`,
      queries: rows.right.map((r) => ({
        query: describeStatement(r.query),
        calls: r.calls,
        totalMs: Math.round(r.total_ms * 100) / 100,
        meanMs: Math.round(r.mean_ms * 100) / 100,
        rows: r.rows
      }))
    }
  })

/** The stats report. */
export const stats = (
  query: Query,
  options: { readonly embedded: boolean; readonly limit: number; readonly thresholds: MaintenanceThresholds }
): Effect.Effect<StatsReport, SqlError> =>
  Effect.gen(function*() {
    const [since] = yield* query<{ since: Date | string | null }>(
      "SELECT stats_reset AS since FROM pg_stat_database WHERE datname = current_database()"
    )
    const statsSince = since?.since ? new Date(since.since).toISOString() : null
    const top = yield* topQueries(query, options.embedded, options.limit)
    // The largest by actual size (measured for every table and index; see the header).
    const tables = yield* query<{
      schema: string
      table: string
      live: number
      dead: number
      seq_scan: number
      seq_read: number
      idx_scan: number | null
      table_bytes: number
      index_bytes: number
      total_bytes: number
    }>(
      `SELECT s.schemaname AS schema, s.relname AS table, s.n_live_tup::float8 AS live, s.n_dead_tup::float8 AS dead,
              s.seq_scan::float8 AS seq_scan, s.seq_tup_read::float8 AS seq_read, s.idx_scan::float8 AS idx_scan,
              pg_relation_size(s.relid)::float8 AS table_bytes, pg_indexes_size(s.relid)::float8 AS index_bytes,
              pg_total_relation_size(s.relid)::float8 AS total_bytes
         FROM pg_stat_user_tables s
        ORDER BY total_bytes DESC NULLS LAST, schema, "table" LIMIT $1`,
      [options.limit]
    )
    const indexes = yield* query<
      { schema: string; index: string; table: string; scans: number; bytes: number; unique: boolean }
    >(
      `SELECT s.schemaname AS schema, s.indexrelname AS index, s.relname AS table, s.idx_scan::float8 AS scans,
              i.indisunique AS unique, pg_relation_size(s.indexrelid)::float8 AS bytes
         FROM pg_stat_user_indexes s JOIN pg_index i ON i.indexrelid = s.indexrelid
        ORDER BY bytes DESC NULLS LAST, schema, index LIMIT $1`,
      [options.limit]
    )
    const scans = yield* query<TableScanRow>(
      `SELECT format('%s.%s', schemaname, relname) AS table, n_live_tup::float8 AS live, seq_scan::float8 AS seq_scan,
              seq_tup_read::float8 AS seq_read, idx_scan::float8 AS idx_scan
         FROM pg_stat_user_tables WHERE n_live_tup >= $1 AND seq_scan >= $2 ORDER BY seq_tup_read DESC, 1`,
      [options.thresholds.seqScanMinRows, options.thresholds.seqScanMinScans]
    )
    // Unique and constraint indexes enforce something; an index being built is not unused yet.
    const unused = yield* query<UnusedIndexRow>(
      `SELECT format('%s.%s', s.schemaname, s.indexrelname) AS index, format('%s.%s', s.schemaname, s.relname) AS table,
              pg_relation_size(s.indexrelid)::float8 AS bytes
         FROM pg_stat_user_indexes s
         JOIN pg_index i ON i.indexrelid = s.indexrelid
        WHERE s.idx_scan = 0 AND NOT i.indisunique AND NOT i.indisprimary AND i.indisvalid
          AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = s.indexrelid)
        ORDER BY bytes DESC, 1`
    )
    return {
      statsSince,
      topQueries: top,
      tables: tables.map((t) => ({
        table: qualified(t.schema, t.table),
        liveRows: t.live,
        deadRows: t.dead,
        seqScans: t.seq_scan,
        seqRowsRead: t.seq_read,
        indexScans: t.idx_scan ?? 0,
        tableBytes: t.table_bytes,
        indexBytes: t.index_bytes,
        totalBytes: t.total_bytes
      })),
      indexes: indexes.map((i) => ({
        index: qualified(i.schema, i.index),
        table: qualified(i.schema, i.table),
        scans: i.scans,
        bytes: i.bytes,
        unique: i.unique
      })),
      recommendations: recommend(scans, unused, options.thresholds, statsSince)
    } satisfies StatsReport
  })
