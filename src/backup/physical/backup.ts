/**
 * Physical backups through pgBackRest and what dbkit records of them: `backup` runs
 * `pgbackrest backup`, then reads `info` and writes a manifest (0600) beside dbkit's logical ones
 * — only after pgBackRest exited 0 and lists the new backup, so a manifest never claims a backup
 * that failed. `verify` is `pgbackrest verify`; `point` creates a named restore point and keeps
 * its LSN in a small ledger, so a restore to that name starts from a backup taken before it.
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as path from "node:path"
import { makeDirectories } from "../../Directories.js"
import * as PgTools from "../../PgTools.js"
import * as Redact from "../../Redact.js"
import { writeDurably } from "../durable.js"
import { BackupWriteFailed } from "../errors.js"
import { InvalidRecoveryTarget, PhysicalVerifyFailed, type PitrNotConfigured } from "./errors.js"
import { ledgerFile, recordPoint, type RestorePoint } from "./home.js"
import * as Manifests from "./manifests.js"
import { type BackrestBackup, info, pgbackrest, readableInfo } from "./run.js"
import { fromEnvironment, type PitrSettings, secrets } from "./settings.js"

/** What dbkit records of one pgBackRest backup: `<stanza>_<label>.pgbackrest.json` in the backup folder. */
export interface PhysicalManifest {
  readonly kind: "physical"
  readonly tool: { readonly name: "pgbackrest"; readonly version: string }
  readonly createdAt: string
  readonly database: string
  readonly target: string
  readonly environment: string
  readonly stanza: string
  readonly type: "full" | "diff" | "incr"
  readonly label: string
  /** The backup an incremental or differential one builds on. */
  readonly prior: string | null
  readonly start: { readonly lsn: string | null; readonly time: string; readonly wal: string | null }
  readonly stop: { readonly lsn: string | null; readonly time: string; readonly wal: string | null }
  /** Bytes: the database, what this backup copied, and what both take in the repository. */
  readonly sizes: {
    readonly database: number
    readonly delta: number
    readonly repository: number
    readonly repositoryDelta: number
  }
  readonly repository: { readonly configFile: string | null; readonly path: string | null }
  /** The repository's cipher when it is encrypted (the key itself is never recorded). */
  readonly encryption: { readonly cipher: string } | null
  /** pgBackRest found page checksum errors while copying. */
  readonly checksumErrors: boolean
}

export type { RestorePoint } from "./home.js"

export interface PhysicalBackupResult {
  readonly manifestFile: string
  readonly manifest: PhysicalManifest
  readonly durationMs: number
}

/** Who and where, for the manifest. */
export interface BackupSource {
  readonly database: string
  readonly target: string
  readonly environment: string
  readonly backupDir: string
}

const iso = (seconds: number) => new Date(seconds * 1000).toISOString()

export const manifestOf = (
  backup: BackrestBackup,
  cipher: string,
  settings: PitrSettings,
  source: BackupSource,
  createdAt: Date
): PhysicalManifest => ({
  kind: "physical",
  tool: { name: "pgbackrest", version: backup.backrest.version },
  createdAt: createdAt.toISOString(),
  database: source.database,
  target: source.target,
  environment: source.environment,
  stanza: settings.stanza,
  type: backup.type,
  label: backup.label,
  prior: backup.prior,
  start: { lsn: backup.lsn?.start ?? null, time: iso(backup.timestamp.start), wal: backup.archive.start },
  stop: { lsn: backup.lsn?.stop ?? null, time: iso(backup.timestamp.stop), wal: backup.archive.stop },
  sizes: {
    database: backup.info.size,
    delta: backup.info.delta,
    repository: backup.info.repository.size,
    repositoryDelta: backup.info.repository.delta
  },
  repository: { configFile: settings.configFile ?? null, path: settings.repoPath ?? null },
  encryption: cipher === "none" ? null : { cipher },
  checksumErrors: backup.error === true
})

/**
 * How far a backup is, from pgBackRest's own log at level detail: each file it copies (or finds
 * unchanged since the prior backup) is a line ending "(8KB, 37.52%) checksum …", the share of the
 * whole done so far. Chunks may split lines: the tail is kept for the next one.
 */
const progressReader = (onProgress: (percent: number) => void) => {
  let tail = ""
  let reached = 0
  return (text: string) => {
    const lines = (tail + text).split("\n")
    tail = lines.pop() ?? ""
    for (const line of lines) {
      const match = /DETAIL: .* \([\d.]+[KMGTP]?B, ([\d.]+)%\)/.exec(line)
      // With process-max > 1, files finish out of order: only a further share is news.
      const percent = match === null ? 0 : Math.min(100, Number(match[1]))
      if (percent > reached) onProgress(reached = percent)
    }
  }
}

/** Takes a backup of `type` and records it. */
export const backup = (
  settings: PitrSettings,
  source: BackupSource,
  type: "full" | "diff" | "incr",
  onProgress?: (percent: number) => void
): Effect.Effect<PhysicalBackupResult, PgTools.PgToolFailed | PgTools.PgToolMissing | BackupWriteFailed> =>
  Effect.gen(function*() {
    const started = yield* Clock.currentTimeMillis
    // pgBackRest names the backup it made at log level info ("new backup label = 20261207-030000F"): one
    // `info` afterwards describes it, and none is needed before (a backup's own run costs only its own time).
    const output = yield* pgbackrest(
      settings,
      "backup",
      [`--type=${type}`, `--log-level-console=${onProgress === undefined ? "info" : "detail"}`],
      onProgress === undefined ? undefined : progressReader(onProgress)
    )
    const label = /new backup label = (\S+)/.exec(output)?.[1]
    const after = yield* info(settings)
    const made = label !== undefined
      ? after.backup.find((b) => b.label === label)
      // A pgBackRest that words it otherwise: the newest backup that started once this one had.
      : after.backup.filter((b) => b.timestamp.start * 1000 >= started - 2_000).at(-1)
    if (made === undefined) {
      return yield* new PgTools.PgToolFailed({
        tool: "pgbackrest",
        exitCode: 0,
        stderr: "backup exited 0 but `pgbackrest info` lists no new backup"
      })
    }
    const finished = yield* Clock.currentTimeMillis
    const manifest = manifestOf(made, after.cipher, settings, source, new Date(finished))
    const manifestFile = path.resolve(source.backupDir, Manifests.fileName(settings.stanza, made.label))
    yield* Effect.try({
      try: () => {
        makeDirectories(source.backupDir)
        writeDurably(manifestFile, JSON.stringify(manifest, null, 2) + "\n")
      },
      catch: (cause) => new BackupWriteFailed({ file: manifestFile, reason: (cause as Error).message })
    })
    return { manifestFile, manifest, durationMs: finished - started }
  })

/** `verify` on the configured stanza (settings from the environment); needs no database. */
export const verifyConfigured = (): Effect.Effect<
  PhysicalVerifyResult,
  PitrNotConfigured | PhysicalVerifyFailed | PgTools.PgToolMissing | PgTools.PgToolFailed
> => Effect.flatMap(fromEnvironment, verify)

export interface PhysicalVerifyResult {
  readonly stanza: string
  readonly backups: number
  /** What pgBackRest said (scrubbed). */
  readonly output: string
}

/** `pgbackrest verify`: every file in the repository against its checksum; a failure is PhysicalVerifyFailed. */
export const verify = (
  settings: PitrSettings
): Effect.Effect<PhysicalVerifyResult, PhysicalVerifyFailed | PgTools.PgToolMissing | PgTools.PgToolFailed> =>
  Effect.gen(function*() {
    const scrub = Redact.scrubber(secrets(settings))
    // A repository that cannot be read (a missing config file, a wrong path) is that, not a failed verification.
    const { backup: backups } = yield* readableInfo(settings)
    const output = yield* pgbackrest(settings, "verify", ["--log-level-console=info"]).pipe(
      Effect.catchTag(
        "PgToolFailed",
        (failed): Effect.Effect<never, PgTools.PgToolFailed | PhysicalVerifyFailed> =>
          failed.exitCode === 0
            ? Effect.fail(failed)
            : Effect.fail(new PhysicalVerifyFailed({ stanza: settings.stanza, problems: scrub(failed.message) }))
      )
    )
    // 2.45 logs what it found and may still exit 0: its result line decides.
    const problems = output.split("\n").filter((line) => /\b(ERROR|WARN):|invalid|missing/i.test(line))
    if (problems.length > 0) {
      return yield* new PhysicalVerifyFailed({ stanza: settings.stanza, problems: scrub(problems.join(" / ")) })
    }
    return { stanza: settings.stanza, backups: backups.length, output: scrub(output) }
  })

const pointName = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,62}$/

/** Checks a restore point name (it ends up in a server config file pgBackRest writes). */
export const checkPointName = (name: string): Effect.Effect<string, InvalidRecoveryTarget> =>
  pointName.test(name)
    ? Effect.succeed(name)
    : Effect.fail(
      new InvalidRecoveryTarget({
        target: name,
        reason:
          "a restore point name is letters, digits, '_', '.', ':' or '-' (at most 63, starting with a letter or digit)"
      })
    )

/** `pg_create_restore_point(name)`, recorded in the ledger in `home` (home.ts). */
export const point = (
  sql: SqlClient.SqlClient,
  settings: PitrSettings,
  home: string,
  name: string
): Effect.Effect<RestorePoint, InvalidRecoveryTarget | SqlError | BackupWriteFailed> =>
  Effect.gen(function*() {
    yield* checkPointName(name)
    const [row] = yield* sql<{ lsn: string; now: Date }>`
      SELECT pg_create_restore_point(${name})::text AS lsn, clock_timestamp() AS now`
    const created: RestorePoint = { name, lsn: row!.lsn, createdAt: new Date(row!.now).toISOString() }
    const file = ledgerFile(home, settings.stanza)
    yield* Effect.try({
      try: () => recordPoint(home, settings.stanza, created),
      catch: (cause) => new BackupWriteFailed({ file, reason: (cause as Error).message })
    })
    return created
  })
