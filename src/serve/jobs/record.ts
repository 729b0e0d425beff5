/**
 * All SQL the scheduler sends about itself: the `dbkit.jobs` table (one row per run, written
 * `running` when it starts so a killed process leaves a trace), its bound (the newest runs per
 * job), and its reads. The /metrics endpoint reads the same columns.
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Effect from "effect/Effect"
import * as AdvisoryLock from "../../AdvisoryLock.js"

export const statuses = ["running", "succeeded", "failed", "interrupted", "skipped"] as const
export type JobStatus = (typeof statuses)[number]

/** One recorded run. */
export interface JobRun {
  readonly id: number
  readonly name: string
  readonly kind: string
  /** ISO 8601, UTC. */
  readonly startedAt: string
  readonly finishedAt: string | null
  readonly status: JobStatus
  /** Why it failed, redacted (no URL password, no key). */
  readonly error: string | null
  /** What it did: the backup file, rows deleted, the health verdict… */
  readonly detail: unknown
  readonly host: string | null
  readonly pid: number | null
}

type Sql = SqlClient.SqlClient

/** Two processes creating the table at once would collide in the catalog: one at a time. */
const createLockKey = AdvisoryLock.keyOf("dbkit:jobs-table")

/**
 * Creates dbkit.jobs and its index if missing. Only when missing: `CREATE SCHEMA IF NOT EXISTS`
 * still wants CREATE on the database and `CREATE INDEX IF NOT EXISTS` ownership of the table, so a
 * role that may only write to an existing dbkit.jobs must not run them.
 */
export const ensureTable = (sql: Sql): Effect.Effect<void, SqlError> =>
  sql.withTransaction(
    Effect.zipRight(
      sql.unsafe(`SELECT pg_advisory_xact_lock(${createLockKey})`),
      sql.unsafe(`DO $$ BEGIN
  IF to_regclass('dbkit.jobs') IS NULL THEN
    CREATE SCHEMA IF NOT EXISTS dbkit;
    CREATE TABLE dbkit.jobs (
      id bigserial PRIMARY KEY,
      name text NOT NULL,
      kind text NOT NULL,
      started_at timestamptz NOT NULL,
      finished_at timestamptz,
      status text NOT NULL CHECK (status IN ('running', 'succeeded', 'failed', 'interrupted', 'skipped')),
      error text,
      detail jsonb,
      host text,
      pid int
    );
    CREATE INDEX jobs_name_started_at_idx ON dbkit.jobs (name, started_at DESC);
  END IF;
END $$`)
    )
  ).pipe(Effect.asVoid)

const ts = (column: string) => `to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`

export interface Start {
  readonly name: string
  readonly kind: string
  readonly at: Date
  readonly host: string
  readonly pid: number
}

/**
 * Runs of `name` still `running` while this process holds the job's lock: their process died
 * (killed, or its connection lost) before it could say so.
 */
export const interruptStale = (sql: Sql, name: string) =>
  sql.unsafe(
    `UPDATE dbkit.jobs SET status = 'interrupted', finished_at = now(),
            error = coalesce(error, 'the process running it stopped before it finished')
      WHERE name = $1 AND status = 'running'`,
    [name]
  )

export const insertRunning = (sql: Sql, start: Start): Effect.Effect<number, SqlError> =>
  Effect.map(
    sql.unsafe<{ id: string }>(
      `INSERT INTO dbkit.jobs (name, kind, started_at, status, host, pid)
       VALUES ($1, $2, $3::timestamptz, 'running', $4, $5) RETURNING id`,
      [start.name, start.kind, start.at.toISOString(), start.host, start.pid]
    ),
    (rows) => Number(rows[0]!.id)
  )

/** A run that did not start: the job was running elsewhere. */
export const insertSkipped = (sql: Sql, start: Start, detail: unknown): Effect.Effect<number, SqlError> =>
  Effect.map(
    sql.unsafe<{ id: string }>(
      `INSERT INTO dbkit.jobs (name, kind, started_at, finished_at, status, detail, host, pid)
       VALUES ($1, $2, $3::timestamptz, $3::timestamptz, 'skipped', $4::jsonb, $5, $6) RETURNING id`,
      [start.name, start.kind, start.at.toISOString(), JSON.stringify(detail), start.host, start.pid]
    ),
    (rows) => Number(rows[0]!.id)
  )

export const finish = (
  sql: Sql,
  id: number,
  end: {
    readonly at: Date
    readonly status: Exclude<JobStatus, "running" | "skipped">
    readonly error: string | null
    readonly detail: unknown
  }
) =>
  sql.unsafe(
    `UPDATE dbkit.jobs SET finished_at = $2::timestamptz, status = $3, error = $4, detail = $5::jsonb WHERE id = $1`,
    [id, end.at.toISOString(), end.status, end.error, end.detail === undefined ? null : JSON.stringify(end.detail)]
  )

/** Keeps the newest `keep` runs of `name`. */
export const trim = (sql: Sql, name: string, keep: number) =>
  sql.unsafe(
    `DELETE FROM dbkit.jobs WHERE name = $1 AND id IN (
       SELECT id FROM dbkit.jobs WHERE name = $1 ORDER BY started_at DESC, id DESC OFFSET $2)`,
    [name, keep]
  )

const tableExists = (sql: Sql) =>
  Effect.map(
    sql.unsafe<{ exists: boolean }>(`SELECT to_regclass('dbkit.jobs') IS NOT NULL AS "exists"`),
    (rows) => rows[0]?.exists === true
  )

/** The newest runs (of one job, or all, or the one with `id`), newest first; none when the table was never made. */
export const recent = (
  sql: Sql,
  options: { readonly name?: string | undefined; readonly id?: number | undefined; readonly limit: number }
): Effect.Effect<ReadonlyArray<JobRun>, SqlError> =>
  Effect.flatMap(tableExists(sql), (exists) =>
    !exists
      ? Effect.succeed([])
      : Effect.map(
        sql.unsafe<Record<string, any>>(
          `SELECT id, name, kind, ${ts("started_at")} AS started_at, ${ts("finished_at")} AS finished_at,
                  status, error, detail, host, pid
             FROM dbkit.jobs WHERE ($1::text IS NULL OR name = $1) AND ($3::bigint IS NULL OR id = $3)
            ORDER BY started_at DESC, id DESC LIMIT $2`,
          [options.name ?? null, options.limit, options.id ?? null]
        ),
        (rows) =>
          rows.map((r): JobRun => ({
            id: Number(r.id),
            name: r.name,
            kind: r.kind,
            startedAt: r.started_at,
            finishedAt: r.finished_at ?? null,
            status: r.status,
            error: r.error ?? null,
            detail: typeof r.detail === "string" ? JSON.parse(r.detail) : r.detail ?? null,
            host: r.host ?? null,
            pid: r.pid === null || r.pid === undefined ? null : Number(r.pid)
          }))
      ))
