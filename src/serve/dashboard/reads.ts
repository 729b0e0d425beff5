/**
 * What the dashboard reads that no service already answers: sessions and connections from
 * pg_stat_activity, vacuum and analyze times from pg_stat_user_tables, the jobs' last runs.
 * Everything else (health, top statements, sizes, index advice, the maintenance plan, backups,
 * migrations) comes from the services, so the dashboard says what `dbkit health`, `db stats`,
 * `db maintain --plan`, `backups list` and `migrate status` say.
 *
 * Every read runs through a `Query` (maintenance/catalog.ts `readOnly`): a READ ONLY transaction
 * with a statement timeout, so a page can neither change the database nor hang on it. Session
 * queries are described only by their first keyword, as health does: their text may hold
 * personal data in literals.
 */
import type { SqlError } from "@effect/sql/SqlError"
import * as Effect from "effect/Effect"
import { firstKeyword } from "../../health/status.js"
import type { Query } from "../../maintenance/catalog.js"

/** Client connections by state, and the server's limit. */
export interface Connections {
  readonly max: number
  readonly total: number
  readonly byState: ReadonlyArray<{ readonly state: string; readonly count: number }>
  readonly byApplication: ReadonlyArray<{ readonly application: string; readonly count: number }>
}

export const connections = (query: Query): Effect.Effect<Connections, SqlError> =>
  Effect.gen(function*() {
    const byState = yield* query<{ state: string; count: number }>(
      `SELECT coalesce(state, 'unknown') AS state, count(*)::int AS count FROM pg_stat_activity
        WHERE backend_type = 'client backend' GROUP BY 1 ORDER BY 2 DESC, 1`
    )
    const byApplication = yield* query<{ application: string; count: number }>(
      `SELECT coalesce(nullif(application_name, ''), '(none)') AS application, count(*)::int AS count
         FROM pg_stat_activity WHERE backend_type = 'client backend' GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 10`
    )
    const [setting] = yield* query<{ max: number }>(`SELECT current_setting('max_connections')::int AS max`)
    return {
      max: setting?.max ?? 0,
      total: byState.reduce((n, s) => n + s.count, 0),
      byState,
      byApplication
    }
  })

/** The database's size in bytes. */
export const databaseSize = (query: Query): Effect.Effect<number, SqlError> =>
  Effect.map(
    query<{ bytes: number }>("SELECT pg_database_size(current_database())::float8 AS bytes"),
    (rows) => rows[0]?.bytes ?? 0
  )

/** A session on this database doing something (not idle), longest-running first. */
export interface Session {
  readonly pid: number
  readonly user: string | null
  readonly database: string | null
  readonly application: string
  readonly state: string
  readonly wait: string | null
  /** Seconds since its current query started (or null). */
  readonly querySeconds: number | null
  /** Seconds since its transaction started (or null). */
  readonly transactionSeconds: number | null
  /** The query's first keyword only (see the header). */
  readonly statement: string
}

export const sessions = (query: Query): Effect.Effect<ReadonlyArray<Session>, SqlError> =>
  Effect.map(
    query<{
      pid: number
      user: string | null
      database: string | null
      application: string
      state: string | null
      wait: string | null
      query_seconds: number | null
      xact_seconds: number | null
      head: string | null
    }>(
      `SELECT pid, usename AS user, datname AS database, coalesce(application_name, '') AS application, state,
              CASE WHEN wait_event IS NULL THEN NULL ELSE wait_event_type || ': ' || wait_event END AS wait,
              extract(epoch FROM clock_timestamp() - query_start)::float8 AS query_seconds,
              extract(epoch FROM clock_timestamp() - xact_start)::float8 AS xact_seconds,
              left(query, 200) AS head
         FROM pg_stat_activity
        WHERE backend_type = 'client backend' AND state IS DISTINCT FROM 'idle' AND pid <> pg_backend_pid()
          AND datname = current_database()
        ORDER BY query_start NULLS LAST, pid LIMIT 100`
    ),
    (rows) =>
      rows.map((r) => ({
        pid: r.pid,
        user: r.user,
        database: r.database,
        application: r.application,
        state: r.state ?? "unknown",
        wait: r.wait,
        querySeconds: r.query_seconds,
        transactionSeconds: r.xact_seconds,
        statement: firstKeyword(r.head)
      }))
  )

/** One table's dead tuples and when it was last vacuumed and analyzed (by hand or autovacuum). */
export interface TableUpkeep {
  readonly table: string
  readonly live: number
  readonly dead: number
  readonly modifiedSinceAnalyze: number
  readonly lastVacuum: string | null
  readonly lastAutovacuum: string | null
  readonly lastAnalyze: string | null
  readonly lastAutoanalyze: string | null
}

const iso = (at: Date | string | null) => (at === null ? null : new Date(at).toISOString())

export const upkeep = (query: Query): Effect.Effect<ReadonlyArray<TableUpkeep>, SqlError> =>
  Effect.map(
    query<{
      table: string
      live: number
      dead: number
      modified: number
      last_vacuum: Date | string | null
      last_autovacuum: Date | string | null
      last_analyze: Date | string | null
      last_autoanalyze: Date | string | null
    }>(
      `SELECT format('%s.%s', schemaname, relname) AS table, n_live_tup::float8 AS live, n_dead_tup::float8 AS dead,
              n_mod_since_analyze::float8 AS modified, last_vacuum, last_autovacuum, last_analyze, last_autoanalyze
         FROM pg_stat_user_tables ORDER BY n_dead_tup DESC, 1 LIMIT 200`
    ),
    (rows) =>
      rows.map((r) => ({
        table: r.table,
        live: r.live,
        dead: r.dead,
        modifiedSinceAnalyze: r.modified,
        lastVacuum: iso(r.last_vacuum),
        lastAutovacuum: iso(r.last_autovacuum),
        lastAnalyze: iso(r.last_analyze),
        lastAutoanalyze: iso(r.last_autoanalyze)
      }))
  )

/** One run from `dbkit.jobs` (the scheduler's table). */
export interface JobRun {
  readonly id: string
  readonly name: string
  readonly kind: string
  readonly startedAt: string | null
  readonly finishedAt: string | null
  readonly status: string
  readonly error: string | null
  /** The run's `detail`, as compact JSON text. */
  readonly detail: string | null
  readonly host: string | null
  readonly pid: number | null
}

/** The last runs, newest first; `undefined` while the table does not exist (no scheduler ever ran here). */
export const jobRuns = (query: Query, limit = 100): Effect.Effect<ReadonlyArray<JobRun> | undefined, SqlError> =>
  Effect.gen(function*() {
    const [table] = yield* query<{ exists: boolean }>(`SELECT to_regclass('dbkit.jobs') IS NOT NULL AS "exists"`)
    if (table?.exists !== true) return undefined
    const rows = yield* query<{
      id: string
      name: string
      kind: string
      started_at: Date | string | null
      finished_at: Date | string | null
      status: string
      error: string | null
      detail: string | null
      host: string | null
      pid: number | null
    }>(
      `SELECT id::text AS id, name, kind, started_at, finished_at, status, error, detail::text AS detail, host, pid
         FROM dbkit.jobs ORDER BY started_at DESC NULLS LAST, id DESC LIMIT $1`,
      [limit]
    )
    return rows.map((r) => ({
      id: r.id,
      name: r.name,
      kind: r.kind,
      startedAt: iso(r.started_at),
      finishedAt: iso(r.finished_at),
      status: r.status,
      error: r.error,
      detail: r.detail,
      host: r.host,
      pid: r.pid
    }))
  })
