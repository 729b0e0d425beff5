/**
 * The database a dbkit program talks to: a PostgreSQL server (PgLive, @effect/sql-pg) or the
 * embedded PGlite database (PgliteLive). Both provide `SqlClient.SqlClient` plus `Database`, a
 * small description of what the target is and can do, so services never depend on a driver.
 */
import * as Reactivity from "@effect/experimental/Reactivity"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as SqlClient from "@effect/sql/SqlClient"
import { SqlError } from "@effect/sql/SqlError"
import type { PGlite } from "@electric-sql/pglite"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as fs from "node:fs"
import * as path from "node:path"
import pg from "pg"
import { DbConfig, embeddedRefusal, type InvalidConfig } from "./Config.js"
import type { BackupUntrusted } from "./DumpPolicy.js"
import * as EmbeddedLock from "./embedded/EmbeddedLock.js"
import type { EmbeddedInUse } from "./embedded/EmbeddedLock.js"
import * as EmbeddedExtensions from "./embedded/extensions.js"
import type { EmbeddedExtensionUnavailable } from "./embedded/extensions.js"
import * as PgliteClient from "./embedded/PgliteClient.js"
import {
  loadPlainDump,
  type PlainDumpFailed,
  type PlainDumpOptions,
  type PlainDumpResult
} from "./embedded/PlainDump.js"
import * as Redact from "./Redact.js"

export { EmbeddedInUse } from "./embedded/EmbeddedLock.js"
export { EmbeddedExtensionUnavailable } from "./embedded/extensions.js"

/** The major PostgreSQL version inside the bundled PGlite; data directories must match it. */
export const EMBEDDED_PG_MAJOR = "18"

/** What a service may ask about the database it runs on. */
export interface DatabaseShape {
  readonly kind: "server" | "embedded"
  /** Where the database is, safe to print: `user@host:port/db` or the data directory. */
  readonly target: string
  readonly database: string
  /** The server URL, for tools that need their own connection (pg_dump, psql). Server only. */
  readonly url: Option.Option<Redacted.Redacted<string>>
  /** Session advisory locks held across processes (false on the single-session embedded db). */
  readonly sessionLocks: boolean
  /**
   * The embedded database's own pg_dump (PGlite's WASM build), given pg_dump arguments; it must
   * run while the caller holds the session (inside `sql.reserve` / a transaction). Embedded only.
   */
  readonly embeddedDump: Option.Option<(args: ReadonlyArray<string>) => Effect.Effect<Blob, DatabaseUnavailable>>
  /** Loads a plain pg_dump script into the embedded database (see `EmbeddedLoad`). Embedded only. */
  readonly embeddedLoad: Option.Option<EmbeddedLoad>
}

/**
 * Runs a plain pg_dump script (PlainDump.ts) on the embedded database in one transaction, holding
 * its session throughout (other work waits), and resets the session's settings before it ends.
 * Inside the caller's `sql.withTransaction` it joins that transaction, so the caller can clear
 * what the script replaces first and check the result before anything is committed.
 */
export type EmbeddedLoad = (
  source: AsyncIterable<Buffer | Uint8Array | string>,
  options?: Omit<PlainDumpOptions, "transaction">
) => Effect.Effect<PlainDumpResult, PlainDumpFailed | BackupUntrusted | SqlError>

/** The database capability description. */
export class Database extends Context.Tag("dbkit/Database")<Database, DatabaseShape>() {}

/** The database cannot be reached or refused us; says where and why, never the password. */
export class DatabaseUnavailable extends Data.TaggedError("DatabaseUnavailable")<{
  readonly target: string
  readonly reason: string
}> {
  override get message() {
    return `cannot connect to ${this.target}: ${this.reason}`
  }
}

/** The embedded data directory was made by another PostgreSQL major version. */
export class EmbeddedVersionMismatch extends Data.TaggedError("EmbeddedVersionMismatch")<{
  readonly dataDir: string
  readonly found: string
  readonly expected: string
}> {
  override get message() {
    return `the embedded database in ${this.dataDir} was created by PostgreSQL ${this.found}, this dbkit embeds PostgreSQL ${this.expected}; back it up with the dbkit that made it, or move the directory away`
  }
}

/** A feature that needs a PostgreSQL server was asked of the embedded database. */
export class NotSupportedOnEmbedded extends Data.TaggedError("NotSupportedOnEmbedded")<{
  readonly feature: string
  /** What to do instead on the embedded database, if anything. */
  readonly instead?: string | undefined
}> {
  override get message() {
    return `${this.feature} needs a PostgreSQL server; set DATABASE_URL to run it${
      this.instead ? `, or ${this.instead}` : ""
    }`
  }
}

export type ConnectError = DatabaseUnavailable | EmbeddedInUse | EmbeddedVersionMismatch | EmbeddedExtensionUnavailable

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

/** A PostgreSQL server over @effect/sql-pg: provides PgClient, SqlClient and Database. */
export const PgLive = (options: {
  readonly url: Redacted.Redacted<string>
  readonly poolSize?: number
  readonly applicationName?: string
  readonly connectTimeout?: Duration.DurationInput
}): Layer.Layer<PgClient.PgClient | SqlClient.SqlClient | Database, DatabaseUnavailable> => {
  const { database, target } = describeUrl(options.url)
  const timeout = Duration.decode(options.connectTimeout ?? Duration.seconds(5))
  const applicationName = options.applicationName ?? "dbkit"
  const client = Layer.unwrapEffect(Effect.sync(() => {
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
  const info = Layer.succeed(Database, {
    kind: "server",
    target,
    database,
    url: Option.some(options.url),
    sessionLocks: true,
    embeddedDump: Option.none(),
    embeddedLoad: Option.none()
  })
  return Layer.merge(client, info)
}

/** Refuses a data directory written by another PostgreSQL major version. */
const checkDataDirVersion = (dataDir: string) =>
  Effect.suspend(() => {
    const versionFile = path.join(dataDir, "PG_VERSION")
    if (!fs.existsSync(versionFile)) return Effect.void
    const found = fs.readFileSync(versionFile, "utf8").trim()
    return found === EMBEDDED_PG_MAJOR
      ? Effect.void
      : Effect.fail(new EmbeddedVersionMismatch({ dataDir, found, expected: EMBEDDED_PG_MAJOR }))
  })

/**
 * The embedded PGlite database, in `dataDir` (created on first use) or in memory for
 * `memory://`. A data directory is opened by one process at a time: a lock file held for the
 * layer's life turns a second opener into `EmbeddedInUse` instead of a corrupted directory.
 * PGlite runs only the extensions it is given: those named in `extensions`, those the files in
 * `migrationsDir` create, and those already installed in the data directory are loaded; one PGlite
 * does not ship is `EmbeddedExtensionUnavailable` before anything is opened or created.
 */
export const PgliteLive = (options: {
  readonly dataDir: string
  /** Start from a `dumpDataDir()` tarball instead of running initdb (fast clones for tests). */
  readonly loadDataDir?: Blob | undefined
  /** Extensions to load, by SQL name (`"pgcrypto"`, `"uuid-ossp"`). */
  readonly extensions?: ReadonlyArray<string> | undefined
  /** A migrations folder: the extensions its `.sql` files `CREATE EXTENSION` are loaded too. */
  readonly migrationsDir?: string | undefined
}): Layer.Layer<SqlClient.SqlClient | Database, ConnectError> => {
  const inMemory = options.dataDir.startsWith("memory://")
  const target = inMemory ? "embedded (in memory)" : `embedded ${options.dataDir}`
  return Layer.scopedContext(
    Effect.gen(function*() {
      // Before the lock and the directory: a migration needing a server changes nothing on disk.
      const requested: Array<EmbeddedExtensions.ExtensionRequest> = [
        ...(options.extensions ?? []).map((name) => ({ name })),
        ...(options.migrationsDir === undefined ? [] : EmbeddedExtensions.requestedByMigrations(options.migrationsDir))
      ]
      const extensions = yield* EmbeddedExtensions.load(requested)
      if (!inMemory) {
        yield* EmbeddedLock.acquire(options.dataDir)
        yield* checkDataDirVersion(options.dataDir)
      }
      const { PGlite } = yield* Effect.promise(() => import("@electric-sql/pglite"))
      const open = (loaded: typeof extensions, loadDataDir: Blob | undefined) =>
        Effect.tryPromise({
          try: () =>
            PGlite.create(
              inMemory ? undefined : options.dataDir,
              loadDataDir ? { loadDataDir, extensions: loaded } : { extensions: loaded }
            ),
          catch: (cause) =>
            new DatabaseUnavailable({
              target,
              reason: `could not open the embedded database: ${cause instanceof Error ? cause.message : String(cause)}`
            })
        })
      const close = (pg: PGlite) =>
        Effect.promise(() => pg.close()).pipe(Effect.timeoutOption("5 seconds"), Effect.ignore)
      // An extension installed earlier whose migration is gone (or came with a loaded data
      // directory) must be loaded too; only a catalog query tells, so reopen in that rare case.
      const withInstalled = (pg: PGlite) =>
        Effect.gen(function*() {
          const installed = yield* Effect.tryPromise(() =>
            pg.query<{ extname: string }>("SELECT extname FROM pg_extension")
          ).pipe(
            Effect.map((result) => result.rows.map((row) => row.extname)),
            Effect.orElseSucceed((): Array<string> => [])
          )
          const known = new Set(requested.map((request) => request.name))
          const unloaded = installed.filter((name) => !known.has(name) && EmbeddedExtensions.isShipped(name))
          if (unloaded.length === 0) return pg
          const all = yield* EmbeddedExtensions.load([...requested, ...unloaded.map((name) => ({ name }))])
          yield* close(pg)
          return yield* open(all, inMemory ? options.loadDataDir : undefined)
        })
      const pg = yield* Effect.acquireRelease(
        Effect.flatMap(open(extensions, options.loadDataDir), withInstalled),
        close
      )
      const client = yield* PgliteClient.make(pg)
      const embeddedDump = (args: ReadonlyArray<string>) =>
        Effect.tryPromise({
          try: async () => {
            const { pgDump } = await import("@electric-sql/pglite-tools/pg_dump")
            try {
              return (await pgDump({ pg, args: [...args] })) as Blob
            } finally {
              // pg_dump runs in this very session: it leaves its REPEATABLE READ, READ ONLY
              // transaction open and its session settings changed (search_path = '',
              // row_security, timeouts…). End the one and undo the others, or later work fails.
              await pg.exec("ROLLBACK").catch(() => undefined)
              await pg.exec("RESET ALL").catch(() => undefined)
            }
          },
          catch: (cause) =>
            new DatabaseUnavailable({
              target,
              reason: `embedded pg_dump failed: ${cause instanceof Error ? cause.message : String(cause)}`
            })
        })
      // The client's transaction holds the session; the script runs on the instance inside it.
      const embeddedLoad: EmbeddedLoad = (source, loadOptions = {}) =>
        client.withTransaction(
          Effect.zipLeft(
            loadPlainDump(pg, source, { ...loadOptions, transaction: "caller" }),
            client.unsafe("RESET ALL")
          )
        )
      return Context.make(SqlClient.SqlClient, client).pipe(
        Context.add(Database, {
          kind: "embedded",
          target,
          database: "postgres",
          url: Option.none(),
          sessionLocks: false,
          embeddedDump: Option.some(embeddedDump),
          embeddedLoad: Option.some(embeddedLoad)
        })
      )
    })
  ).pipe(Layer.provide(Reactivity.layer))
}

/**
 * The database chosen by DbConfig: the server when DATABASE_URL is set, else the embedded one —
 * except in staging and production, where a missing or empty DATABASE_URL is InvalidConfig
 * (exit 2) before anything is opened or created.
 */
export const DatabaseLive: Layer.Layer<
  SqlClient.SqlClient | Database,
  ConnectError | InvalidConfig,
  DbConfig
> = Layer.unwrapEffect(
  Effect.map(
    DbConfig,
    (config): Layer.Layer<SqlClient.SqlClient | Database, ConnectError | InvalidConfig> =>
      Option.match(config.databaseUrl, {
        onNone: () => {
          const refused = embeddedRefusal(config)
          return refused === undefined
            ? PgliteLive({ dataDir: config.dataDir, migrationsDir: config.migrationsDir })
            : Layer.fail(refused) as Layer.Layer<SqlClient.SqlClient | Database, InvalidConfig>
        },
        onSome: (url) =>
          PgLive({
            url,
            poolSize: config.poolSize,
            applicationName: config.applicationName,
            connectTimeout: config.connectTimeout
          })
      })
  )
)
