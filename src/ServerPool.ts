/**
 * The server side of `Database.layerPg`: PgClient over a pg pool that records its connections'
 * backend pids (so a restore can tell this process's own sessions from another program's), and
 * the one-line reason a connection failed, read from the driver's error without ever carrying the
 * password. Nothing exported here names pg's types: they are not in a consumer's dependencies.
 */
import * as PgClient from "@effect/sql-pg/PgClient"
import type * as SqlClient from "@effect/sql/SqlClient"
import { SqlError } from "@effect/sql/SqlError"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import pg from "pg"
import { DatabaseUnavailable } from "./DatabaseErrors.js"
import * as Redact from "./Redact.js"

/** How to reach a PostgreSQL server. */
export interface PgOptions {
  readonly url: Redacted.Redacted<string>
  readonly poolSize?: number
  readonly applicationName?: string
  readonly connectTimeout?: Duration.DurationInput
}

/** `user@host:port/database` from a URL, without the password. */
export const describeUrl = (url: Redacted.Redacted<string>): { target: string; database: string } => {
  const parsed = new URL(Redacted.value(url))
  const database = decodeURIComponent(parsed.pathname.replace(/^\//, ""))
  const user = parsed.username ? `${decodeURIComponent(parsed.username)}@` : ""
  return { target: `${user}${parsed.hostname}:${parsed.port || "5432"}/${database}`, database }
}

const errorCode = (cause: unknown): string | undefined => {
  const code = (cause as { code?: unknown } | undefined)?.code
  return typeof code === "string" ? code : undefined
}

/** One line saying why a connection failed, from the driver's error. */
const connectReason = (
  cause: unknown,
  timeout: Duration.Duration,
  url: Redacted.Redacted<string>,
  elapsedMs = 0
): string => {
  const inner = (cause as { cause?: unknown } | undefined)?.cause ?? cause
  const code = errorCode(inner)
  const text = inner instanceof Error ? inner.message : String(inner)
  const reason = code === "ECONNREFUSED"
    ? "connection refused (is the server running and listening there?)"
    : code === "ENOTFOUND" || code === "EAI_AGAIN"
    ? "host not found"
    : code === "28P01"
    ? "password authentication failed"
    : code === "28000"
    ? `authentication rejected: ${text}`
    : code === "3D000"
    ? "database does not exist (create it first, or fix the name in DATABASE_URL)"
    : /timed? ?out/i.test(text) ||
        // pg's own connect timeout destroys the socket, which it sometimes reports as this
        (/connection terminated/i.test(text) && elapsedMs >= Duration.toMillis(timeout) * 0.9)
    ? `timed out after ${Duration.format(timeout)}`
    : text
  // Belt and braces: a driver message must never carry the password out.
  return Redact.scrubUrl(reason, url)
}

/** `host:port` of a server URL: whose backend pids a set holds. */
const serverOf = (url: Redacted.Redacted<string>) => {
  const parsed = new URL(Redacted.value(url))
  return `${parsed.hostname}:${parsed.port || "5432"}`
}

/** Backend pids of the connections this process's PgLive pools hold open, per server. */
const ownBackends = new Map<string, Set<number>>()

/**
 * The backend pids of every connection this process's PgLive pools hold on the server of
 * `url` (any database): the sessions that are this process's own, which a restore may end
 * without asking, as opposed to another program's that happens to share an application_name.
 */
export const ownBackendPids = (url: Redacted.Redacted<string>): ReadonlySet<number> =>
  new Set(ownBackends.get(serverOf(url)) ?? [])

/**
 * A pg pool that records its connections' backend pids (see `ownBackendPids`), checked by
 * opening its first connection (kept idle for the first query) and ended with the scope.
 */
const ownPool = (url: Redacted.Redacted<string>, config: pg.PoolConfig, timeout: Duration.Duration) => {
  const pids = ownBackends.get(serverOf(url)) ?? new Set<number>()
  ownBackends.set(serverOf(url), pids)
  const pidOf = (client: pg.PoolClient) => (client as unknown as { processID?: number | null }).processID ?? undefined
  return Effect.acquireRelease(
    Effect.tryPromise({
      try: async () => {
        const pool = new pg.Pool({ ...config, connectionString: Redacted.value(url) })
        const mine = new Set<number>()
        pool.on("error", () => {}) // an idle connection cut by the server: the pool replaces it
        pool.on("connect", (client) => {
          const pid = pidOf(client)
          if (pid !== undefined) (mine.add(pid), pids.add(pid))
        })
        pool.on("remove", (client) => {
          const pid = pidOf(client)
          if (pid !== undefined) (mine.delete(pid), pids.delete(pid))
        })
        const forget = () => mine.forEach((pid) => pids.delete(pid))
        try {
          // A connection is ready once the server has authenticated it and sent ReadyForQuery:
          // that is the check, without the round trip of a query (PgClient.make sends SELECT 1).
          const first = await pool.connect()
          first.release()
        } catch (error) {
          forget()
          await pool.end().catch(() => undefined)
          throw error
        }
        return { pool, forget }
      },
      catch: (cause) => new SqlError({ cause, message: "PgClient: Failed to connect" })
    }),
    ({ forget, pool }) =>
      Effect.promise(() => pool.end()).pipe(
        Effect.interruptible,
        Effect.timeoutOption(1000),
        Effect.ensuring(Effect.sync(forget))
      )
  ).pipe(
    Effect.map(({ pool }) => pool),
    Effect.timeoutFail({
      duration: timeout,
      onTimeout: () =>
        new SqlError({ cause: new Error("Connection timed out"), message: "PgClient: Connection timed out" })
    })
  )
}

/** PgClient (and SqlClient) over an own pool; a failed first connection is DatabaseUnavailable saying why. */
export const clientLayer = (
  options: PgOptions,
  target: string
): Layer.Layer<PgClient.PgClient | SqlClient.SqlClient, DatabaseUnavailable> => {
  const timeout = Duration.decode(options.connectTimeout ?? Duration.seconds(5))
  const applicationName = options.applicationName ?? "dbkit"
  return Layer.unwrapEffect(Effect.sync(() => {
    const started = Date.now()
    return PgClient.layerFromPool({
      acquire: ownPool(options.url, {
        max: options.poolSize ?? 10,
        application_name: applicationName,
        connectionTimeoutMillis: Duration.toMillis(timeout),
        idleTimeoutMillis: 30_000
      }, timeout),
      applicationName
    }).pipe(
      Layer.catchAll((error) =>
        Layer.fail(
          new DatabaseUnavailable({
            target,
            reason: connectReason(error.cause ?? error, timeout, options.url, Date.now() - started)
          })
        )
      )
    )
  }))
}
