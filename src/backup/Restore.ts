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
 * way, then swaps it in for the target (guarded; one at a time per database, see targetLock.ts;
 * what killed restores left goes first, see leftovers.ts; a safety backup before the swap).
 */
import { applicationSchemas, dropSchemas } from "./schemas.js"
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"
import type * as AdvisoryLock from "../AdvisoryLock.js"
import { type ConnectError, Database, type EmbeddedLoad, NotSupportedOnEmbedded, ownBackendPids, PgLive } from "../Database.js"
import { quoteIdent } from "../Identifier.js"
import type { PlainDumpFailed } from "../embedded/PlainDump.js"
import type * as PgTools from "../PgTools.js"
import { siblingUrl } from "../Scratch.js"
import { Guard, type GuardError } from "../Guard.js"
import { DbConfig } from "../Config.js"
import { Backup, type BackupError, backupKey, layer as backupLayer, verifyFile, type VerifyResult } from "./Backup.js"
import type { BackupUntrustedOrigin, VerifyError } from "./errors.js"
import * as Files from "./files.js"
import * as Leftovers from "./leftovers.js"
import * as Load from "./load.js"
import { screenDump } from "./screen.js"
import { databaseProperties, holdTargetLock, type RestoreLockTimeout, waitersSessions } from "./targetLock.js"
import * as Trust from "./trust.js"
import * as ServerError from "../ServerError.js"

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
  /** Sessions this process did not open (its own are ended without asking). */
  readonly sessions: ReadonlyArray<{ readonly pid: number; readonly applicationName: string; readonly user: string }>
  /** The safety backup written before a session appeared, or null: none was written. */
  readonly safetyBackup: string | null
}> {
  override get message() {
    const who = this.sessions.slice(0, 3).map((s) => `pid ${s.pid} (${s.applicationName || "no application_name"}, ${s.user})`).join(", ")
    const backup = this.safetyBackup === null ? "no safety backup was written" : `a safety backup was written to ${this.safetyBackup}`
    return `database ${this.database} is in use by ${this.sessions.length} session(s): ${who}; nothing was changed and ${backup}; stop them, or pass --terminate-connections`
  }
}

export interface RestoreResult {
  readonly file: string
  readonly database: string
  /**
   * Settings the dump sets that this server does not have and that were left out knowingly
   * (`transaction_timeout` from a PostgreSQL 17+ pg_dump, e.g. the embedded database's).
   */
  readonly skippedSettings?: ReadonlyArray<string> | undefined
  /** Whether the counts were compared with a manifest (false: a plain pg_dump file has none). */
  readonly countsChecked: boolean
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
  /** What killed earlier restores and backups of this database had left, removed first. */
  readonly leftoversRemoved: Leftovers.Removed
}

export type { LoadProgress as RestoreProgress } from "./load.js"

export interface RestoreIntoOptions {
  /** Called as the dump streams in: bytes of the file read (of its size), bytes of SQL passed on. */
  readonly onProgress?: ((progress: Load.LoadProgress) => void) | undefined
  /**
   * `--trust-unsigned`: restore a file whose origin dbkit cannot verify (no manifest, an unsigned
   * one, another machine's key). Without it such a file needs the database name typed at a
   * terminal, and in production it is refused.
   */
  readonly trustUnsigned?: boolean | undefined
}

export interface RestoreOverOptions extends RestoreIntoOptions {
  /** `--yes`: confirm without DB_RESTORE_CONFIRM or the prompt. */
  readonly yes?: boolean | undefined
  /** Take a safety backup of the database first (default true). */
  readonly safetyBackup?: boolean | undefined
  /** Disconnect other sessions instead of refusing (`--terminate-connections`). */
  readonly terminateConnections?: boolean | undefined
  /** How long to wait for another restore or reset of the same database (default 5 minutes). */
  readonly lockWait?: Duration.DurationInput | undefined
  /** `--allow-empty`: restore a backup with no tables over a database that has some. */
  readonly allowEmpty?: boolean | undefined
}

export type RestoreError =
  | VerifyError
  | BackupUntrustedOrigin
  | RestoreTargetInUse
  | RestoreLockTimeout
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
   * production also DB_RESTORE_ALLOW_PRODUCTION). On a server, holding the target's restore lock,
   * the dump is loaded into a staging database and checked; another program's session on the
   * target refuses it (RestoreTargetInUse, unless `terminateConnections`); then a safety backup of
   * the target is taken, and one transaction gives the staging database the target's owner, ACL,
   * settings, comment and connection limit, renames the target away and the staging database into
   * its place. Until that rename the target is untouched, and a file that fails its checks or a
   * refusal costs no safety backup. On the embedded database
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

  /**
   * The file's origin and, `over` a database, that it would not empty it (Trust.checkRestorable):
   * the first thing a restore does, before it asks for confirmation or touches any database.
   */
  const trusted = (file: string, target: string, options: RestoreOverOptions, over: boolean) =>
    Effect.flatMap(key, (secret) =>
      Trust.checkRestorable(file, {
        target,
        environment: config.environment,
        key: secret,
        trustUnsigned: options.trustUnsigned,
        over: over ? { allowEmpty: options.allowEmpty } : undefined
      }).pipe(
        // A file dbkit cannot vouch for is read whole by dbkit's reader first, so a hostile line is
        // refused before any database is created; a signed one is read as it streams in.
        Effect.tap((origin) =>
          origin.status === "unverified" ? Effect.flatMap(Files.inspect(file), ({ manifest }) => screenDump(file, manifest, secret)) : Effect.void
        )
      )).pipe(Effect.provideService(SqlClient.SqlClient, sql))

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
      const { foreign, manifest } = yield* Files.inspect(file)
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
      // Another restore may take the name between the check above and here: that is the same
      // refusal (42P04, or 23505 when both CREATE DATABASE at the same instant).
      yield* sql.unsafe(`CREATE DATABASE "${name}"`).pipe(
        Effect.catchIf(
          (error) => ["42P04", "23505"].includes(ServerError.sqlState(error) ?? ""),
          () => Effect.fail(new RestoreTargetExists({ database: name }))
        )
      )
      const target = siblingUrl(url, name)
      const restored = Effect.gen(function*() {
        const loaded = yield* Load.loadDump(file, manifest, secret, target, major, options.onProgress)
        if (foreign) return { ...Load.uncheckedCounts(loaded), skippedSettings: loaded.skippedSettings ?? [] }
        // The server's COPY results usually cover every table: then no connection to count rows is needed.
        const left = Load.uncounted(manifest, loaded)
        const counted = left.length === 0
          ? {}
          : yield* Load.countRows(left).pipe(Effect.provide(PgLive({ url: target, poolSize: 1, applicationName: "dbkit-restore" })))
        const counts = yield* Load.judgeCounts(file, manifest, loaded, counted)
        return { ...counts, skippedSettings: loaded.skippedSettings ?? [] }
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
      yield* trusted(file, name, options, false)
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
      const inspected = yield* Files.inspect(file)
      yield* Load.checkEmbeddedFormat(inspected.manifest)
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
          const counts = inspected.foreign
            ? Load.uncheckedCounts(loaded)
            : yield* Load.compareCounts(file, manifest, loaded).pipe(Effect.provideService(SqlClient.SqlClient, sql))
          return { ...counts, rolesCreated: loaded.rolesCreated }
        })
      )
      const leftoversRemoved: Leftovers.Removed = {
        stagingDatabases: [],
        partialFiles: (yield* Leftovers.removeStalePartialFiles(config.backupDir, new Date(), target)).map((f) => f.file)
      }
      return { file, database: target, ...restored, safetyBackup: safety, previous: null, leftoversRemoved } satisfies RestoreOverResult
    })

  /**
   * Sessions on `target` but the asking one, split into dbkit's own — this process's pools', and
   * those of dbkit processes queued for the same lock (targetLock.ts) — and everyone else's.
   */
  const sessionsOn = (run: AdvisoryLock.Session, url: Redacted.Redacted<string>, target: string) =>
    Effect.zipWith(
      run(
        `SELECT pid, coalesce(application_name, '') AS "applicationName", coalesce(usename, '') AS "user"
           FROM pg_stat_activity WHERE datname = $1 AND backend_type = 'client backend' AND pid <> pg_backend_pid()`,
        [target]
      ),
      waitersSessions(run, target),
      (rows, waiting) => {
        const own = new Set([...ownBackendPids(url), ...waiting])
        const sessions = rows.map((r) => ({ pid: Number(r.pid), applicationName: String(r.applicationName), user: String(r.user) }))
        return { own: sessions.filter((s) => own.has(s.pid)), others: sessions.filter((s) => !own.has(s.pid)) }
      }
    )

  /**
   * The sessions the swap will end: this process's own always; another program's (whatever its
   * application_name) only with --terminate-connections, else RestoreTargetInUse.
   */
  const sessionsToEnd = (
    run: AdvisoryLock.Session,
    url: Redacted.Redacted<string>,
    target: string,
    options: RestoreOverOptions,
    safetyBackup: string | null
  ) =>
    Effect.flatMap(sessionsOn(run, url, target), ({ others, own }) =>
      others.length > 0 && options.terminateConnections !== true
        ? Effect.fail(new RestoreTargetInUse({ database: target, sessions: others, safetyBackup }))
        : Effect.succeed([...own, ...others])).pipe(
        // Another dbkit restore that has just started connects to the target before it can
        // announce itself as a waiter (holdTargetLock): its session looks like another
        // program's for a moment. Look again for up to 3 s before refusing.
        Effect.retry({
          schedule: Schedule.spaced("250 millis"),
          times: 12,
          while: (error) => error._tag === "RestoreTargetInUse"
        })
      )

  /**
   * Over a server database, holding the target's restore lock throughout (targetLock.ts): what
   * killed restores and backups left goes first; the dump is loaded into a staging database of
   * this process's own and checked (the target untouched). Then, only once no other program is
   * connected (or --terminate-connections), the safety backup; and one transaction gives the
   * staging database the target's own properties (owner, ACL, settings, comment, connection
   * limit: no dump holds them) and swaps the two.
   */
  const overServer = (url: Redacted.Redacted<string>, target: string, file: string, options: RestoreOverOptions) =>
    Effect.scoped(
      Effect.gen(function*() {
        const started = new Date()
        const admin = yield* holdTargetLock(url, target, "restore", options.lockWait)
        const leftoversRemoved: Leftovers.Removed = {
          stagingDatabases: yield* Leftovers.dropStaleStagingDatabases(admin, target, started),
          partialFiles: (yield* Leftovers.removeStalePartialFiles(config.backupDir, started, target)).map((f) => f.file)
        }
        const staging = Leftovers.stagingName(target, "restore", started)
        const previous = Leftovers.stagingName(target, "previous", started)
        const counts = yield* loadInto(url, file, staging, options)
        const swap = Effect.gen(function*() {
          // Every refusal comes before the safety backup, so a refused restore costs none.
          yield* sessionsToEnd(admin, url, target, options, null)
          const safety = options.safetyBackup === false ? null : (yield* backup.backup()).file
          // Again: a session may have connected while the backup ran.
          const sessions = yield* sessionsToEnd(admin, url, target, options, safety)
          for (const session of sessions) yield* admin(`SELECT pg_terminate_backend($1)`, [session.pid])
          const properties = yield* databaseProperties(admin, target, staging)
          const swapped = [
            ...properties,
            `ALTER DATABASE ${quoteIdent(target)} RENAME TO ${quoteIdent(previous)}`,
            `ALTER DATABASE ${quoteIdent(staging)} RENAME TO ${quoteIdent(target)}`
          ]
          yield* admin(`BEGIN;\n${swapped.join(";\n")};\nCOMMIT`).pipe(Effect.onError(() => Effect.ignore(admin("ROLLBACK"))))
          if (safety !== null) yield* Effect.ignore(admin(`DROP DATABASE IF EXISTS ${quoteIdent(previous)} WITH (FORCE)`))
          return safety
        })
        // Only this process's own staging database is dropped: its name is unique to this run.
        const safety = yield* swap.pipe(
          Effect.tapErrorCause(() => Effect.ignore(admin(`DROP DATABASE IF EXISTS ${quoteIdent(staging)} WITH (FORCE)`)))
        )
        return {
          file,
          database: target,
          ...counts,
          safetyBackup: safety,
          previous: safety === null ? previous : null,
          rolesCreated: [],
          leftoversRemoved
        } satisfies RestoreOverResult
      })
    )

  const over = (file: string, options: RestoreOverOptions = {}) =>
    Effect.gen(function*() {
      yield* trusted(file, database.database, options, true)
      if (Option.isSome(database.embeddedLoad)) return yield* overEmbedded(database.embeddedLoad.value, file, options)
      const guard = yield* Guard
      const url = yield* serverUrl("restore over this database")
      const target = database.database
      yield* guard.confirm({ action: `replace the database with ${file}`, variable: "DB_RESTORE", target, yes: options.yes })
      return yield* overServer(url, target, file, options)
    })

  return Restore.of({ validate, into, over })
})

/** The Restore service (uses Backup's verification and key). */
export const layer: Layer.Layer<Restore, never, SqlClient.SqlClient | Database | Backup | DbConfig> =
  Layer.effect(Restore, make)

/** Restore with the Backup it verifies with, as configured (see Backup.layerConfig). */
export const layerConfig = (): Layer.Layer<Restore | Backup, never, SqlClient.SqlClient | Database | DbConfig> =>
  layer.pipe(Layer.provideMerge(backupLayer))
