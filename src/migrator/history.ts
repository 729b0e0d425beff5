/**
 * All SQL the Migrator sends about itself: the history table and its lock's key (the lock
 * itself is AdvisoryLock's). Everything runs on one reserved connection (`Session`), so the
 * lock, the settings and the transactions the Migrator opens all live on the same backend.
 */
import type { Connection } from "@effect/sql/SqlConnection"
import type { SqlError } from "@effect/sql/SqlError"
import * as Effect from "effect/Effect"
import * as os from "node:os"
import * as AdvisoryLock from "../AdvisoryLock.js"
import { quoteIdent, quoteLiteral } from "../Identifier.js"
import type { HistoryRow } from "./plan.js"

/** Raw SQL on the reserved connection. */
export type Session = (text: string, params?: ReadonlyArray<unknown>) => Effect.Effect<ReadonlyArray<any>, SqlError>

export const session = (conn: Connection): Session => (text, params = []) =>
  conn.executeUnprepared(text, params, undefined)

/** A schema-qualified table name. */
export interface HistoryTable {
  readonly schema: string
  readonly table: string
}

export { quoteIdent } from "../Identifier.js"
export const qualified = (t: HistoryTable): string => `${quoteIdent(t.schema)}.${quoteIdent(t.table)}`

let whoApplies: string | undefined

/**
 * Who is applying: the OS user and host of the process (the database role is recorded too).
 * Looked up once: `os.userInfo()` reads the password database, ~0.3 ms a call, and every
 * history row asks (60 ms of a 200-migration run's own work on a busy machine, measured).
 */
export const appliedBy = (): string => {
  if (whoApplies !== undefined) return whoApplies
  let user = "unknown"
  try {
    user = os.userInfo().username
  } catch {
    // no passwd entry (containers): keep "unknown"
  }
  return (whoApplies = `${user}@${os.hostname()}`)
}

export const ensureTable = (run: Session, t: HistoryTable) =>
  run(
    `CREATE SCHEMA IF NOT EXISTS ${quoteIdent(t.schema)};
CREATE TABLE IF NOT EXISTS ${qualified(t)} (
  id bigint GENERATED ALWAYS AS IDENTITY,
  name text PRIMARY KEY,
  checksum text NOT NULL,
  status text NOT NULL DEFAULT 'applied' CHECK (status IN ('applied', 'failed', 'running')),
  applied_at timestamptz NOT NULL DEFAULT now(),
  duration_ms integer NOT NULL DEFAULT 0,
  applied_by text NOT NULL,
  db_user text NOT NULL DEFAULT current_user,
  failed_statement integer,
  error text
)`
  )

export const tableExists = (run: Session, t: HistoryTable) =>
  Effect.map(
    run(`SELECT to_regclass($1) IS NOT NULL AS "exists"`, [qualified(t)]),
    (rows) => rows[0]?.exists === true
  )

/** The rows of a history table that exists (an error when it does not), in one statement. */
export const readRows = (run: Session, t: HistoryTable): Effect.Effect<ReadonlyArray<HistoryRow>, SqlError> =>
  Effect.map(
    run(
      `SELECT name, checksum, status, to_char(applied_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS applied_at,
              duration_ms, applied_by, failed_statement, error
         FROM ${qualified(t)} ORDER BY id`
    ),
    (rows) =>
      rows.map((r): HistoryRow => ({
        name: r.name,
        checksum: r.checksum,
        status: r.status,
        appliedAt: r.applied_at,
        durationMs: Number(r.duration_ms),
        appliedBy: r.applied_by,
        failedStatement: r.failed_statement === null ? null : Number(r.failed_statement),
        error: r.error
      }))
  )

/** The history, or none when the table does not exist yet. */
export const readHistory = (run: Session, t: HistoryTable): Effect.Effect<ReadonlyArray<HistoryRow>, SqlError> =>
  Effect.flatMap(tableExists(run, t), (exists) => (exists ? readRows(run, t) : Effect.succeed([])))

export const recordApplied = (run: Session, t: HistoryTable, name: string, sum: string, durationMs: number) =>
  run(
    `INSERT INTO ${qualified(t)} (name, checksum, status, duration_ms, applied_by) VALUES ($1, $2, 'applied', $3, $4)
     ON CONFLICT (name) DO UPDATE SET checksum = EXCLUDED.checksum, status = 'applied', applied_at = now(),
       duration_ms = EXCLUDED.duration_ms, applied_by = EXCLUDED.applied_by, failed_statement = NULL, error = NULL`,
    [name, sum, Math.round(durationMs), appliedBy()]
  )

export const recordRunning = (run: Session, t: HistoryTable, name: string, sum: string) =>
  run(
    `INSERT INTO ${qualified(t)} (name, checksum, status, applied_by) VALUES ($1, $2, 'running', $3)`,
    [name, sum, appliedBy()]
  )

export const recordFailed = (run: Session, t: HistoryTable, name: string, statement: number, error: string) =>
  run(
    `UPDATE ${qualified(t)} SET status = 'failed', failed_statement = $2, error = $3 WHERE name = $1`,
    [name, statement, error.slice(0, 2000)]
  )

/** The advisory lock key for a history table: 62 bits of its name's sha256 (positive bigint). */
export const lockKey = (t: HistoryTable): string => AdvisoryLock.keyOf(`dbkit:migrations:${qualified(t)}`)

export const deleteRecord = (run: Session, t: HistoryTable, name: string) =>
  run(`DELETE FROM ${qualified(t)} WHERE name = $1`, [name])

export const acceptChecksum = (run: Session, t: HistoryTable, name: string, sum: string) =>
  run(`UPDATE ${qualified(t)} SET checksum = $2 WHERE name = $1`, [name, sum])

/** Records a migration as applied without running it (baseline, adopt), optionally backdated. */
export const recordAssumed = (
  run: Session,
  t: HistoryTable,
  name: string,
  sum: string,
  by: string,
  appliedAt?: Date
) =>
  run(
    `INSERT INTO ${qualified(t)} (name, checksum, status, applied_at, duration_ms, applied_by)
     VALUES ($1, $2, 'applied', coalesce($3::timestamptz, now()), 0, $4)`,
    [name, sum, appliedAt ? appliedAt.toISOString() : null, by]
  )

/** Rows of `query` when the table `regclass` exists, else none. */
const ifTableExists = <A>(run: Session, regclass: string, query: string, row: (r: any) => A) =>
  Effect.flatMap(
    run(`SELECT to_regclass($1) IS NOT NULL AS "exists"`, [regclass]),
    (rows) => (rows[0]?.exists === true
      ? Effect.map(run(query), (rows) => rows.map(row))
      : Effect.succeed([] as Array<A>))
  )

/** drizzle-orm's migrator history, if this database has one: sha256 of each file and its journal time. */
export const drizzleHistory = (run: Session) =>
  ifTableExists(
    run,
    "drizzle.__drizzle_migrations",
    `SELECT hash, created_at::text AS created_at FROM drizzle.__drizzle_migrations ORDER BY id`,
    (r) => ({ hash: String(r.hash), createdAt: Number(r.created_at) })
  )

/** @effect/sql's migrator history (`effect_sql_migrations` on the search_path), if any. */
export const effectSqlHistory = (run: Session) =>
  ifTableExists(
    run,
    "effect_sql_migrations",
    `SELECT migration_id, name, created_at::text AS created_at FROM effect_sql_migrations ORDER BY migration_id`,
    (r) => ({ id: Number(r.migration_id), name: String(r.name), createdAt: String(r.created_at) })
  )

/** A string literal that is safe whatever standard_conforming_strings says. */
export const literal = quoteLiteral

/** The history rows of these migrations (name, duration_ms), as SQL text to send in a message. */
export const durationsText = (t: HistoryTable, names: ReadonlyArray<string>): string =>
  `SELECT name, duration_ms FROM ${qualified(t)} WHERE name IN (${names.map(literal).join(", ")})`

/**
 * Marks when a migration's transaction began, for `recordAppliedText`: the first statement of
 * the transaction. (Not `now()`: that is when the server received the message, the same for
 * every migration a message holds.)
 */
export const markStartText =
  "SELECT set_config('dbkit.migration_started', extract(epoch FROM clock_timestamp())::text, true)"

/**
 * The history row as SQL text, for the one-message fast path: the start and the duration are
 * measured by the server from `markStartText`, so it can be sent with the migration itself.
 */
export const recordAppliedText = (t: HistoryTable, name: string, sum: string): string =>
  `INSERT INTO ${qualified(t)} (name, checksum, status, applied_at, duration_ms, applied_by)
   VALUES (${literal(name)}, ${
    literal(sum)
  }, 'applied', to_timestamp(current_setting('dbkit.migration_started')::float8),
     ((extract(epoch FROM clock_timestamp()) - current_setting('dbkit.migration_started')::float8) * 1000)::int, ${
    literal(appliedBy())
  })`
