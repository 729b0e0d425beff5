/**
 * What each kind of job runs: the services its command calls, with the same guards, and a
 * small JSON summary (`detail`) of what it did. A job that is declared counts as the command's
 * `--yes`; in production the guard still wants `<PREFIX>_ALLOW_PRODUCTION=1` (DB_PRUNE,
 * DB_MAINTAIN, DB_CLEANUP) in the serving process's environment, as the commands do.
 */
import type { SqlError } from "@effect/sql/SqlError"
import * as Effect from "effect/Effect"
import { Backup, type BackupError, type InvalidBackupOptions } from "../../backup/Backup.js"
import { BackupNotFound, type VerifyError } from "../../backup/errors.js"
import type { DbConfigShape } from "../../Config.js"
import type { ConnectError, NotSupportedOnEmbedded } from "../../Database.js"
import type { PlainDumpFailed } from "../../embedded/PlainDump.js"
import { Guard, type GuardError } from "../../Guard.js"
import type { UnknownHealthCheck } from "../../health/errors.js"
import { Health } from "../../health/Health.js"
import { MaintenanceFailed } from "../../maintenance/errors.js"
import { Maintenance } from "../../maintenance/Maintenance.js"
import type * as PgTools from "../../PgTools.js"
import type { EnvironmentSettings } from "../../ProjectConfigSettings.js"
import type { TenantNotFound } from "../../tenancy/errors.js"
import { JobHealthCritical } from "./errors.js"
import type { JobDefinition } from "./schema.js"

/** Every way a job's run can fail: its command's errors. */
export type JobError =
  | BackupError
  | VerifyError
  | BackupNotFound
  | InvalidBackupOptions
  | PgTools.PgToolFailed
  | PgTools.PgToolMissing
  | PgTools.PgToolTooOld
  | PlainDumpFailed
  | NotSupportedOnEmbedded
  | ConnectError
  | GuardError
  | MaintenanceFailed
  | TenantNotFound
  | UnknownHealthCheck
  | JobHealthCritical
  | SqlError

/** The services a job may call. */
export type JobServices = Backup | Maintenance | Health | Guard

export interface RunContext {
  readonly config: DbConfigShape
  readonly retention: EnvironmentSettings["backupRetention"]
}

const backup = (job: JobDefinition) =>
  Effect.gen(function*() {
    const service = yield* Backup
    const result = yield* service.backup()
    const written = {
      file: result.file,
      bytes: result.manifest.sizes.file,
      tables: Object.keys(result.manifest.tables).length,
      durationMs: result.durationMs
    }
    if (!job.verify) return written
    const verified = yield* service.verify(result.file)
    return { ...written, verified: { origin: verified.origin, dumpBytes: verified.dumpBytes } }
  })

/** The newest backup of the folder `dbkit backup` writes to, restored into a scratch database. */
const restoreTest = (context: RunContext) =>
  Effect.gen(function*() {
    const service = yield* Backup
    const [newest] = yield* service.list()
    if (newest === undefined) {
      return yield* new BackupNotFound({
        file: context.config.backupDir,
        reason: "holds no backup to restore-test; a backup job (or dbkit backup) writes one"
      })
    }
    const result = yield* service.verify(newest.file, { restoreTest: true })
    return { file: newest.file, createdAt: newest.createdAt, ...result.restoreTest }
  })

/** As `dbkit backups prune --keep-last/--keep-days` with the environment's backupRetention. */
const prune = (context: RunContext) =>
  Effect.gen(function*() {
    const directory = context.config.backupDir
    if (context.config.environment === "production") {
      const guard = yield* Guard
      yield* guard.confirm({ action: "delete backups", variable: "DB_PRUNE", target: directory, yes: true })
    }
    const service = yield* Backup
    const result = yield* service.prune({ ...context.retention, directory })
    return {
      pruned: result.pruned.map((b) => b.file),
      kept: result.kept.length,
      leftoversRemoved: result.leftoversRemoved.partialFiles.length +
        result.leftoversRemoved.stagingDatabases.length
    }
  })

const maintain = Effect.gen(function*() {
  const result = yield* Effect.flatMap(Maintenance, (m) => m.maintain({ yes: true }))
  const failed = result.tasks.filter((t) => t.status === "failed")
  if (failed.length > 0) {
    return yield* new MaintenanceFailed({ failed: failed.map((t) => `${t.target}: ${t.error}`) })
  }
  return { done: result.done, tasks: result.tasks.map((t) => `${t.statement.split(" ")[0]} ${t.target}`) }
})

const cleanup = Effect.gen(function*() {
  const result = yield* Effect.flatMap(Maintenance, (m) => m.cleanup({ yes: true }))
  const failed = result.rules.filter((r) => r.status === "failed")
  if (failed.length > 0) {
    return yield* new MaintenanceFailed({ failed: failed.map((r) => `${r.rule}: ${r.error}`) })
  }
  return { deleted: result.deleted, rules: Object.fromEntries(result.rules.map((r) => [r.rule, r.deleted])) }
})

const health = Effect.gen(function*() {
  const report = yield* Effect.flatMap(Health, (h) => h.report())
  const named = (status: string) => report.checks.filter((c) => c.status === status)
  const critical = named("critical")
  if (report.status === "critical") {
    return yield* new JobHealthCritical({
      target: report.target,
      critical: critical.map((c) => `${c.name}: ${c.detail}`)
    })
  }
  return { status: report.status, warn: named("warn").map((c) => c.name), durationMs: report.durationMs }
})

/** Runs the job once; its summary on success. */
export const runJob = (
  job: JobDefinition,
  context: RunContext
): Effect.Effect<Record<string, unknown>, JobError, JobServices> => {
  switch (job.kind) {
    case "backup":
      return backup(job)
    case "backup-restore-test":
      return restoreTest(context)
    case "prune":
      return prune(context)
    case "maintain":
      return maintain
    case "cleanup":
      return cleanup
    case "health":
      return health
  }
}
