/**
 * The checks a DBA would run, each a small function from what it may use to one result line.
 *
 * Catalog queries run in a READ ONLY transaction with `statement_timeout` and `lock_timeout`
 * (Health.ts), read no table data, and take no relation locks (index sizes come from
 * `pg_class.relpages`, not `pg_relation_size`, which would queue behind an ACCESS EXCLUSIVE
 * lock). Sessions are described by pid, application_name, state and durations — a query only
 * by its first keyword, because its text may hold personal data.
 */
import type { SqlError } from "@effect/sql/SqlError"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as path from "node:path"
import type { Backup } from "../backup/Backup.js"
import { describeRedisUrl, makeRedis } from "../Cache.js"
import type { DatabaseShape } from "../Database.js"
import type { Migrator } from "../migrator/Migrator.js"
import * as Redact from "../Redact.js"
import { reason as reasonOf } from "../ServerError.js"
import { limit, type Thresholds } from "../Thresholds.js"
import { archiving } from "./archiving.js"
import { backupDisk, serverHost } from "./host.js"
import { jobs } from "./jobs.js"
import {
  type CheckStatus,
  firstKeyword,
  grade,
  gradeBelow,
  INVALID_INDEXES,
  listSome,
  type Outcome,
  percent,
  round,
  seconds
} from "./status.js"
import { tenancy } from "./tenancy.js"

/** What database checks may use. */
export interface DatabaseAccess {
  readonly database: DatabaseShape
  /** A catalog query, read-only and time-limited. */
  readonly query: <A extends object>(
    text: string,
    params?: ReadonlyArray<unknown>
  ) => Effect.Effect<ReadonlyArray<A>, SqlError>
  readonly migrator: Migrator["Type"]
  readonly backup: Backup["Type"]
}

export interface CheckEnv {
  readonly thresholds: Thresholds
  readonly redisUrl: Option.Option<Redacted.Redacted<string>>
}

/**
 * A check. `requires`: `answer` — the database must answer (skipped when connectivity fails);
 * `services` — the dbkit services only (backups read files); `nothing` — runs even when the
 * database was never reached (Redis).
 */
export type Check =
  | {
    readonly name: string
    readonly requires: "answer" | "services"
    /** Why the check means nothing on the embedded, single-session database. */
    readonly notOnEmbedded?: string
    readonly run: (db: DatabaseAccess, env: CheckEnv) => Effect.Effect<Outcome, unknown>
  }
  | {
    readonly name: string
    readonly requires: "nothing"
    readonly run: (env: CheckEnv) => Effect.Effect<Outcome, unknown>
  }

const outcome = (
  status: CheckStatus,
  value: Outcome["value"],
  unit: Outcome["unit"],
  threshold: string,
  detail: string
): Outcome => ({ status, value, unit, threshold, detail })

const notApplicable = (detail: string, threshold = ""): Outcome =>
  outcome("not applicable", null, null, threshold, detail)

const between = (warn: number, critical: number, unit: string) =>
  `warn > ${limit(warn, unit)}, critical > ${limit(critical, unit)}`

const ratioLimits = (warn: number, critical: number) => `warn > ${percent(warn)}, critical > ${percent(critical)}`

/** Connectivity and round-trip latency of `SELECT 1`; run first, it gates the checks needing answers. */
export const connectivity = {
  name: "connectivity",
  requires: "services",
  run: (db: DatabaseAccess, { thresholds }: CheckEnv): Effect.Effect<Outcome, unknown> =>
    Effect.gen(function*() {
      const started = performance.now()
      yield* db.query("SELECT 1 AS one")
      const ms = round(performance.now() - started)
      return outcome(
        grade(ms, thresholds.latencyMs),
        ms,
        "ms",
        `warn > ${limit(thresholds.latencyMs, " ms")}`,
        `${db.database.target} answered in ${ms} ms`
      )
    })
} as const satisfies Check

const serverVersion: Check = {
  name: "server-version",
  requires: "answer",
  run: (db, { thresholds }) =>
    Effect.gen(function*() {
      const [row] = yield* db.query<{ num: number; version: string }>(
        "SELECT current_setting('server_version_num')::int AS num, current_setting('server_version') AS version"
      )
      const major = Math.floor((row?.num ?? 0) / 10_000)
      const version = (row?.version ?? "?").split(" ")[0]!
      const status = gradeBelow(major, thresholds.minServerVersion)
      return outcome(
        status,
        version,
        null,
        `warn < ${thresholds.minServerVersion}`,
        status === "ok"
          ? `PostgreSQL ${version}${db.database.kind === "embedded" ? " (embedded)" : ""}`
          : `PostgreSQL ${version} is older than the supported ${thresholds.minServerVersion}; plan an upgrade`
      )
    })
}

const migrations: Check = {
  name: "migrations",
  requires: "answer",
  run: (db) =>
    Effect.gen(function*() {
      const status = yield* db.migrator.status
      const problems = [
        ...status.failed.map((f) => `${f.name} ${f.status}${f.statement ? ` at statement ${f.statement}` : ""}`),
        ...status.changed.map((c) => `${c.name} changed since applied`)
      ]
      const threshold = "pending or missing → warn, failed or changed → critical"
      if (problems.length > 0) {
        return outcome(
          "critical",
          problems.length,
          "count",
          threshold,
          `${listSome(problems)}; see dbkit migrate status`
        )
      }
      const waiting = [
        ...status.pending.map((name) => `${name} pending`),
        ...status.missing.map((name) => `${name} applied but missing from the source`)
      ]
      if (waiting.length > 0) return outcome("warn", waiting.length, "count", threshold, listSome(waiting))
      return outcome("ok", 0, "count", threshold, `up to date (${status.applied.length} applied)`)
    })
}

const connections: Check = {
  name: "connections",
  requires: "answer",
  notOnEmbedded: "the embedded database has one in-process session",
  run: (db, { thresholds }) =>
    Effect.gen(function*() {
      const [row] = yield* db.query<{ used: number; max: number; reserved: number }>(
        `SELECT (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend')::int AS used,
                current_setting('max_connections')::int AS max,
                current_setting('superuser_reserved_connections')::int AS reserved`
      )
      const used = row?.used ?? 0
      const max = row?.max ?? 1
      const ratio = used / max
      return outcome(
        grade(ratio, thresholds.connectionsWarn, thresholds.connectionsCritical),
        round(ratio, 6),
        "ratio",
        ratioLimits(thresholds.connectionsWarn, thresholds.connectionsCritical),
        `${used} of max_connections ${max} in use (${row?.reserved ?? 0} reserved for superusers)`
      )
    })
}

/** Sessions of this database other than ours, worst first. */
interface SessionRow {
  readonly pid: number
  readonly app: string
  readonly state: string | null
  readonly seconds: number
}

const sessionLabel = (row: SessionRow) => `pid ${row.pid}${row.app ? ` (${row.app})` : ""}`

const longQueries: Check = {
  name: "long-queries",
  requires: "answer",
  notOnEmbedded: "the embedded database runs one statement at a time, in this process",
  run: (db, { thresholds }) =>
    Effect.gen(function*() {
      const rows = yield* db.query<SessionRow & { head: string | null }>(
        `SELECT pid, coalesce(application_name, '') AS app, state,
                extract(epoch FROM clock_timestamp() - query_start)::float8 AS seconds,
                left(query, 200) AS head
           FROM pg_stat_activity
          WHERE state = 'active' AND backend_type = 'client backend' AND pid <> pg_backend_pid()
            AND datname = current_database() AND query_start IS NOT NULL
          ORDER BY query_start LIMIT 20`
      )
      const longest = rows[0]?.seconds ?? 0
      const slow = rows.filter((r) => r.seconds > thresholds.longQuerySeconds)
      const threshold = between(thresholds.longQuerySeconds, thresholds.longQueryCriticalSeconds, " s")
      if (slow.length === 0) {
        return outcome(
          "ok",
          round(longest),
          "s",
          threshold,
          `no query running longer than ${limit(thresholds.longQuerySeconds, " s")}`
        )
      }
      return outcome(
        grade(longest, thresholds.longQuerySeconds, thresholds.longQueryCriticalSeconds),
        round(longest),
        "s",
        threshold,
        listSome(slow.map((r) => `${sessionLabel(r)} ${r.state} ${seconds(r.seconds)}: ${firstKeyword(r.head)}`))
      )
    })
}

const idleInTransaction: Check = {
  name: "idle-in-transaction",
  requires: "answer",
  notOnEmbedded: "the embedded database has one in-process session",
  run: (db, { thresholds }) =>
    Effect.gen(function*() {
      const rows = yield* db.query<SessionRow & { open: number }>(
        `SELECT pid, coalesce(application_name, '') AS app, state,
                extract(epoch FROM clock_timestamp() - state_change)::float8 AS seconds,
                extract(epoch FROM clock_timestamp() - xact_start)::float8 AS open
           FROM pg_stat_activity
          WHERE state IN ('idle in transaction', 'idle in transaction (aborted)')
            AND pid <> pg_backend_pid() AND datname = current_database() AND state_change IS NOT NULL
          ORDER BY state_change LIMIT 20`
      )
      const longest = rows[0]?.seconds ?? 0
      const idle = rows.filter((r) => r.seconds > thresholds.idleInTransactionSeconds)
      const threshold = between(thresholds.idleInTransactionSeconds, thresholds.idleInTransactionCriticalSeconds, " s")
      if (idle.length === 0) {
        return outcome(
          "ok",
          round(longest),
          "s",
          threshold,
          `no session idle in a transaction longer than ${limit(thresholds.idleInTransactionSeconds, " s")}`
        )
      }
      return outcome(
        grade(longest, thresholds.idleInTransactionSeconds, thresholds.idleInTransactionCriticalSeconds),
        round(longest),
        "s",
        threshold,
        listSome(
          idle.map((r) => `${sessionLabel(r)} idle ${seconds(r.seconds)} in a transaction open ${seconds(r.open)}`)
        ) +
          " (holds its locks and stops vacuum cleaning up)"
      )
    })
}

const blockedLocks: Check = {
  name: "blocked-locks",
  requires: "answer",
  notOnEmbedded: "the embedded database has one session, nothing can block it",
  run: (db, { thresholds }) =>
    Effect.gen(function*() {
      // Filter on wait_event_type first: pg_blocking_pids is costly on a busy server.
      const rows = yield* db.query<SessionRow & { blockers: ReadonlyArray<number> | string }>(
        `SELECT pid, app, state, seconds, blockers FROM (
           SELECT pid, coalesce(application_name, '') AS app, state,
                  extract(epoch FROM clock_timestamp() - coalesce(state_change, query_start))::float8 AS seconds,
                  pg_blocking_pids(pid) AS blockers
             FROM pg_stat_activity
            WHERE wait_event_type = 'Lock' AND pid <> pg_backend_pid() AND datname = current_database()
         ) waiting
         WHERE cardinality(blockers) > 0
         ORDER BY seconds DESC LIMIT 20`
      )
      const longest = rows[0]?.seconds ?? 0
      const threshold = between(thresholds.blockedSeconds, thresholds.blockedCriticalSeconds, " s")
      const blocked = rows.filter((r) => r.seconds >= thresholds.blockedSeconds)
      if (blocked.length === 0) {
        return outcome(
          "ok",
          round(longest),
          "s",
          threshold,
          rows.length === 0 ? "no session waits on a lock" : `${rows.length} waiting briefly`
        )
      }
      const status: CheckStatus = longest > thresholds.blockedCriticalSeconds ? "critical" : "warn"
      const pids = (
        b: ReadonlyArray<number> | string
      ) => (Array.isArray(b) ? b.join(", ") : String(b).replace(/[{}]/g, ""))
      return outcome(
        status,
        round(longest),
        "s",
        threshold,
        listSome(blocked.map((r) => `${sessionLabel(r)} waiting ${seconds(r.seconds)} on pid ${pids(r.blockers)}`))
      )
    })
}

const cacheHitRatio: Check = {
  name: "cache-hit-ratio",
  requires: "answer",
  run: (db, { thresholds }) =>
    Effect.gen(function*() {
      const [row] = yield* db.query<{ hit: number; read: number }>(
        "SELECT blks_hit::float8 AS hit, blks_read::float8 AS read FROM pg_stat_database WHERE datname = current_database()"
      )
      const hit = row?.hit ?? 0
      const total = hit + (row?.read ?? 0)
      const threshold = `warn < ${percent(thresholds.cacheHitRatio)} (after ${thresholds.cacheMinBlocks} blocks)`
      if (total === 0) return outcome("ok", null, "ratio", threshold, "no blocks requested yet")
      const ratio = hit / total
      if (total < thresholds.cacheMinBlocks) {
        return outcome(
          "ok",
          round(ratio, 6),
          "ratio",
          threshold,
          `only ${total} blocks requested since statistics were reset: too few to judge`
        )
      }
      const status = gradeBelow(ratio, thresholds.cacheHitRatio)
      return outcome(
        status,
        round(ratio, 6),
        "ratio",
        threshold,
        `${percent(ratio)} of ${total} blocks found in shared buffers` +
          (status === "ok" ? "" : " (consider more shared_buffers or fewer full scans)")
      )
    })
}

const WRAPAROUND = 2 ** 31

const wraparound: Check = {
  name: "wraparound",
  requires: "answer",
  run: (db, { thresholds }) =>
    Effect.gen(function*() {
      const [row] = yield* db.query<{ datname: string; age: number }>(
        "SELECT datname, age(datfrozenxid)::float8 AS age FROM pg_database ORDER BY age(datfrozenxid) DESC LIMIT 1"
      )
      const age = row?.age ?? 0
      const ratio = age / WRAPAROUND
      return outcome(
        grade(ratio, thresholds.wraparoundWarn, thresholds.wraparoundCritical),
        round(ratio, 6),
        "ratio",
        ratioLimits(thresholds.wraparoundWarn, thresholds.wraparoundCritical),
        `oldest unfrozen transaction ID in ${row?.datname ?? "?"} is ${age} transactions old (${
          percent(ratio)
        } of 2^31)`
      )
    })
}

const sequences: Check = {
  name: "sequences",
  requires: "answer",
  run: (db, { thresholds }) =>
    Effect.gen(function*() {
      const rows = yield* db.query<{ schema: string; name: string; used: number }>(
        `SELECT schemaname AS schema, sequencename AS name,
                ((CASE WHEN increment_by > 0 THEN last_value::numeric - min_value::numeric
                       ELSE max_value::numeric - last_value::numeric END)
                 / nullif(max_value::numeric - min_value::numeric, 0))::float8 AS used
           FROM pg_sequences
          WHERE last_value IS NOT NULL
          ORDER BY used DESC NULLS LAST LIMIT 10`
      )
      const worst = rows[0]?.used ?? 0
      const threshold = ratioLimits(thresholds.sequenceWarn, thresholds.sequenceCritical)
      const near = rows.filter((r) => r.used > thresholds.sequenceWarn)
      if (near.length === 0) {
        return outcome(
          "ok",
          round(worst, 6),
          "ratio",
          threshold,
          rows.length === 0 ? "no sequence used yet" : `fullest sequence at ${percent(worst)} of its range`
        )
      }
      return outcome(
        grade(worst, thresholds.sequenceWarn, thresholds.sequenceCritical),
        round(worst, 6),
        "ratio",
        threshold,
        listSome(near.map((r) => `${r.schema}.${r.name} at ${percent(r.used)} of its range`)) +
          " (widen it to bigint or raise MAXVALUE)"
      )
    })
}

const invalidIndexes: Check = {
  name: "invalid-indexes",
  requires: "answer",
  run: (db) =>
    Effect.gen(function*() {
      const rows = yield* db.query<{ schema: string; index: string; table: string }>(INVALID_INDEXES)
      if (rows.length === 0) return outcome("ok", 0, "count", "any → warn", "no invalid index")
      return outcome(
        "warn",
        rows.length,
        "count",
        "any → warn",
        listSome(rows.map((r) => `${r.schema}.${r.index} on ${r.table}`)) +
          " (left by a failed CREATE INDEX CONCURRENTLY: still slows writes, never used; drop and re-create it)"
      )
    })
}

const unusedIndexes: Check = {
  name: "unused-indexes",
  requires: "answer",
  run: (db, { thresholds }) =>
    Effect.gen(function*() {
      const threshold = `never scanned and > ${thresholds.unusedIndexBytes} bytes → warn`
      if (thresholds.unusedIndexBytes === Number.POSITIVE_INFINITY) {
        return outcome("ok", null, "count", threshold, "disabled")
      }
      const rows = yield* db.query<{ schema: string; index: string; table: string; bytes: number }>(
        `SELECT s.schemaname AS schema, s.indexrelname AS index, s.relname AS table,
                c.relpages::float8 * current_setting('block_size')::float8 AS bytes
           FROM pg_stat_user_indexes s
           JOIN pg_index i ON i.indexrelid = s.indexrelid
           JOIN pg_class c ON c.oid = s.indexrelid
          WHERE s.idx_scan = 0 AND NOT i.indisunique AND NOT i.indisprimary AND i.indisvalid
            AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = s.indexrelid)
            AND c.relpages::float8 * current_setting('block_size')::float8 > $1
          ORDER BY bytes DESC, 1, 2 LIMIT 20`,
        [thresholds.unusedIndexBytes]
      )
      if (rows.length === 0) {
        return outcome("ok", 0, "count", threshold, "every index large enough to matter has been used")
      }
      return outcome(
        "warn",
        rows.length,
        "count",
        threshold,
        listSome(rows.map((r) => `${r.schema}.${r.index} on ${r.table} (${r.bytes} bytes)`)) +
          " never scanned since statistics were reset (check replicas before dropping)"
      )
    })
}

const duplicateIndexes: Check = {
  name: "duplicate-indexes",
  requires: "answer",
  run: (db) =>
    Effect.gen(function*() {
      // Same table, access method, key columns, operator classes, collations, ordering,
      // expressions and predicate (compared deparsed, so spacing in the DDL does not matter).
      const rows = yield* db.query<{ schema: string; table: string; indexes: string }>(
        `SELECT n.nspname AS schema, t.relname AS table, string_agg(c.relname, ', ' ORDER BY c.relname) AS indexes
           FROM pg_index i
           JOIN pg_class c ON c.oid = i.indexrelid
           JOIN pg_class t ON t.oid = i.indrelid
           JOIN pg_namespace n ON n.oid = t.relnamespace
          WHERE i.indisvalid AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%'
          GROUP BY n.nspname, t.relname, i.indrelid, c.relam, i.indkey::text, i.indclass::text, i.indcollation::text,
                   i.indoption::text, coalesce(pg_get_expr(i.indexprs, i.indrelid), ''), coalesce(pg_get_expr(i.indpred, i.indrelid), '')
         HAVING count(*) > 1
          ORDER BY 1, 2`
      )
      if (rows.length === 0) return outcome("ok", 0, "count", "any → warn", "no duplicate index")
      return outcome(
        "warn",
        rows.length,
        "count",
        "any → warn",
        listSome(rows.map((r) => `${r.schema}.${r.table}: ${r.indexes}`)) +
          " index the same thing (keep one, prefer the unique one)"
      )
    })
}

const bloat: Check = {
  name: "bloat",
  requires: "answer",
  run: (db, { thresholds }) =>
    Effect.gen(function*() {
      const rows = yield* db.query<{ schema: string; table: string; live: number; dead: number }>(
        `SELECT schemaname AS schema, relname AS table, n_live_tup::float8 AS live, n_dead_tup::float8 AS dead
           FROM pg_stat_user_tables
          WHERE n_live_tup + n_dead_tup >= $1
          ORDER BY n_dead_tup::float8 / greatest(n_live_tup + n_dead_tup, 1) DESC, 1, 2 LIMIT 10`,
        [thresholds.bloatMinRows]
      )
      const ratioOf = (r: { live: number; dead: number }) => r.dead / Math.max(1, r.live + r.dead)
      const worst = rows[0] ? ratioOf(rows[0]) : 0
      const threshold = `${
        ratioLimits(thresholds.bloatWarn, thresholds.bloatCritical)
      } dead (tables ≥ ${thresholds.bloatMinRows} rows)`
      const estimate = "estimated from dead tuples in pg_stat_user_tables, not measured page by page"
      const bloated = rows.filter((r) => ratioOf(r) > thresholds.bloatWarn)
      if (bloated.length === 0) {
        return outcome(
          "ok",
          round(worst, 6),
          "ratio",
          threshold,
          `no table above ${percent(thresholds.bloatWarn)} dead tuples (${estimate})`
        )
      }
      return outcome(
        grade(worst, thresholds.bloatWarn, thresholds.bloatCritical),
        round(worst, 6),
        "ratio",
        threshold,
        listSome(
          bloated.map((r) => `${r.schema}.${r.table} ${percent(ratioOf(r))} dead (${r.dead} of ${r.live + r.dead})`)
        ) +
          ` (${estimate}; check autovacuum)`
      )
    })
}

const replication: Check = {
  name: "replication",
  requires: "answer",
  notOnEmbedded: "the embedded database has no replicas",
  run: (db, { thresholds }) =>
    Effect.gen(function*() {
      const threshold = between(thresholds.replicationLagSeconds, thresholds.replicationLagCriticalSeconds, " s")
      const [role] = yield* db.query<{ standby: boolean; lag: number | null }>(
        `SELECT pg_is_in_recovery() AS standby,
                CASE WHEN pg_is_in_recovery()
                     THEN extract(epoch FROM clock_timestamp() - pg_last_xact_replay_timestamp())::float8 END AS lag`
      )
      if (role?.standby) {
        if (role.lag === null) return outcome("ok", null, "s", threshold, "standby; no transaction replayed yet")
        const lag = round(role.lag)
        return outcome(
          grade(lag, thresholds.replicationLagSeconds, thresholds.replicationLagCriticalSeconds),
          lag,
          "s",
          threshold,
          `standby, last replayed transaction ${seconds(lag)} ago (an idle primary also looks like lag)`
        )
      }
      const replicas = yield* db.query<{ app: string; state: string; lag: number | null }>(
        `SELECT coalesce(application_name, '') AS app, state, extract(epoch FROM replay_lag)::float8 AS lag
           FROM pg_stat_replication ORDER BY replay_lag DESC NULLS LAST`
      )
      if (replicas.length === 0) return notApplicable("no replica is connected to this server", threshold)
      const worst = round(replicas[0]?.lag ?? 0)
      return outcome(
        grade(worst, thresholds.replicationLagSeconds, thresholds.replicationLagCriticalSeconds),
        worst,
        "s",
        threshold,
        listSome(replicas.map((r) => `${r.app || "replica"} ${r.state}, replay lag ${seconds(r.lag ?? 0)}`))
      )
    })
}

const databaseSize: Check = {
  name: "database-size",
  requires: "answer",
  run: (db, { thresholds }) =>
    Effect.gen(function*() {
      const [row] = yield* db.query<{ bytes: number }>("SELECT pg_database_size(current_database())::float8 AS bytes")
      const bytes = row?.bytes ?? 0
      const threshold = thresholds.databaseSizeBytes === Number.POSITIVE_INFINITY
        ? "no limit set"
        : `warn > ${thresholds.databaseSizeBytes} bytes`
      return outcome(
        grade(bytes, thresholds.databaseSizeBytes),
        bytes,
        "bytes",
        threshold,
        `${db.database.database}: ${(bytes / 1024 ** 2).toFixed(1)} MB`
      )
    })
}

const backups: Check = {
  name: "backups",
  requires: "services",
  run: (db, { thresholds }) =>
    Effect.gen(function*() {
      const listed = yield* db.backup.list()
      const threshold = `newest verified older than ${limit(thresholds.backupMaxAgeHours, " h")} or none → warn`
      const verified = listed.filter((b) => b.verified !== null)
      const newest = verified[0] // list is newest first
      if (newest === undefined) {
        return outcome(
          "warn",
          null,
          "h",
          threshold,
          listed.length === 0
            ? "no backup found (run dbkit backup, then dbkit backups verify)"
            : `${listed.length} backup${listed.length === 1 ? "" : "s"}, none verified (run dbkit backups verify FILE)`
        )
      }
      const hours = (Date.now() - Date.parse(newest.createdAt)) / 3_600_000
      return outcome(
        grade(hours, thresholds.backupMaxAgeHours),
        round(hours, 3),
        "h",
        threshold,
        `newest verified backup ${path.basename(newest.file)} taken ${newest.createdAt}` +
          (newest.verified?.restoreTest ? ", restore-tested" : "")
      )
    })
}

const tenants: Check = {
  name: "tenants",
  requires: "answer",
  run: (db) =>
    Effect.gen(function*() {
      const threshold = "missing schema or unregistered tenant_* schema → critical"
      const [registry] = yield* db.query<{ present: boolean }>(
        "SELECT to_regclass('dbkit.tenants') IS NOT NULL AS present"
      )
      if (!registry?.present) return notApplicable("no tenant registry (dbkit.tenants) in this database", threshold)
      // Deprovisioned tenants keep their row but not their schema.
      const missing = yield* db.query<{ slug: string; schema: string }>(
        `SELECT t.slug, t.schema_name AS schema FROM dbkit.tenants t
          WHERE t.strategy = 'schema' AND coalesce(t.status, '') <> 'deprovisioned'
            AND NOT EXISTS (SELECT 1 FROM pg_namespace n WHERE n.nspname = t.schema_name)
          ORDER BY 1`
      )
      const orphans = yield* db.query<{ schema: string }>(
        `SELECT n.nspname AS schema FROM pg_namespace n
          WHERE n.nspname LIKE 'tenant\\_%'
            AND NOT EXISTS (SELECT 1 FROM dbkit.tenants t WHERE t.schema_name = n.nspname AND coalesce(t.status, '') <> 'deprovisioned')
          ORDER BY 1`
      )
      const problems = [
        ...missing.map((m) => `tenant ${m.slug}: schema ${m.schema ?? "(none)"} is missing`),
        ...orphans.map((o) => `schema ${o.schema} has no tenant in the registry`)
      ]
      if (problems.length === 0) {
        const [count] = yield* db.query<{ n: number }>("SELECT count(*)::int AS n FROM dbkit.tenants")
        return outcome("ok", 0, "count", threshold, `registry and schemas agree (${count?.n ?? 0} tenants)`)
      }
      return outcome("critical", problems.length, "count", threshold, listSome(problems))
    })
}

const redis: Check = {
  name: "redis",
  requires: "nothing",
  run: ({ redisUrl, thresholds }) =>
    Option.match(redisUrl, {
      onNone: () => Effect.succeed(notApplicable("REDIS_URL is not set")),
      onSome: (url) => {
        const target = describeRedisUrl(url)
        const threshold = `warn > ${limit(thresholds.redisLatencyMs, " ms")}, unreachable → critical`
        return Effect.acquireUseRelease(
          makeRedis(url, {
            lazyConnect: true,
            connectTimeout: Math.max(100, Math.min(thresholds.checkTimeoutMs, 10_000)),
            maxRetriesPerRequest: 0,
            enableOfflineQueue: false,
            retryStrategy: () => null
          }).pipe(
            // the failed command reports it; no stray log line
            Effect.tap((client) => Effect.sync(() => void client.on("error", () => undefined)))
          ),
          (client) =>
            Effect.tryPromise(async () => {
              await client.connect()
              const started = performance.now()
              await client.ping()
              return round(performance.now() - started)
            }).pipe(
              Effect.map((ms) =>
                outcome(
                  grade(ms, thresholds.redisLatencyMs),
                  ms,
                  "ms",
                  threshold,
                  `${target} answered PING in ${ms} ms`
                )
              ),
              Effect.catchAll((error) => {
                return Effect.succeed(
                  outcome(
                    "critical",
                    null,
                    "ms",
                    threshold,
                    `${target}: ${Redact.scrubUrl(reasonOf(error.error), url)}`
                  )
                )
              })
            ),
          (client) => Effect.sync(() => client.disconnect())
        )
      }
    })
}

/** Every check, in report order. */
export const allChecks: ReadonlyArray<Check> = [
  connectivity,
  serverVersion,
  migrations,
  connections,
  longQueries,
  idleInTransaction,
  blockedLocks,
  cacheHitRatio,
  wraparound,
  sequences,
  invalidIndexes,
  unusedIndexes,
  duplicateIndexes,
  bloat,
  replication,
  databaseSize,
  backups,
  backupDisk,
  archiving,
  jobs,
  serverHost,
  tenants,
  tenancy,
  redis
]

/** The check names, as `--check` accepts them. */
export const checkNames: ReadonlyArray<string> = allChecks.map((c) => c.name)
