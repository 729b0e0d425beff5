/**
 * Restore: puts a verified backup back into a database. The file is checked before anything is
 * created (manifest, size, key; unencrypted and format-1 files also checksum and authenticated
 * decryption in a pass of their own) and again as it streams in (each format-2 chunk's tag
 * before its bytes go on; sha256, gzip's CRC and size before the load's COMMIT), see
 * Files.checkBeforeLoad and Load.loadDump.
 *
 * `into` restores into a new database: created, loaded in one transaction that stops at the
 * first error, and its row counts compared with the manifest; on any failure the new database
 * is dropped again, so nothing is left behind (restoreInto.ts). `over` loads into a staging
 * database the same way, then swaps it in for the target (guarded; one at a time per database,
 * see targetLock.ts; what killed restores left goes first, see leftovers.ts; a safety backup
 * before the swap; restoreOver.ts). This file holds the service's interface and wiring.
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type { DbConfig } from "../Config.js"
import type { ConnectError, Database, NotSupportedOnEmbedded } from "../Database.js"
import type { PlainDumpFailed } from "../embedded/PlainDump.js"
import type { Guard, GuardError } from "../Guard.js"
import type * as PgTools from "../PgTools.js"
import { spanTarget, traced } from "../Tracing.js"
import { Backup, type BackupError, layer as backupLayer, type VerifyResult } from "./Backup.js"
import { restoreContext } from "./context.js"
import type {
  BackupUntrustedOrigin,
  InvalidDatabaseName,
  RestoreTargetExists,
  RestoreTargetInUse,
  VerifyError
} from "./errors.js"
import type * as Leftovers from "./leftovers.js"
import type * as Load from "./load.js"
import { into } from "./restoreInto.js"
import { over } from "./restoreOver.js"
import type { RestoreLockTimeout } from "./targetLock.js"
import { verifyFile } from "./verify.js"

export { InvalidDatabaseName, RestoreTargetExists, RestoreTargetInUse } from "./errors.js"

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

/** The Restore service, with its layers. */
export class Restore extends Context.Tag("dbkit/Restore")<Restore, {
  /** Verifies a backup without touching any database (`restore --validate-only`). */
  readonly validate: (file: string) => Effect.Effect<VerifyResult, RestoreError>
  /** Restores into a new database on the same server; leaves nothing behind on failure. */
  readonly into: (
    file: string,
    database: string,
    options?: RestoreIntoOptions
  ) => Effect.Effect<RestoreResult, RestoreError>
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
  readonly over: (
    file: string,
    options?: RestoreOverOptions
  ) => Effect.Effect<RestoreOverResult, RestoreError | GuardError | BackupError, Guard>
}>() {
  /** Restore over the database, Backup and DbConfig in context. */
  static get layer(): typeof layer {
    return layer
  }
  /** Restore with the Backup it verifies with, as configured. */
  static get layerConfig(): typeof layerConfig {
    return layerConfig
  }
}

const make = Effect.gen(function*() {
  const context = yield* restoreContext(yield* Backup)
  return Restore.of(traced("Restore", yield* spanTarget, {
    validate: (file) => validateFile(file),
    into: (file, database, options) => into(context, file, database, options),
    over: (file, options) => over(context, file, options)
  }))
})

/** The Restore service (uses Backup's verification and key). */
export const layer: Layer.Layer<Restore, never, SqlClient.SqlClient | Database | Backup | DbConfig> = Layer.effect(
  Restore,
  make
)

/** Restore with the Backup it verifies with, as configured (see Backup.layerConfig). */
export const layerConfig = (): Layer.Layer<Restore | Backup, never, SqlClient.SqlClient | Database | DbConfig> =>
  layer.pipe(Layer.provideMerge(backupLayer))
