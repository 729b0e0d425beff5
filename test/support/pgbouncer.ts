/**
 * A private PgBouncer for tests: its own ini, auth file, log and unix socket in a temp folder, on a
 * free loopback port, in transaction pooling mode in front of one database of the test server;
 * scoped (SIGINT on release, SIGKILL if it lingers). PgBouncer refuses to run as root, so as root
 * it is started with `-u nobody` and its folder is handed to that user. Tests run when the binary
 * is installed (Debian's `pgbouncer` package); with CI=true a missing binary fails the file.
 */
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import { execFileSync, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import pg from "pg"
import { findBinary, stopChild } from "./binaries.js"
import { freePort } from "./cluster.js"
import { serverUrl } from "./databases.js"

/** The pgbouncer binary, or undefined; throws under CI=true when there is none. */
export const pgbouncerBinary = (): string | undefined =>
  findBinary("pgbouncer", ["/usr/sbin/pgbouncer", "/usr/bin/pgbouncer", "/usr/local/bin/pgbouncer"], "pgbouncer")

export interface PgBouncerOptions {
  /** The test server's database PgBouncer serves, under the same name. */
  readonly database: string
  /** The roles clients log in as (trust auth; each must exist on the server). */
  readonly users: ReadonlyArray<string>
  /** Server connections per database and user (`default_pool_size`). */
  readonly poolSize?: number
  /** `server_reset_query_always = 1` with `DISCARD ALL`: session state dies with every transaction. */
  readonly resetAfterEveryTransaction?: boolean
}

export interface PgBouncer {
  readonly port: number
  /** A URL of the pooled database, as `user` (default: the test server's user). */
  readonly url: (user?: string) => string
  /** Runs one command on PgBouncer's admin console (`SHOW POOLS`, `SHOW SERVERS`…). */
  readonly show: <A = Record<string, unknown>>(command: string) => Promise<Array<A>>
  /** The log, for failure messages. */
  readonly log: () => string
}

/** A running PgBouncer for the scope, accepting connections when this succeeds. */
export const startPgBouncer = (binary: string, options: PgBouncerOptions) =>
  Effect.gen(function*() {
    const upstream = new URL(serverUrl)
    const serverUser = decodeURIComponent(upstream.username) || "root"
    // Removed on release, after PgBouncer has stopped (the folder holds its socket and log).
    const dir = yield* Effect.acquireRelease(
      Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "dbkit-pgbouncer-"))),
      (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
    )
    const port = yield* Effect.promise(freePort)
    const logfile = path.join(dir, "pgbouncer.log")
    const users = [...new Set([serverUser, ...options.users])]
    fs.writeFileSync(path.join(dir, "users.txt"), users.map((u) => `"${u}" ""`).join("\n") + "\n", { mode: 0o644 })
    fs.writeFileSync(
      path.join(dir, "pgbouncer.ini"),
      [
        "[databases]",
        `${options.database} = host=${upstream.hostname} port=${upstream.port || "5432"} dbname=${options.database}`,
        "[pgbouncer]",
        "listen_addr = 127.0.0.1",
        `listen_port = ${port}`,
        `unix_socket_dir = ${dir}`,
        "auth_type = trust",
        `auth_file = ${path.join(dir, "users.txt")}`,
        `admin_users = ${serverUser}`,
        "pool_mode = transaction",
        `default_pool_size = ${options.poolSize ?? 3}`,
        "max_client_conn = 200",
        `logfile = ${logfile}`,
        `pidfile = ${path.join(dir, "pgbouncer.pid")}`,
        ...(options.resetAfterEveryTransaction
          ? ["server_reset_query = DISCARD ALL", "server_reset_query_always = 1"]
          : []),
        ""
      ].join("\n"),
      { mode: 0o644 }
    )
    // PgBouncer will not run as root: drop to `nobody`, which must own the folder it writes to.
    const asRoot = process.getuid?.() === 0
    if (asRoot) {
      const [uid, gid] = ["-u", "-g"].map((flag) => Number(execFileSync("id", [flag, "nobody"], { encoding: "utf8" })))
      fs.chownSync(dir, uid!, gid!)
    }
    const args = [...(asRoot ? ["-u", "nobody"] : []), path.join(dir, "pgbouncer.ini")]
    const log = () => (fs.existsSync(logfile) ? fs.readFileSync(logfile, "utf8") : "")
    const child = yield* Effect.acquireRelease(
      Effect.sync(() => spawn(binary, args, { stdio: "ignore" })),
      (child) => stopChild(child, "SIGINT", "5 seconds")
    )
    const url = (user = serverUser) => `postgres://${encodeURIComponent(user)}@127.0.0.1:${port}/${options.database}`
    const show = async <A>(command: string) => {
      const client = new pg.Client({ connectionString: url().replace(/\/[^/]*$/, "/pgbouncer") })
      await client.connect()
      try {
        // No parameters: the simple protocol, the only one the admin console speaks.
        return (await client.query(command)).rows as Array<A>
      } finally {
        await client.end()
      }
    }
    yield* Effect.tryPromise(() => show("SHOW VERSION")).pipe(
      Effect.retry(Schedule.spaced("100 millis").pipe(Schedule.upTo("10 seconds"))),
      Effect.orElse(() =>
        Effect.dieMessage(
          `pgbouncer did not accept connections on 127.0.0.1:${port} (exit ${child.exitCode}); its log:\n${log()}`
        )
      )
    )
    return { port, url, show, log } satisfies PgBouncer
  })
