/**
 * Backup: consistent, compressed, optionally encrypted, checksummed backups with a signed
 * manifest; list, verify and prune them.
 *
 * On a server, a REPEATABLE READ transaction exports its snapshot; pg_dump runs on that snapshot
 * and the per-table row counts for the manifest describe exactly what the file holds (source.ts,
 * tables.ts). pg_dump's stdout streams through gzip and AES-256-GCM into a 0600 temp file that is
 * fsynced and renamed only when everything succeeded (dump.ts). Verification is verify.ts; the
 * folder's listing and pruning, listing.ts. This file holds the service's interface and wiring.
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Option from "effect/Option"
import type * as Redacted from "effect/Redacted"
import type { DbConfig } from "../Config.js"
import type { ConnectError, Database, DatabaseUnavailable, NotSupportedOnEmbedded } from "../Database.js"
import type { PlainDumpFailed } from "../embedded/PlainDump.js"
import type * as PgTools from "../PgTools.js"
import { spanTarget, traced } from "../Tracing.js"
import { backupContext } from "./context.js"
import * as Dump from "./dump.js"
import type { BackupWriteFailed, InvalidBackupOptions, VerifyError } from "./errors.js"
import type * as Leftovers from "./leftovers.js"
import { listBackups, pruneBackups } from "./listing.js"
import type { Manifest } from "./manifest.js"
import * as Physical from "./physical/Physical.js"
import * as Verify from "./verify.js"

export { backupKey } from "./crypto.js"
export { stamp } from "./dump.js"
export { durable, writeDurably } from "./durable.js"
export { BackupWriteFailed, InvalidBackupOptions } from "./errors.js"
export { listBackups, pruneBackups } from "./listing.js"
export type { Manifest } from "./manifest.js"
export { patternMatcher } from "./tables.js"
export { verifyFile } from "./verify.js"

export interface BackupOptions {
  readonly format?: "plain" | "custom" | undefined
  /** 0–9 (default 6). */
  readonly compress?: number | undefined
  readonly schemaOnly?: boolean | undefined
  readonly dataOnly?: boolean | undefined
  readonly excludeTable?: ReadonlyArray<string> | undefined
  /** Only these schemas (pg_dump --schema), e.g. one schema-per-tenant tenant's. */
  readonly schemas?: ReadonlyArray<string> | undefined
  /** File name prefix instead of the database's name (`tenant_acme` → `tenant_acme_backup_…`). */
  readonly label?: string | undefined
  /** Directory (default DBKIT_BACKUP_DIR). */
  readonly out?: string | undefined
  /** Bytes written so far, as the file grows. */
  readonly onProgress?: ((bytes: number) => void) | undefined
}

export interface BackupResult {
  readonly file: string
  readonly manifestFile: string
  readonly manifest: Manifest
  readonly durationMs: number
  /** `.partial` files that killed backups of this database had left, deleted first. */
  readonly leftoversRemoved: ReadonlyArray<string>
}

export type BackupError =
  | DatabaseUnavailable
  | PgTools.PgToolMissing
  | PgTools.PgToolTooOld
  | PgTools.PgToolFailed
  | BackupWriteFailed
  | InvalidBackupOptions
  | NotSupportedOnEmbedded
  | SqlError

/** One backup in a directory, for `backups list`. */
export interface BackupListing {
  readonly file: string
  readonly createdAt: string
  readonly bytes: number
  readonly database: string
  readonly environment: string
  readonly encrypted: boolean
  readonly format: "plain" | "custom"
  /** When it last passed `verify`, and whether that included a test restore. */
  readonly verified: { readonly at: string; readonly restoreTest: boolean } | null
}

export interface VerifyResult {
  readonly file: string
  readonly checksum: "ok"
  /** "signed": its manifest's signature verifies under a key held here; otherwise "unverified" (see originReason). */
  readonly origin: "signed" | "unverified"
  /** Why the origin is unverified (no manifest, an unsigned one, another machine's key); empty when signed. */
  readonly originReason: string
  readonly decrypted: boolean
  readonly dumpBytes: number
  readonly restoreTest: { readonly tables: number; readonly rows: number } | null
}

export interface PruneOptions {
  readonly keepLast?: number | undefined
  readonly keepDays?: number | undefined
  readonly dryRun?: boolean | undefined
  readonly directory?: string | undefined
  /** Also drop the staging databases killed restores of this database left (when it can be reached). */
  readonly databaseUrl?: Option.Option<Redacted.Redacted<string>> | undefined
}

/** What a prune deleted (or, with `dryRun`, would delete). */
export interface PruneResult {
  readonly kept: ReadonlyArray<BackupListing>
  readonly pruned: ReadonlyArray<BackupListing>
  /** `.partial` files and staging databases that killed backups and restores left. */
  readonly leftoversRemoved: Leftovers.Removed
}

/** The Backup service, with its layers. */
export class Backup extends Context.Tag("dbkit/Backup")<Backup, {
  /** Writes a backup and its manifest. */
  readonly backup: (options?: BackupOptions) => Effect.Effect<BackupResult, BackupError>
  /** Backups in a directory (default DBKIT_BACKUP_DIR), newest first. */
  readonly list: (directory?: string) => Effect.Effect<ReadonlyArray<BackupListing>>
  /**
   * Checks a backup without touching the configured database: its manifest's signature (the
   * result's `origin`; a forged manifest fails), checksum, key, authenticated
   * decryption, full decompression, and with `restoreTest` a restore into a scratch database
   * (an in-memory PGlite on the embedded database) whose row counts must match the manifest's.
   */
  readonly verify: (
    file: string,
    options?: { readonly restoreTest?: boolean | undefined }
  ) => Effect.Effect<
    VerifyResult,
    | VerifyError
    | PgTools.PgToolFailed
    | PgTools.PgToolMissing
    | PgTools.PgToolTooOld
    | PlainDumpFailed
    | NotSupportedOnEmbedded
    | ConnectError
    | SqlError
  >
  /**
   * Deletes backups (file, manifest, verification record) outside the retention rules; the
   * newest backup and the newest verified one are always kept. Also removes what killed backups
   * and restores left (`.partial` files, staging databases). `dryRun` only says what would go.
   */
  readonly prune: (options: PruneOptions) => Effect.Effect<PruneResult, InvalidBackupOptions>
  /** The folder backups are written to (DBKIT_BACKUP_DIR, else the project's `backupDir`). */
  readonly directory: string
  /** Physical backups, point-in-time restores and restore points through pgBackRest (DBKIT_PGBACKREST_*). */
  readonly physical: Physical.Physical
}>() {
  /** Backup over the database and DbConfig in context. */
  static get layer(): typeof layer {
    return layer
  }
  /** The same layer, named for symmetry with the other services. */
  static get layerConfig(): typeof layerConfig {
    return layerConfig
  }
}

const make = Effect.map(
  Effect.zip(backupContext, spanTarget),
  ([context, target]) =>
    Backup.of(traced("Backup", target, {
      backup: (options) => Dump.backup(context, options),
      list: (directory = context.config.backupDir) => listBackups(directory),
      verify: (file, options) => Verify.verify(context, file, options),
      prune: (options) =>
        pruneBackups({
          databaseUrl: context.database.url,
          ...options,
          directory: options.directory ?? context.config.backupDir
        }),
      directory: context.config.backupDir,
      physical: Physical.make(context)
    }))
)

/** The Backup service on the configured database. */
export const layer: Layer.Layer<Backup, never, SqlClient.SqlClient | Database | DbConfig> = Layer.effect(Backup, make)

/**
 * Backup as configured: the folder from DbConfig (DBKIT_BACKUP_DIR, else dbkit.config.ts
 * `backupDir`), the key from DB_BACKUP_KEY (unset: unencrypted, signed with the local key).
 * The same layer as `layer`, which reads nothing else; named for symmetry with the others.
 */
export const layerConfig = (): Layer.Layer<Backup, never, SqlClient.SqlClient | Database | DbConfig> => layer
