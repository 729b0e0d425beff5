/**
 * Restore: puts a verified backup back into a database. The file is checked before anything is
 * created (manifest, size, key; unencrypted and format-1 files also checksum and authenticated
 * decryption in a pass of their own) and again as it streams in (each format-2 chunk's tag
 * before its bytes go on; sha256, gzip's CRC and size before psql's COMMIT), see
 * Files.checkBeforeLoad and Load.loadDump.
 *
 * `into` restores into a new database: created, loaded in one transaction that stops at the
 * first error, and its row counts compared with the manifest; on any failure the new database
 * is dropped again, so nothing is left behind. `over` loads into a staging database the same
 * way, then swaps it in for the target (guarded; a safety backup first).
 */
import { applicationSchemas, dropSchemas } from "./schemas.js"
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import { type ConnectError, Database, type EmbeddedLoad, NotSupportedOnEmbedded, PgLive } from "../Database.js"
import type { PlainDumpFailed } from "../embedded/PlainDump.js"
import type * as PgTools from "../PgTools.js"
import { siblingUrl } from "../Scratch.js"
import { Guard, type GuardError } from "../Guard.js"
import { DbConfig } from "../Config.js"
import { Backup, type BackupError, backupKey, verifyFile, type VerifyResult } from "./Backup.js"
import type { VerifyError } from "./errors.js"
import * as Files from "./files.js"
import * as Load from "./load.js"

/** The database to restore into already exists (restore --into only creates new ones). */
export class RestoreTargetExists extends Data.TaggedError("RestoreTargetExists")<{ readonly database: string }> {
  override get message() {
    return `database ${this.database} already exists; --into restores into a new database (pick another name, or drop it first)`
  }
}

/** Not a name PostgreSQL would take unquoted. */
export class InvalidDatabaseName extends Data.TaggedError("InvalidDatabaseName")<{ readonly name: string }> {
  override get message() {
    return `"${this.name}" is not a valid database name: use letters, digits and underscores, starting with a letter or underscore, at most 63 characters`
  }
}

/** Other sessions are connected to the database a restore would replace. */
export class RestoreTargetInUse extends Data.TaggedError("RestoreTargetInUse")<{
  readonly database: string
  readonly sessions: ReadonlyArray<{ readonly pid: number; readonly applicationName: string; readonly user: string }>
}> {
  override get message() {
    const who = this.sessions.slice(0, 3).map((s) => `pid ${s.pid} (${s.applicationName || "no application_name"}, ${s.user})`).join(", ")
    return `database ${this.database} is in use by ${this.sessions.length} session(s): ${who}; stop them, or pass --terminate-connections`
  }
}

export interface RestoreResult {
  readonly file: string
  readonly database: string
  readonly tables: number
  readonly rows: number
}

export interface RestoreOverResult extends RestoreResult {
  /** The safety backup taken first, if any. */
  readonly safetyBackup: string | null
  /** The replaced database, kept under this name when no safety backup was taken (server only). */
  readonly previous: string | null
  /** Roles the backup's grants and policies name that were missing and created (embedded only). */
  readonly rolesCreated: ReadonlyArray<string>
}

export type { LoadProgress as RestoreProgress } from "./load.js"

export interface RestoreIntoOptions {
  /** Called as the dump streams in: bytes of the file read (of its size), bytes of SQL passed on. */
  readonly onProgress?: ((progress: Load.LoadProgress) => void) | undefined
}

export interface RestoreOverOptions extends RestoreIntoOptions {
  /** `--yes`: confirm without DB_RESTORE_CONFIRM or the prompt. */
  readonly yes?: boolean | undefined
  /** Take a safety backup of the database first (default true). */
  readonly safetyBackup?: boolean | undefined
  /** Disconnect other sessions instead of refusing (`--terminate-connections`). */
  readonly terminateConnections?: boolean | undefined
}

export type RestoreError =
  | VerifyError
  | RestoreTargetInUse
  | RestoreTargetExists
  | InvalidDatabaseName
  | NotSupportedOnEmbedded
  | PgTools.PgToolFailed
  | PgTools.PgToolMissing
  | PgTools.PgToolTooOld
  | PlainDumpFailed
  | ConnectError
  | SqlError

/** Verifies a backup file without opening any database (`restore --validate-only`). */
export const validateFile: (file: string) => Effect.Effect<VerifyResult, VerifyError> = verifyFile

/** The Restore service. */
export class Restore extends Context.Tag("dbkit/Restore")<Restore, {
  /** Verifies a backup without touching any database (`restore --validate-only`). */
  readonly validate: (file: string) => Effect.Effect<VerifyResult, RestoreError>
  /** Restores into a new database on the same server; leaves nothing behind on failure. */
  readonly into: (file: string, database: string, options?: RestoreIntoOptions) => Effect.Effect<RestoreResult, RestoreError>
  /**
   * Replaces the configured database with the backup, guarded (DB_RESTORE_CONFIRM / --yes;
   * production also DB_RESTORE_ALLOW_PRODUCTION). On a server the dump is loaded into a staging
   * database and checked; then a safety backup of the target is taken, and one transaction renames
   * the target away and the staging database into its place; until that rename the target is
   * untouched, and a file that fails its checks costs no safety backup. On the embedded database
   * one transaction replaces the application schemas with the (plain) dump and checks the counts;
   * a failure rolls it all back.
   */
  readonly over: (file: string, options?: RestoreOverOptions) => Effect.Effect<RestoreOverResult, RestoreError | GuardError | BackupError, Guard>
}>() {}

const NAME = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/

const make = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const database = yield* Database
  const backup = yield* Backup
  const config = yield* DbConfig

  const validate = (file: string) => validateFile(file)

  const key = Effect.map(backupKey, Option.getOrUndefined)

  const serverUrl = (feature: string, instead?: string) =>
    Option.match(database.url, {
      onNone: () => Effect.fail(new NotSupportedOnEmbedded({ feature, instead })),
      onSome: Effect.succeed
    })

  const serverMajor = Effect.map(
    sql<{ num: number }>`SELECT current_setting('server_version_num')::int AS num`,
    ([row]) => Math.floor(row!.num / 10000)
  )

  /**
   * Checks the file (Files.checkBeforeLoad, see there for what `streaming` leaves to the load)
   * and, meanwhile, the server side: that `name` is free and psql or pg_restore is new enough.
   * Then creates `name`, loads the file into it and checks the counts; drops it on failure.
   */
  const loadInto = (url: Redacted.Redacted<string>, file: string, name: string, options: RestoreIntoOptions) =>
    Effect.gen(function*() {
      const { manifest } = yield* Files.inspect(file)
      const secret = yield* key
      const [, major] = yield* Effect.all([
        Files.checkBeforeLoad(file, secret, { streaming: true }),
        Effect.gen(function*() {
          const major = yield* serverMajor
          const [exists] = yield* sql<{ e: boolean }>`SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = ${name}) AS e`
          if (exists?.e) return yield* new RestoreTargetExists({ database: name })
          yield* Load.checkTool(manifest, major)
          return major
        })
      ], { concurrency: 2 })
      yield* sql.unsafe(`CREATE DATABASE "${name}"`)
      const target = siblingUrl(url, name)
      const restored = Effect.gen(function*() {
        const loaded = yield* Load.loadDump(file, manifest, secret, target, major, options.onProgress)
        // psql's COPY tags usually cover every table: then no connection to count rows is needed.
        const left = Load.uncounted(manifest, loaded)
        const counted = left.length === 0
          ? {}
          : yield* Load.countRows(left).pipe(Effect.provide(PgLive({ url: target, poolSize: 1, applicationName: "dbkit-restore" })))
        return yield* Load.judgeCounts(file, manifest, loaded, counted)
      })
      return yield* restored.pipe(
        Effect.scoped,
        Effect.tapErrorCause(() => Effect.ignore(sql.unsafe(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`)))
      )
    })

  const into = (file: string, name: string, options: RestoreIntoOptions = {}) =>
    Effect.gen(function*() {
      if (!NAME.test(name)) return yield* new InvalidDatabaseName({ name })
      const url = yield* serverUrl("restore --into", "leave out --into to restore over the embedded database (it holds a single database)")
      const counts = yield* loadInto(url, file, name, options)
      return { file, database: name, ...counts } satisfies RestoreResult
    })

  /**
   * Over the embedded database: one transaction drops the application schemas (public is made
   * again as initdb makes it), loads the dump and compares the counts; COMMIT only if all of it
   * succeeded. PostgreSQL's DDL is transactional, so a failure anywhere restores everything.
   */
  const overEmbedded = (load: EmbeddedLoad, file: string, options: RestoreOverOptions) =>
    Effect.gen(function*() {
      const guard = yield* Guard
      const target = database.database
      yield* Load.checkEmbeddedFormat((yield* Files.inspect(file)).manifest)
      yield* guard.confirm({ action: `replace the database with ${file}`, variable: "DB_RESTORE", target, yes: options.yes })
      const manifest = yield* Files.checkBeforeLoad(file, yield* key)
      const safety = options.safetyBackup === false ? null : (yield* backup.backup()).file
      const restored = yield* sql.withTransaction(
        Effect.gen(function*() {
          const schemas = (yield* sql.unsafe<{ name: string }>(applicationSchemas)).map((r) => r.name)
          yield* sql.unsafe(
            `${dropSchemas(schemas)}
             CREATE SCHEMA public AUTHORIZATION pg_database_owner;
             COMMENT ON SCHEMA public IS 'standard public schema';
             GRANT USAGE ON SCHEMA public TO PUBLIC;`
          )
          const loaded = yield* Load.loadEmbedded(load, file, manifest, yield* key, options.onProgress)
          const counts = yield* Load.compareCounts(file, manifest, loaded).pipe(Effect.provideService(SqlClient.SqlClient, sql))
          return { ...counts, rolesCreated: loaded.rolesCreated }
        })
      )
      return { file, database: target, ...restored, safetyBackup: safety, previous: null } satisfies RestoreOverResult
    })

  const over = (file: string, options: RestoreOverOptions = {}) =>
    Effect.gen(function*() {
      if (Option.isSome(database.embeddedLoad)) return yield* overEmbedded(database.embeddedLoad.value, file, options)
      const guard = yield* Guard
      const url = yield* serverUrl("restore over this database")
      const target = database.database
      yield* guard.confirm({ action: `replace the database with ${file}`, variable: "DB_RESTORE", target, yes: options.yes })
      const stamp = new Date().toISOString().replace(/\D/g, "").slice(0, 14)
      const staging = `${target.slice(0, 40)}_restore_${stamp}`
      const previous = `${target.slice(0, 40)}_previous_${stamp}`
      const counts = yield* loadInto(url, file, staging, options)
      // The safety backup is taken once the backup is known to load (the target is untouched
      // until the swap), so a bad file costs no backup, and the copy is as recent as it can be.
      const swapped = Effect.scoped(
        Effect.gen(function*() {
          const safety = options.safetyBackup === false ? null : (yield* backup.backup()).file
          const maintenance = yield* Layer.build(PgLive({ url: siblingUrl(url, "postgres"), poolSize: 1, applicationName: "dbkit-restore" }))
          const admin = Context.get(maintenance, SqlClient.SqlClient)
          // dbkit's own idle pool connections go; anyone else's are a reason to stop (or --terminate-connections).
          const sessions = yield* admin<{ pid: number; applicationName: string; user: string }>`
            SELECT pid, coalesce(application_name, '') AS "applicationName", usename AS "user"
              FROM pg_stat_activity WHERE datname = ${target} AND pid <> pg_backend_pid()`
          const others = sessions.filter((s) => s.applicationName !== config.applicationName)
          if (others.length > 0 && options.terminateConnections !== true) {
            return yield* new RestoreTargetInUse({ database: target, sessions: others })
          }
          for (const session of sessions) yield* admin`SELECT pg_terminate_backend(${session.pid})`
          yield* admin.withTransaction(
            admin.unsafe(`ALTER DATABASE "${target}" RENAME TO "${previous}"`).pipe(
              Effect.zipRight(admin.unsafe(`ALTER DATABASE "${staging}" RENAME TO "${target}"`))
            )
          )
          if (safety !== null) yield* Effect.ignore(admin.unsafe(`DROP DATABASE IF EXISTS "${previous}" WITH (FORCE)`))
          return safety
        })
      )
      const safety = yield* swapped.pipe(
        Effect.tapErrorCause(() => Effect.ignore(sql.unsafe(`DROP DATABASE IF EXISTS "${staging}" WITH (FORCE)`)))
      )
      return { file, database: target, ...counts, safetyBackup: safety, previous: safety === null ? previous : null, rolesCreated: [] } satisfies RestoreOverResult
    })

  return Restore.of({ validate, into, over })
})

/** The Restore service (uses Backup's verification and key). */
export const layer: Layer.Layer<Restore, never, SqlClient.SqlClient | Database | Backup | DbConfig> =
  Layer.effect(Restore, make)
