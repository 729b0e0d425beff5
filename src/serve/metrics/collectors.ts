/**
 * What `/metrics` reports, one collector per figure family, each a function from what it may use
 * to metric families. Where postgres_exporter reports the same figure, the name and labels are
 * its own (pg_up, pg_stat_activity_count, pg_database_size_bytes, …) so existing dashboards and
 * alerts read them; dbkit's own figures are `dbkit_*`.
 *
 * Catalog queries read no table data and take no relation locks (sizes from `pg_class.relpages`,
 * as the health checks do). Label sets are bounded: tables, sequences and statements are the top
 * N, never all of them. A query's text is never a label (it may hold personal data); statements
 * are labelled by pg_stat_statements' normalised `queryid`.
 */
import * as Effect from "effect/Effect"
import type { Backup } from "../../backup/Backup.js"
import type { Migrator } from "../../migrator/Migrator.js"
import { counter, type Family, gauge, type Sample } from "./format.js"

/** What collectors may use: catalog queries in the scrape's transaction, and the dbkit services. */
export interface CollectorContext {
  readonly query: <A extends object>(
    text: string,
    params?: ReadonlyArray<unknown>
  ) => Effect.Effect<ReadonlyArray<A>, unknown>
  readonly migrator: Migrator["Type"]
  readonly backup: Backup["Type"]
}

/**
 * One collector. `sql`: its queries run in the scrape's read-only transaction (each collector
 * under its own savepoint, so one failing leaves the others' answers); `services`: it asks the
 * dbkit services, outside that transaction. `offline`: it still means something while the
 * database does not answer (files on disk).
 */
export interface Collector {
  readonly name: string
  readonly uses: "sql" | "services"
  readonly offline?: boolean
  readonly collect: (context: CollectorContext) => Effect.Effect<ReadonlyArray<Family>, unknown>
}

/** How many tables, sequences, statements and job names a scrape reports at most. */
export const TOP_N = 20

/** The session states postgres_exporter always reports for a database, present or not. */
const STATES = ["active", "idle", "idle in transaction", "idle in transaction (aborted)"] as const

const activity: Collector = {
  name: "activity",
  uses: "sql",
  collect: ({ query }) =>
    Effect.gen(function*() {
      // Client sessions other than the scrape's own, so the scrape does not measure itself.
      const rows = yield* query<{ datname: string; state: string; n: number; max_tx: number; max_query: number }>(
        `SELECT datname, coalesce(state, 'unknown') AS state, count(*)::int AS n,
                coalesce(max(extract(epoch FROM clock_timestamp() - xact_start)), 0)::float8 AS max_tx,
                coalesce(max(extract(epoch FROM clock_timestamp() - query_start)) FILTER (WHERE state = 'active'), 0)::float8
                  AS max_query
           FROM pg_stat_activity
          WHERE datname IS NOT NULL AND backend_type = 'client backend' AND pid <> pg_backend_pid()
          GROUP BY datname, state
          ORDER BY datname, state`
      )
      const [here] = yield* query<{ name: string }>("SELECT current_database() AS name")
      const current = here?.name ?? ""
      const seen = new Set(rows.map((r) => `${r.datname}\u0000${r.state}`))
      // The usual states of this database at 0 when absent, so `absent()` means "not scraped".
      const zeros = STATES.filter((state) => !seen.has(`${current}\u0000${state}`)).map((state) => ({
        datname: current,
        state,
        n: 0,
        max_tx: 0,
        max_query: 0
      }))
      const all = [...rows, ...zeros]
      const byDatabase = new Map<string, number>()
      for (const r of all) byDatabase.set(r.datname, Math.max(byDatabase.get(r.datname) ?? 0, r.max_query))
      return [
        gauge(
          "pg_stat_activity_count",
          "Client sessions in this state (the scrape's own excluded)",
          all.map((r) => ({ labels: { datname: r.datname, state: r.state }, value: r.n }))
        ),
        gauge(
          "pg_stat_activity_max_tx_duration",
          "Age in seconds of the oldest open transaction of a session in this state",
          all.map((r) => ({ labels: { datname: r.datname, state: r.state }, value: r.max_tx }))
        ),
        gauge(
          "dbkit_stat_activity_max_query_duration_seconds",
          "Age in seconds of the longest-running active query",
          [...byDatabase].map(([datname, value]) => ({ labels: { datname }, value }))
        )
      ]
    })
}

const connectionsLimit: Collector = {
  name: "settings",
  uses: "sql",
  collect: ({ query }) =>
    Effect.map(
      query<{ max: number; reserved: number }>(
        `SELECT current_setting('max_connections')::int AS max,
                current_setting('superuser_reserved_connections')::int AS reserved`
      ),
      ([row]) => [
        gauge("pg_settings_max_connections", "Sets the maximum number of concurrent connections.", [{
          value: row?.max ?? 0
        }]),
        gauge(
          "pg_settings_superuser_reserved_connections",
          "Sets the number of connection slots reserved for superusers.",
          [{ value: row?.reserved ?? 0 }]
        )
      ]
    )
}

const blocked: Collector = {
  name: "locks",
  uses: "sql",
  collect: ({ query }) =>
    Effect.map(
      query<{ datname: string; n: number; longest: number }>(
        `SELECT current_database() AS datname, count(*)::int AS n,
                coalesce(max(extract(epoch FROM clock_timestamp() - coalesce(state_change, query_start))), 0)::float8 AS longest
           FROM pg_stat_activity
          WHERE wait_event_type = 'Lock' AND pid <> pg_backend_pid() AND datname = current_database()`
      ),
      (rows) => [
        gauge(
          "dbkit_blocked_sessions",
          "Sessions waiting for a lock another session holds",
          rows.map((r) => ({ labels: { datname: r.datname }, value: r.n }))
        ),
        gauge(
          "dbkit_blocked_max_wait_seconds",
          "Seconds the longest lock wait has lasted (0 when none waits)",
          rows.map((r) => ({ labels: { datname: r.datname }, value: r.longest }))
        )
      ]
    )
}

const databases: Collector = {
  name: "databases",
  uses: "sql",
  collect: ({ query }) =>
    Effect.map(
      query<
        {
          datname: string
          datid: string
          xid_age: number
          bytes: number | null
          hit: number | null
          read: number | null
          current: boolean
        }
      >(
        `SELECT d.datname, d.oid::text AS datid, age(d.datfrozenxid)::float8 AS xid_age,
                CASE WHEN has_database_privilege(d.oid, 'CONNECT') THEN pg_database_size(d.oid)::float8 END AS bytes,
                s.blks_hit::float8 AS hit, s.blks_read::float8 AS read,
                d.datname = current_database() AS current
           FROM pg_database d LEFT JOIN pg_stat_database s ON s.datid = d.oid
          ORDER BY d.datname`
      ),
      (rows) => {
        const here = rows.filter((r) => r.current)
        const labels = (r: { datname: string; datid: string }) => ({ datid: r.datid, datname: r.datname })
        return [
          gauge(
            "pg_database_size_bytes",
            "Disk space used by the database",
            rows.flatMap((r) => (r.bytes === null ? [] : [{ labels: { datname: r.datname }, value: r.bytes }]))
          ),
          gauge(
            "dbkit_database_xid_age",
            "Transactions since the database's oldest unfrozen transaction ID (age(datfrozenxid)); wraparound at 2^31",
            rows.map((r) => ({ labels: { datname: r.datname }, value: r.xid_age }))
          ),
          counter(
            "pg_stat_database_blks_hit",
            "Number of times disk blocks were found already in the buffer cache",
            here.map((r) => ({ labels: labels(r), value: r.hit ?? 0 }))
          ),
          counter(
            "pg_stat_database_blks_read",
            "Number of disk blocks read in this database",
            here.map((r) => ({ labels: labels(r), value: r.read ?? 0 }))
          ),
          gauge(
            "dbkit_cache_hit_ratio",
            "Share of block requests found in shared buffers since statistics were reset (absent before any)",
            here.flatMap((r) => {
              const total = (r.hit ?? 0) + (r.read ?? 0)
              return total === 0 ? [] : [{ labels: { datname: r.datname }, value: (r.hit ?? 0) / total }]
            })
          )
        ]
      }
    )
}

const sequences: Collector = {
  name: "sequences",
  uses: "sql",
  collect: ({ query }) =>
    Effect.map(
      query<{ schemaname: string; sequencename: string; used: number }>(
        `SELECT schemaname, sequencename,
                ((CASE WHEN increment_by > 0 THEN last_value::numeric - min_value::numeric
                       ELSE max_value::numeric - last_value::numeric END)
                 / nullif(max_value::numeric - min_value::numeric, 0))::float8 AS used
           FROM pg_sequences
          WHERE last_value IS NOT NULL
          ORDER BY used DESC NULLS LAST, 1, 2 LIMIT $1`,
        [TOP_N]
      ),
      (rows) => [
        gauge(
          "dbkit_sequence_used_ratio",
          `Share of its range a sequence has used (1 - headroom); the ${TOP_N} fullest`,
          rows.map((r) => ({
            labels: { schemaname: r.schemaname, sequencename: r.sequencename },
            value: r.used ?? 0
          }))
        )
      ]
    )
}

const tables: Collector = {
  name: "tables",
  uses: "sql",
  collect: ({ query }) =>
    Effect.map(
      query<
        {
          schemaname: string
          relname: string
          live: number
          dead: number
          bytes: number
          size_rank: number
          dead_rank: number
        }
      >(
        `WITH t AS (
           SELECT s.schemaname, s.relname, s.n_live_tup::float8 AS live, s.n_dead_tup::float8 AS dead,
                  (c.relpages::float8 + coalesce(toast.relpages, 0)::float8
                   + coalesce((SELECT sum(i.relpages) FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
                                WHERE x.indrelid = c.oid), 0)::float8) * current_setting('block_size')::float8 AS bytes
             FROM pg_stat_user_tables s
             JOIN pg_class c ON c.oid = s.relid
             LEFT JOIN pg_class toast ON toast.oid = c.reltoastrelid
         )
         SELECT * FROM (
           SELECT t.*, row_number() OVER (ORDER BY bytes DESC, schemaname, relname)::int AS size_rank,
                  row_number() OVER (ORDER BY dead DESC, schemaname, relname)::int AS dead_rank
             FROM t
         ) ranked
         WHERE size_rank <= $1 OR dead_rank <= $1
         ORDER BY schemaname, relname`,
        [TOP_N]
      ),
      (rows) => {
        const labels = (r: { schemaname: string; relname: string }, datname = {}) => ({
          ...datname,
          schemaname: r.schemaname,
          relname: r.relname
        })
        const bySize = rows.filter((r) => r.size_rank <= TOP_N)
        const byDead = rows.filter((r) => r.dead_rank <= TOP_N)
        return [
          gauge(
            "dbkit_table_size_bytes",
            `Estimated size of a table with its TOAST and indexes (pg_class.relpages, as of the last VACUUM or ANALYZE); the ${TOP_N} largest`,
            bySize.map((r) => ({ labels: labels(r), value: r.bytes }))
          ),
          gauge(
            "pg_stat_user_tables_n_dead_tup",
            `Estimated number of dead rows; the ${TOP_N} tables with most`,
            byDead.map((r) => ({ labels: labels(r), value: r.dead }))
          ),
          gauge(
            "pg_stat_user_tables_n_live_tup",
            `Estimated number of live rows; the ${TOP_N} tables with most dead rows`,
            byDead.map((r) => ({ labels: labels(r), value: r.live }))
          )
        ]
      }
    )
}

const replication: Collector = {
  name: "replication",
  uses: "sql",
  collect: ({ query }) =>
    Effect.gen(function*() {
      const [role] = yield* query<{ standby: boolean; lag: number }>(
        `SELECT pg_is_in_recovery() AS standby,
                CASE WHEN pg_is_in_recovery()
                     THEN greatest(0, coalesce(extract(epoch FROM clock_timestamp() - pg_last_xact_replay_timestamp()), 0))
                     ELSE 0 END::float8 AS lag`
      )
      // Replicas of a primary, one series per application_name (its worst), so names bound the labels.
      const replicas = role?.standby ? [] : yield* query<{ app: string; lag: number }>(
        `SELECT coalesce(nullif(application_name, ''), 'replica') AS app,
                coalesce(max(extract(epoch FROM replay_lag)), 0)::float8 AS lag
           FROM pg_stat_replication GROUP BY 1 ORDER BY 1 LIMIT $1`,
        [TOP_N]
      )
      return [
        gauge("pg_replication_is_replica", "1 when this server is a standby", [{ value: role?.standby ? 1 : 0 }]),
        gauge(
          "pg_replication_lag_seconds",
          "Seconds since the last transaction replayed on this standby (0 on a primary; an idle primary also looks like lag)",
          [{ value: role?.lag ?? 0 }]
        ),
        gauge(
          "dbkit_replica_replay_lag_seconds",
          "Replay lag a replica reports to this primary (pg_stat_replication.replay_lag)",
          replicas.map((r) => ({ labels: { application_name: r.app }, value: r.lag }))
        )
      ]
    })
}

/** `dbkit.jobs` (written by the job scheduler): nothing when the table does not exist. */
const jobs: Collector = {
  name: "jobs",
  uses: "sql",
  collect: ({ query }) =>
    Effect.gen(function*() {
      const [table] = yield* query<{ present: boolean }>("SELECT to_regclass('dbkit.jobs') IS NOT NULL AS present")
      if (!table?.present) return []
      const rows = yield* query<
        {
          name: string
          last_duration: number | null
          last_success: number | null
          running: number
          statuses: Record<string, number>
        }
      >(
        `SELECT name,
                (array_agg(extract(epoch FROM finished_at - started_at)::float8 ORDER BY started_at DESC)
                   FILTER (WHERE finished_at IS NOT NULL AND status IN ('succeeded', 'failed', 'interrupted')))[1] AS last_duration,
                extract(epoch FROM max(finished_at) FILTER (WHERE status = 'succeeded'))::float8 AS last_success,
                count(*) FILTER (WHERE status = 'running')::int AS running,
                jsonb_build_object(
                  'succeeded', count(*) FILTER (WHERE status = 'succeeded'),
                  'failed', count(*) FILTER (WHERE status = 'failed'),
                  'interrupted', count(*) FILTER (WHERE status = 'interrupted'),
                  'skipped', count(*) FILTER (WHERE status = 'skipped')) AS statuses
           FROM dbkit.jobs GROUP BY name ORDER BY name LIMIT $1`,
        [TOP_N * 5]
      )
      const statuses = typeof rows[0]?.statuses === "string" // a driver that leaves jsonb as text
        ? rows.map((r) => ({ ...r, statuses: JSON.parse(r.statuses as unknown as string) as Record<string, number> }))
        : rows
      return [
        gauge(
          "dbkit_job_runs",
          "Finished runs of a job recorded in dbkit.jobs, by outcome (a gauge: old rows may be pruned)",
          statuses.flatMap((r) =>
            Object.entries(r.statuses).map(([status, n]) => ({
              labels: { job_name: r.name, status },
              value: Number(n)
            }))
          )
        ),
        gauge(
          "dbkit_job_running",
          "Runs of a job recorded as running",
          rows.map((r) => ({ labels: { job_name: r.name }, value: r.running }))
        ),
        gauge(
          "dbkit_job_last_duration_seconds",
          "Duration of a job's most recent finished run (succeeded, failed or interrupted)",
          rows.flatMap((r) =>
            r.last_duration === null ? [] : [{ labels: { job_name: r.name }, value: r.last_duration }]
          )
        ),
        gauge(
          "dbkit_job_last_success_timestamp_seconds",
          "When a job last finished successfully (Unix time)",
          rows.flatMap((
            r
          ) => (r.last_success === null ? [] : [{ labels: { job_name: r.name }, value: r.last_success }]))
        )
      ]
    })
}

/** pg_stat_statements' top statements by total time, when the extension is installed and loaded. */
const statements: Collector = {
  name: "statements",
  uses: "sql",
  collect: ({ query }) =>
    Effect.gen(function*() {
      // Without shared_preload_libraries the view exists but every read fails: not available, not an error.
      const [available] = yield* query<{ ok: boolean }>(
        `SELECT to_regclass('pg_stat_statements') IS NOT NULL
                AND current_setting('shared_preload_libraries') ~ '(^|[\\s,])"?pg_stat_statements"?($|[\\s,])' AS ok`
      )
      if (!available?.ok) return []
      // One series per (queryid, role) in this database: top-level and nested rows are summed.
      const rows = yield* query<
        { queryid: string; rolname: string; datname: string; calls: number; total: number; rows: number }
      >(
        `SELECT s.queryid::text AS queryid, r.rolname, current_database() AS datname,
                sum(s.calls)::float8 AS calls, (sum(s.total_exec_time) / 1000)::float8 AS total, sum(s.rows)::float8 AS rows
           FROM pg_stat_statements s JOIN pg_roles r ON r.oid = s.userid
          WHERE s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) AND s.queryid IS NOT NULL
          GROUP BY s.queryid, r.rolname
          ORDER BY total DESC LIMIT $1`,
        [TOP_N]
      )
      const series = (value: (r: typeof rows[number]) => number): Array<Sample> =>
        rows.map((r) => ({ labels: { rolname: r.rolname, datname: r.datname, queryid: r.queryid }, value: value(r) }))
      return [
        counter(
          "pg_stat_statements_calls",
          `Number of times executed; the ${TOP_N} statements with most total time`,
          series((r) => r.calls)
        ),
        counter(
          "pg_stat_statements_total_time_seconds",
          "Total time spent executing the statement, in seconds",
          series((r) => r.total)
        ),
        counter(
          "pg_stat_statements_rows",
          "Total number of rows retrieved or affected by the statement",
          series((r) => r.rows)
        )
      ]
    })
}

const migrations: Collector = {
  name: "migrations",
  uses: "services",
  collect: ({ migrator }) =>
    Effect.map(migrator.status, (status) => [
      gauge("dbkit_migrations_pending", "Migrations in the source not yet applied", [{ value: status.pending.length }]),
      gauge("dbkit_migrations_applied", "Migrations recorded as applied", [{ value: status.applied.length }]),
      gauge(
        "dbkit_migrations_failed",
        "Migrations recorded as failed, or changed since they were applied (dbkit migrate status says which)",
        [{ value: status.failed.length + status.changed.length }]
      )
    ])
}

const backups: Collector = {
  name: "backups",
  uses: "services",
  offline: true,
  collect: ({ backup }) =>
    Effect.map(backup.list(), (listed) => {
      const newest = listed[0] // newest first
      const verified = listed.find((b) => b.verified !== null)
      const at = (iso: string) => Date.parse(iso) / 1000
      const now = Date.now() / 1000
      return [
        gauge("dbkit_backups", "Backups with a dbkit manifest in the backup directory", [{ value: listed.length }]),
        gauge(
          "dbkit_backup_newest_timestamp_seconds",
          "When the newest backup was taken (Unix time)",
          newest ? [{ value: at(newest.createdAt) }] : []
        ),
        gauge(
          "dbkit_backup_newest_age_seconds",
          "Seconds since the newest backup was taken (absent when there is none: alert on dbkit_backups == 0)",
          newest ? [{ value: Math.max(0, now - at(newest.createdAt)) }] : []
        ),
        gauge(
          "dbkit_backup_newest_size_bytes",
          "Size of the newest backup file",
          newest ? [{ value: newest.bytes }] : []
        ),
        gauge(
          "dbkit_backup_newest_verified_timestamp_seconds",
          "When the newest verified backup was taken (Unix time)",
          verified ? [{ value: at(verified.createdAt) }] : []
        )
      ]
    })
}

/** Every collector, in output order. */
export const collectors: ReadonlyArray<Collector> = [
  activity,
  connectionsLimit,
  blocked,
  databases,
  sequences,
  tables,
  replication,
  statements,
  jobs,
  migrations,
  backups
]
