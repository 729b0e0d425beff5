/**
 * Physical backups and point-in-time recovery, driven through pgBackRest (never re-implemented):
 * the interface the Backup service exposes as `physical`, and its wiring over the Backup
 * context. Settings come from the environment (settings.ts) when each operation runs, so a
 * program without pgBackRest pays nothing until it asks for it. Manifests and restore points
 * live in the stanza's one home (home.ts), whichever backup folder this Backup writes into.
 */
import type { SqlError } from "@effect/sql/SqlError"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { NotSupportedOnEmbedded } from "../../Database.js"
import { Guard, type GuardError } from "../../Guard.js"
import type * as PgTools from "../../PgTools.js"
import type { BackupContext } from "../context.js"
import type { BackupWriteFailed, InvalidBackupOptions } from "../errors.js"
import type { RetentionRules } from "../retention.js"
import * as Backups from "./backup.js"
import type { InvalidRecoveryTarget, PhysicalVerifyFailed, PitrNotConfigured, PitrServerNotReady } from "./errors.js"
import { physicalHome } from "./home.js"
import * as Manifests from "./manifests.js"
import * as Prune from "./prune.js"
import * as Restore from "./restore.js"
import * as Settings from "./settings.js"
import * as Setup from "./setup.js"

export type { PhysicalBackupResult, PhysicalManifest, PhysicalVerifyResult, RestorePoint } from "./backup.js"
export * from "./errors.js"
export type { PhysicalBackups } from "./manifests.js"
export type { FullRetention, PhysicalPruneResult } from "./prune.js"
export type { PhysicalRestoreError, PhysicalRestoreOptions, PhysicalRestoreResult, RecoveryTarget } from "./restore.js"
export type { PitrSettings } from "./settings.js"
export type { ArchivingSettings, SetupResult } from "./setup.js"

type Tools = PgTools.PgToolFailed | PgTools.PgToolMissing

/** `Backup.physical`: pgBackRest's backups, restores and restore points, with dbkit's manifests and guards. */
export interface Physical {
  /**
   * Checks wal_level, archive_mode and archive_command (sets archive_command itself when it
   * can: a superuser, no restart needed; reports exactly what to change otherwise), creates
   * the stanza and runs `pgbackrest check`. Idempotent.
   */
  readonly setup: () => Effect.Effect<
    Setup.SetupResult,
    PitrNotConfigured | PitrServerNotReady | NotSupportedOnEmbedded | Tools | SqlError
  >
  /** A pgBackRest backup of `type` (default incr; pgBackRest makes the first one full) and its dbkit manifest (0600). */
  readonly backup: (
    options?: {
      readonly type?: "full" | "diff" | "incr" | undefined
      /** Told, as pgBackRest copies each file, the share of the backup done (0–100, from its detail log). */
      readonly onProgress?: ((percent: number) => void) | undefined
    }
  ) => Effect.Effect<
    Backups.PhysicalBackupResult,
    PitrNotConfigured | NotSupportedOnEmbedded | BackupWriteFailed | Tools
  >
  /**
   * Restores to a time, an LSN or a restore point into a NEW data directory and starts it on
   * `port`; the running cluster is never touched. Guarded like every restore
   * (DB_RESTORE_CONFIRM=1, `yes`, or the database name typed; production also DB_RESTORE_ALLOW_PRODUCTION=1).
   */
  readonly restore: (
    options: Restore.PhysicalRestoreOptions & { readonly yes?: boolean | undefined }
  ) => Effect.Effect<
    Restore.PhysicalRestoreResult,
    Restore.PhysicalRestoreError | PitrNotConfigured | NotSupportedOnEmbedded | GuardError,
    Guard
  >
  /** `pgbackrest verify`: every file of the repository against its checksum. */
  readonly verify: () => Effect.Effect<Backups.PhysicalVerifyResult, PitrNotConfigured | PhysicalVerifyFailed | Tools>
  /** Creates a named restore point (`pg_create_restore_point`) and records its LSN beside the manifests. */
  readonly point: (
    name: string
  ) => Effect.Effect<
    Backups.RestorePoint,
    PitrNotConfigured | InvalidRecoveryTarget | NotSupportedOnEmbedded | BackupWriteFailed | SqlError
  >
  /** The configured stanza's manifests in the backup folder, newest first; null when no stanza is configured. */
  readonly manifests: () => Effect.Effect<Manifests.PhysicalBackups | null, PitrNotConfigured>
  /**
   * Retention through `pgbackrest expire` (keepLast: the newest N full backups and what builds on
   * them; keepDays: full backups of the last D days; both: whichever keeps more), then removes
   * the manifests of backups pgBackRest no longer has. `dryRun` changes nothing. Unguarded, as
   * `prune` is: the CLI asks for confirmation in production.
   */
  readonly prune: (
    rules: RetentionRules & { readonly dryRun?: boolean | undefined }
  ) => Effect.Effect<Prune.PhysicalPruneResult, PitrNotConfigured | InvalidBackupOptions | Tools>
}

/** The physical operations over Backup's context (the configured database). */
export const make = (context: BackupContext): Physical => {
  const server = Effect.suspend(() =>
    Option.match(context.database.url, {
      onNone: () => Effect.fail(new NotSupportedOnEmbedded({ feature: "physical backups (pgBackRest)" })),
      onSome: (url) => Effect.succeed(url)
    })
  )
  const home = physicalHome(context.config.backupDir, context.config.environment)
  const source = {
    database: context.database.database,
    target: context.database.target,
    environment: context.config.environment,
    backupDir: home
  }
  return {
    setup: () =>
      Effect.gen(function*() {
        yield* server
        return yield* Setup.setup(context.sql, yield* Settings.fromEnvironment)
      }),
    backup: (options) =>
      Effect.gen(function*() {
        yield* server
        return yield* Backups.backup(
          yield* Settings.fromEnvironment,
          source,
          options?.type ?? "incr",
          options?.onProgress
        )
      }),
    restore: (options) =>
      Effect.gen(function*() {
        const url = yield* server
        const settings = yield* Settings.fromEnvironment
        const guard = yield* Guard
        const confirm = guard.confirm({
          action: `restore a physical backup into a new cluster at ${options.into} (port ${options.port})`,
          variable: "DB_RESTORE",
          target: context.database.database,
          yes: options.yes
        })
        return yield* Restore.restore(
          settings,
          {
            url,
            home,
            serverMajor: context.serverMajor
          },
          options,
          confirm
        )
      }),
    verify: Backups.verifyConfigured,
    manifests: () => Manifests.configured(home, context.config.environment),
    prune: (rules) =>
      Effect.flatMap(
        Settings.fromEnvironment,
        (settings) => Prune.prune(settings, home, { ...rules, environment: context.config.environment })
      ),
    point: (name) =>
      Effect.gen(function*() {
        yield* server
        return yield* Backups.point(context.sql, yield* Settings.fromEnvironment, home, name)
      })
  }
}
