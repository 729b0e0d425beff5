/**
 * The database a dbkit program talks to: a PostgreSQL server (`Database.layerPg`, @effect/sql-pg)
 * or the embedded PGlite database (`Database.layerPglite`), or the one DbConfig chooses
 * (`Database.layerConfig`). Each provides `SqlClient.SqlClient` plus `Database`, a small
 * description of what the target is and can do, so services never depend on a driver.
 * `PgLive`, `PgliteLive` and `DatabaseLive` are the same layers under their earlier names.
 */
import * as Reactivity from "@effect/experimental/Reactivity"
import type * as PgClient from "@effect/sql-pg/PgClient"
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Redacted from "effect/Redacted"
import { DbConfig, embeddedRefusal, type InvalidConfig } from "./Config.js"
import type { ConnectError, DatabaseUnavailable } from "./DatabaseErrors.js"
import type { BackupUntrusted } from "./DumpPolicy.js"
import * as Embedded from "./embedded/open.js"
import * as PgliteClient from "./embedded/PgliteClient.js"
import {
  loadPlainDump,
  type PlainDumpFailed,
  type PlainDumpOptions,
  type PlainDumpResult
} from "./embedded/PlainDump.js"
import { clientLayer, describeUrl, type PgOptions } from "./ServerPool.js"

export {
  type ConnectError,
  DatabaseUnavailable,
  EmbeddedVersionMismatch,
  NotSupportedOnEmbedded
} from "./DatabaseErrors.js"
export { EmbeddedInUse } from "./embedded/EmbeddedLock.js"
export { EmbeddedExtensionUnavailable } from "./embedded/extensions.js"
export { EMBEDDED_PG_MAJOR, type PgliteOptions } from "./embedded/open.js"
export { describeUrl, ownBackendPids, type PgOptions } from "./ServerPool.js"

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

/** The database capability description, with its layers. */
export class Database extends Context.Tag("dbkit/Database")<Database, DatabaseShape>() {
  /** A PostgreSQL server over @effect/sql-pg: PgClient, SqlClient and Database (also `PgLive`). */
  static get layerPg(): typeof PgLive {
    return PgLive
  }
  /** The embedded PGlite database: SqlClient and Database (also `PgliteLive`). */
  static get layerPglite(): typeof PgliteLive {
    return PgliteLive
  }
  /** The server when DbConfig has DATABASE_URL, else the embedded database (also `DatabaseLive`). */
  static get layerConfig(): typeof DatabaseLive {
    return DatabaseLive
  }
}

/** A PostgreSQL server over @effect/sql-pg: provides PgClient, SqlClient and Database. */
export const PgLive = (
  options: PgOptions
): Layer.Layer<PgClient.PgClient | SqlClient.SqlClient | Database, DatabaseUnavailable> => {
  const { database, target } = describeUrl(options.url)
  const client = clientLayer(options, target)
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

/**
 * The embedded PGlite database, in `dataDir` (created on first use) or in memory for
 * `memory://`. A data directory is opened by one process at a time: a lock file held for the
 * layer's life turns a second opener into `EmbeddedInUse` instead of a corrupted directory.
 * PGlite runs only the extensions it is given: those named in `extensions`, those the files in
 * `migrationsDir` create, and those already installed in the data directory are loaded; one PGlite
 * does not ship is `EmbeddedExtensionUnavailable` before anything is opened or created.
 */
export const PgliteLive = (
  options: Embedded.PgliteOptions
): Layer.Layer<SqlClient.SqlClient | Database, ConnectError> =>
  Layer.scopedContext(
    Effect.gen(function*() {
      const target = Embedded.targetOf(options.dataDir)
      const pg = yield* Embedded.open(options)
      const client = yield* PgliteClient.make(pg)
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
          embeddedDump: Option.some(Embedded.dump(pg, target)),
          embeddedLoad: Option.some(embeddedLoad)
        })
      )
    })
  ).pipe(Layer.provide(Reactivity.layer))

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
