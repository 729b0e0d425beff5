/**
 * What the Backup and Restore engines run on: the services each `make` reads once, as a small
 * record, so the engine (dump.ts, verify.ts, restoreInto.ts, restoreOver.ts) is plain top-level
 * functions over it.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"
import { DbConfig, type DbConfigShape } from "../Config.js"
import { Database, type DatabaseShape } from "../Database.js"
import type { Backup } from "./Backup.js"

/** The configured database, as Backup's engine needs it. */
export interface BackupContext {
  readonly sql: SqlClient.SqlClient
  readonly database: DatabaseShape
  readonly config: DbConfigShape
  /** `server_version`, as the manifest records it. */
  readonly serverVersion: string
  /** `server_version_num`'s major: pg_dump must be at least this new. */
  readonly serverMajor: number
}

/** Reads the services and the server's version (once, when the layer is built). */
export const backupContext: Effect.Effect<BackupContext, never, SqlClient.SqlClient | Database | DbConfig> = Effect.gen(
  function*() {
    const sql = yield* SqlClient.SqlClient
    const [server] = yield* Effect.orDie(sql<{ version: string; num: number }>`
    SELECT current_setting('server_version') AS version, current_setting('server_version_num')::int AS num`)
    return {
      sql,
      database: yield* Database,
      config: yield* DbConfig,
      serverVersion: server!.version,
      serverMajor: Math.floor(server!.num / 10000)
    }
  }
)

/** The configured database and the Backup a restore takes its safety backup with. */
export interface RestoreContext {
  readonly sql: SqlClient.SqlClient
  readonly database: DatabaseShape
  readonly config: DbConfigShape
  readonly backup: Backup["Type"]
}

export const restoreContext = (
  backup: Backup["Type"]
): Effect.Effect<RestoreContext, never, SqlClient.SqlClient | Database | DbConfig> =>
  Effect.gen(function*() {
    return { sql: yield* SqlClient.SqlClient, database: yield* Database, config: yield* DbConfig, backup }
  })
