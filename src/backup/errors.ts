/**
 * Backup's and Restore's errors. Most say why a backup file cannot be trusted or used: raised by
 * verification, which every restore runs first, so a bad file is refused before any database is
 * touched. The rest are refusals of a backup or restore itself (options, names, targets).
 */
import * as Data from "effect/Data"
import type { BackupUntrusted } from "../DumpPolicy.js"
import type { PgToolMissing } from "../PgTools.js"

export { BackupUntrusted } from "../DumpPolicy.js"

/** No such backup file, or no manifest beside it. */
export class BackupNotFound
  extends Data.TaggedError("BackupNotFound")<{ readonly file: string; readonly reason: string }>
{
  override get message() {
    return `${this.file}: ${this.reason}`
  }
}

/** The file's bytes are not the bytes the manifest recorded (changed, truncated, or swapped). */
export class BackupChecksumMismatch extends Data.TaggedError("BackupChecksumMismatch")<{
  readonly file: string
  readonly expected: string
  readonly actual: string
}> {
  override get message() {
    return `${this.file} does not match its manifest (sha256 ${this.actual.slice(0, 12)}…, expected ${
      this.expected.slice(0, 12)
    }…): it was changed or truncated after it was written`
  }
}

/** The backup is encrypted and DB_BACKUP_KEY is missing or not the key it was written with. */
export class BackupKeyInvalid
  extends Data.TaggedError("BackupKeyInvalid")<{ readonly file: string; readonly reason: string }>
{
  override get message() {
    return `${this.file}: ${this.reason}`
  }
}

/** The file fails authenticated decryption or decompression. */
export class BackupCorrupt
  extends Data.TaggedError("BackupCorrupt")<{ readonly file: string; readonly reason: string }>
{
  override get message() {
    return `${this.file} is corrupt: ${this.reason}`
  }
}

/**
 * The manifest carries a signature under a key this machine holds, and it does not verify: the
 * manifest (its checksum, sizes, counts, anything) was rewritten after dbkit wrote it.
 */
export class BackupManifestForged
  extends Data.TaggedError("BackupManifestForged")<{ readonly file: string; readonly keyId: string }>
{
  override get message() {
    return `${this.file}: its manifest was changed after it was written (its signature under key ${this.keyId} does not verify); do not restore it — use another backup`
  }
}

/**
 * A restore of a file whose origin dbkit cannot vouch for (no manifest, an unsigned one, or one
 * signed under a key this machine does not hold) was not confirmed.
 */
export class BackupUntrustedOrigin
  extends Data.TaggedError("BackupUntrustedOrigin")<{ readonly file: string; readonly reason: string }>
{
  override get message() {
    return `${this.file}: unverified origin (${this.reason}); restoring it runs whatever SQL it holds. If you know where it comes from, pass --trust-unsigned (trustUnsigned: true)`
  }
}

/** A test restore produced other row counts than the manifest records. */
export class RestoreTestMismatch extends Data.TaggedError("RestoreTestMismatch")<{
  readonly file: string
  readonly tables: ReadonlyArray<{ readonly table: string; readonly expected: number; readonly actual: number | null }>
}> {
  override get message() {
    const first = this.tables[0]
    return `test restore of ${this.file} differs from its manifest in ${this.tables.length} table(s), e.g. ${first?.table}: ${
      first?.actual ?? "missing"
    } rows, expected ${first?.expected}`
  }
}

export type VerifyError =
  | BackupNotFound
  | BackupChecksumMismatch
  | BackupKeyInvalid
  | BackupCorrupt
  | BackupManifestForged
  | RestoreTestMismatch
  | BackupUntrusted
  | PgToolMissing

/** The backup could not be written (disk full, permissions); nothing was left behind. */
export class BackupWriteFailed
  extends Data.TaggedError("BackupWriteFailed")<{ readonly file: string; readonly reason: string }>
{
  override get message() {
    return `could not write ${this.file}: ${this.reason}; no backup file was left behind`
  }
}

/** Options that contradict each other. */
export class InvalidBackupOptions extends Data.TaggedError("InvalidBackupOptions")<{ readonly reason: string }> {
  override get message() {
    return this.reason
  }
}

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
    const who = this.sessions.slice(0, 3).map((s) =>
      `pid ${s.pid} (${s.applicationName || "no application_name"}, ${s.user})`
    ).join(", ")
    const backup = this.safetyBackup === null
      ? "no safety backup was written"
      : `a safety backup was written to ${this.safetyBackup}`
    return `database ${this.database} is in use by ${this.sessions.length} session(s): ${who}; nothing was changed and ${backup}; stop them, or pass --terminate-connections`
  }
}
