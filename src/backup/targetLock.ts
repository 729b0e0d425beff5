/**
 * One restore or reset of a database at a time, across processes: a session advisory lock keyed
 * on the database's name, held on a connection to the server's maintenance database `postgres`
 * (advisory locks are per database, and a restore renames its target away), for the whole
 * operation. A second restore or reset waits for it, then fails with `RestoreLockTimeout`.
 *
 * On the embedded database no lock is taken: its data directory is opened by one process at a
 * time (EmbeddedLock), and that process's one session runs one statement at a time.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import * as AdvisoryLock from "../AdvisoryLock.js"
import { type DatabaseUnavailable, ownBackendPids, PgLive } from "../Database.js"
import { quoteIdent, quoteLiteral } from "../Identifier.js"
import { siblingUrl } from "../Scratch.js"
import { targetLockKey } from "./leftovers.js"

/** Another restore or reset of the same database held its lock for longer than we waited. */
export class RestoreLockTimeout extends Data.TaggedError("RestoreLockTimeout")<{
  readonly database: string
  /** What this process wanted to do. */
  readonly operation: "restore" | "reset"
  readonly timeoutMs: number
  readonly holder: AdvisoryLock.LockHolder | undefined
}> {
  override get message() {
    const what = this.holder?.applicationName === "dbkit-reset" ? "reset" : "restore"
    const who = this.holder
      ? `pid ${this.holder.pid}${this.holder.applicationName ? `, ${this.holder.applicationName}` : ""}${
        this.holder.since ? `, since ${this.holder.since}` : ""
      }`
      : "pid unknown"
    return `another ${what} of ${this.database} is running (${who}); this ${this.operation} waited ${
      Duration.format(Duration.millis(this.timeoutMs))
    } and changed nothing: wait for it to finish (or stop that process), then run it again`
  }
}

/** How long a restore or reset waits for another one of the same database by default. */
export const DEFAULT_LOCK_WAIT: Duration.DurationInput = "5 minutes"

/**
 * Holds the restore lock of `database` until the scope closes, and returns the session holding
 * it (on the server's `postgres` database) for the caller's own administration statements.
 */
export const holdTargetLock = (
  url: Redacted.Redacted<string>,
  database: string,
  operation: "restore" | "reset",
  wait: Duration.DurationInput = DEFAULT_LOCK_WAIT
): Effect.Effect<AdvisoryLock.Session, RestoreLockTimeout | DatabaseUnavailable | SqlError, Scope.Scope> =>
  Effect.gen(function*() {
    const context = yield* Layer.build(
      PgLive({ url: siblingUrl(url, "postgres"), poolSize: 1, applicationName: `dbkit-${operation}` })
    )
    const conn = yield* Context.get(context, SqlClient.SqlClient).reserve
    const run: AdvisoryLock.Session = (text, params = []) => conn.executeUnprepared(text, params, undefined)
    const timeoutMs = Duration.toMillis(Duration.decode(wait))
    // While it waits, this process's pools keep idle connections (to the target among them):
    // they are announced as a waiter's, so the restore holding the lock may end them at its
    // swap instead of refusing as if another program were using the database.
    const mine = [...ownBackendPids(url)]
    const announce = (fn: string) =>
      run(`SELECT ${fn}($1::int, pid) FROM unnest($2::int[]) AS pid`, [waitingKey(database), mine])
    yield* announce("pg_advisory_lock_shared")
    yield* AdvisoryLock.acquire(run, targetLockKey(database), {
      wait,
      onWait: (holder) =>
        Effect.logWarning(
          `waiting for another restore or reset of ${database} (pid ${holder?.pid ?? "unknown"}) to finish`
        ),
      onTimeout: (holder) => new RestoreLockTimeout({ database, operation, timeoutMs, holder })
    })
    yield* announce("pg_advisory_unlock_shared")
    return run
  })

/** The two-key advisory lock class under which waiting processes announce their backends. */
const waitingKey = (database: string) =>
  Number(BigInt(AdvisoryLock.keyOf(`dbkit:restore-waiting:${database}`)) & 0x7fffffffn)

/**
 * Backend pids that dbkit processes waiting for `database`'s lock announced as their own (see
 * holdTargetLock). `run` is a session on the `postgres` database, where they announce them.
 */
export const waitersSessions = (
  run: AdvisoryLock.Session,
  database: string
): Effect.Effect<ReadonlySet<number>, SqlError> =>
  Effect.map(
    run(
      `SELECT objid::bigint AS pid FROM pg_locks
        WHERE locktype = 'advisory' AND granted AND objsubid = 2 AND classid = $1::int::oid
          AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
      [waitingKey(database)]
    ),
    (rows) => new Set(rows.map((row) => Number(row.pid)))
  )

/** Settings whose value is a list (pg_dumpall's variable_is_guc_list_quote): each element a literal. */
const LIST_SETTINGS = new Set([
  "local_preload_libraries",
  "search_path",
  "session_preload_libraries",
  "shared_preload_libraries",
  "temp_tablespaces",
  "unix_socket_directories"
])

/** `"$user", public` → [`$user`, `public`]: a list setting's stored text, split as the server wrote it. */
const splitList = (value: string): Array<string> => {
  const items: Array<string> = []
  let current = ""
  let quoted = false
  for (let i = 0; i < value.length; i++) {
    const c = value[i]!
    if (c === "\"") {
      if (quoted && value[i + 1] === "\"") (current += "\"", i++)
      else quoted = !quoted
    } else if (c === "," && !quoted) (items.push(current.trim()), (current = ""))
    else current += c
  }
  if (current.trim() !== "" || items.length > 0) items.push(current.trim())
  return items
}

/** `name=value` from pg_db_role_setting as the right-hand side of `SET name = …`, or undefined when the name is odd. */
export const settingClause = (entry: string): string | undefined => {
  const eq = entry.indexOf("=")
  const name = entry.slice(0, eq)
  if (eq <= 0 || !/^[A-Za-z_][A-Za-z0-9_.$]*$/.test(name)) return undefined
  const value = entry.slice(eq + 1)
  const rhs = LIST_SETTINGS.has(name.toLowerCase())
    ? splitList(value).map(quoteLiteral).join(", ")
    : quoteLiteral(value)
  return `${name} = ${rhs === "" ? "''" : rhs}`
}

/**
 * Statements that give database `to` what belongs to database `from` rather than to its
 * contents (a dump holds none of it): owner, connection limit, comment, ACL, and the
 * `ALTER DATABASE … SET` / `ALTER ROLE … IN DATABASE … SET` settings. Read on `run`.
 */
export const databaseProperties = (run: AdvisoryLock.Session, from: string, to: string) =>
  Effect.gen(function*() {
    const [db] = yield* run(
      `SELECT pg_get_userbyid(d.datdba) AS owner, d.datconnlimit AS connlimit, d.datacl IS NULL AS default_acl,
              shobj_description(d.oid, 'pg_database') AS comment
         FROM pg_database d WHERE d.datname = $1`,
      [from]
    )
    if (db === undefined) return []
    const grants = yield* run(
      `SELECT a.grantee = 0 AS public, pg_get_userbyid(a.grantee) AS grantee, a.privilege_type AS privilege, a.is_grantable AS grantable
         FROM pg_database d, aclexplode(d.datacl) a WHERE d.datname = $1 ORDER BY 2, 3`,
      [from]
    )
    const settings = yield* run(
      `SELECT CASE WHEN s.setrole = 0 THEN NULL ELSE pg_get_userbyid(s.setrole) END AS role, unnest(s.setconfig) AS entry
         FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase WHERE d.datname = $1`,
      [from]
    )
    const target = quoteIdent(to)
    const statements = [
      `ALTER DATABASE ${target} OWNER TO ${quoteIdent(db.owner)}`,
      `ALTER DATABASE ${target} CONNECTION LIMIT ${Number(db.connlimit)}`,
      `COMMENT ON DATABASE ${target} IS ${db.comment === null ? "NULL" : quoteLiteral(db.comment)}`
    ]
    if (db.default_acl !== true) {
      // An explicit ACL replaces the default one (owner: all; PUBLIC: CONNECT, TEMPORARY) entirely.
      statements.push(
        `REVOKE ALL ON DATABASE ${target} FROM PUBLIC`,
        `REVOKE ALL ON DATABASE ${target} FROM ${quoteIdent(db.owner)}`
      )
      for (const g of grants) {
        statements.push(
          `GRANT ${g.privilege} ON DATABASE ${target} TO ${g.public ? "PUBLIC" : quoteIdent(g.grantee)}${
            g.grantable ? " WITH GRANT OPTION" : ""
          }`
        )
      }
    }
    for (const s of settings) {
      const clause = settingClause(String(s.entry))
      if (clause === undefined) {
        yield* Effect.logWarning(`not carried over to the restored database: the setting ${s.entry}`)
        continue
      }
      statements.push(
        s.role === null
          ? `ALTER DATABASE ${target} SET ${clause}`
          : `ALTER ROLE ${quoteIdent(s.role)} IN DATABASE ${target} SET ${clause}`
      )
    }
    return statements
  })
