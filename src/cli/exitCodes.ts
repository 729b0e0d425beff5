/**
 * Exit codes, one table for every command; README's "Exit codes" section mirrors it.
 *
 * `DbkitError` is every error a command can end with, and `exitCodeByTag` must name each one's
 * code (`satisfies`): a new error class that is not added here fails to compile, and one that is
 * added to the union without a code fails too — nothing falls through to 1 unnoticed.
 * (The imports are type-only: loading this table loads no service.)
 */
import type { SqlError } from "@effect/sql/SqlError"
import type { LockTimeout } from "../AdvisoryLock.js"
import type { BackupWriteFailed, InvalidBackupOptions } from "../backup/Backup.js"
import type {
  BackupChecksumMismatch,
  BackupCorrupt,
  BackupKeyInvalid,
  BackupManifestForged,
  BackupNotFound,
  BackupUntrustedOrigin,
  RestoreTestMismatch
} from "../backup/errors.js"
import type {
  InvalidRecoveryTarget,
  NoBackupForTarget,
  PhysicalVerifyFailed,
  PitrNotConfigured,
  PitrServerNotReady,
  RecoveryExpectationFailed,
  RecoveryFailed,
  RestoreDirectoryNotEmpty
} from "../backup/physical/errors.js"
import type { InvalidDatabaseName, RestoreTargetExists, RestoreTargetInUse } from "../backup/Restore.js"
import type { RestoreLockTimeout } from "../backup/targetLock.js"
import type { BulkInsertFailed } from "../Bulk.js"
import type { CacheUnavailable } from "../Cache.js"
import type { InvalidConfig } from "../Config.js"
import type { DatabaseUnavailable, EmbeddedVersionMismatch, NotSupportedOnEmbedded } from "../Database.js"
import type { DeployFailed, DeployLocked, DeployNotRecovered, PromotionBlocked } from "../deploy/errors.js"
import type { BackupUntrusted } from "../DumpPolicy.js"
import type { EmbeddedInUse } from "../embedded/EmbeddedLock.js"
import type { EmbeddedExtensionUnavailable } from "../embedded/extensions.js"
import type { PlainDumpFailed } from "../embedded/PlainDump.js"
import type { ConfirmationRequired, ProductionRefused } from "../Guard.js"
import type { InvalidThreshold, UnknownHealthCheck } from "../health/errors.js"
import type {
  IntegrityViolations,
  InvalidMaintenanceOptions,
  LoadTestSchemaMissing,
  MaintenanceFailed
} from "../maintenance/errors.js"
import type {
  AdoptRequired,
  ChecksumMismatch,
  InvalidTarget,
  MigrationBlocked,
  MigrationFailed,
  MigrationLockTimeout,
  MigrationSourceError,
  MissingDownMigration,
  OutOfOrder,
  TransactionControlRefused,
  UnknownMigration
} from "../migrator/errors.js"
import type { PgToolFailed, PgToolMissing, PgToolTooOld } from "../PgTools.js"
import type {
  AnonymizeFailed,
  AnonymizeNeedsBypassRls,
  AnonymizeRefusedInProduction,
  AnonymizeTargetExists
} from "../privacy/anonymize.js"
import type { EncryptedColumnUnavailable, EncryptionProblems, InvalidEncryptionOptions } from "../privacy/encryption.js"
import type {
  ErasureFailed,
  ExportWriteFailed,
  InvalidSubject,
  PrivacyMapMismatch,
  SubjectNotFound,
  UndeclaredPersonalData
} from "../privacy/errors.js"
import type { FieldDecryptFailed, FieldKeyMissing, FieldKeysInvalid } from "../privacy/fieldCrypto.js"
import type {
  InvalidSeedOptions,
  SeedCycle,
  SeedFailed,
  SeedRefusedInProduction,
  UnknownSeed,
  UnknownSeedDependency
} from "../seeder/errors.js"
import type { JobBusy, JobHealthCritical, UnknownJob } from "../serve/jobs/errors.js"
import type {
  DeprovisionFailed,
  InvalidShardFile,
  InvalidTenantAttribute,
  InvalidTenantSlug,
  ProvisionFailed,
  RegistryStrategyConflict,
  TenantMigrationsFailed,
  TenantMigrationsMissing,
  TenantNestingRefused,
  TenantNotFound,
  TenantStrategyMismatch,
  TenantUnavailable,
  UnknownShard
} from "../tenancy/errors.js"
import type { EmbeddedDatabaseMissing } from "./opensNothing.js"
import type {
  HealthCritical,
  HealthWarn,
  MigrationsDrifted,
  MigrationsPending,
  PlanRejected,
  SeedsInvalid
} from "./outcomes.js"
import type { TenancyAuditFindings } from "./tenancy/findings.js"

/** What each exit code means. */
export const ExitCode = {
  ok: 0,
  /** A bug or a failure dbkit could not classify. */
  unexpected: 1,
  /** Bad flags, bad environment variables, an unreadable migrations folder, an unknown name. */
  usage: 2,
  /** The database cannot be reached, or the embedded one is in use / from another version. */
  unavailable: 3,
  /** A guard refused: confirmation missing, or production not allowed. */
  refused: 4,
  /** A migration failed (rolled back, or recorded as failed). */
  migrationFailed: 5,
  /** Timed out waiting for another migrator's lock, deploy, seeding run, tenant provisioning, or restore or reset of the same database. */
  lockTimeout: 6,
  /** History needs a human: changed checksums, out-of-order or blocked migrations. */
  history: 7,
  /** `migrate verify`: migrations are pending (nothing has drifted). */
  pending: 8,
  /** `migrate verify` / `migrate drift`: the database differs from what the migrations say. */
  drift: 9,
  /** `migrate plan --strict`: a pending migration does something risky. */
  lint: 10,
  /** A seed failed (it was rolled back; the seeds depending on it did not run). */
  seedFailed: 11,
  /** `seed validate`: seeded tables hold fewer rows than their seeds declare. */
  seedInvalid: 12,
  /** A backup could not be made: pg_dump missing, too old or failing, or the file not writable. */
  backupFailed: 13,
  /**
   * A backup file cannot be trusted: missing manifest, changed bytes, a forged manifest, an unverified origin not trusted
   * (--trust-unsigned), wrong key, not a dump / corrupt, a restore that would empty the database, or a test restore that differs.
   */
  backupUntrusted: 14,
  /**
   * `db validate`: integrity findings (NOT VALID constraints, orphaned rows, cross-tenant references);
   * `tenancy audit`: row-level security findings.
   */
  integrity: 15,
  /** `db maintain --run` / `db cleanup --run`: a step failed (the others ran). */
  maintenanceFailed: 16,
  /** `deploy` / `env promote`: a step failed; nothing was changed, or the database was recovered (rolled back or restored). */
  deployFailed: 17,
  /** `deploy` / `env promote`: a step failed and recovery failed too; the database needs a human. */
  deployNotRecovered: 18,
  /**
   * A privacy check failed: `privacy map --strict` found undeclared personal columns;
   * `privacy verify-encryption` / `rotate-key` / `export` met plaintext, undecryptable values or a key not configured.
   */
  privacyCheck: 19,
  /** `privacy export` / `privacy erase`: nothing is held about that person (in that tenant). */
  subjectNotFound: 20,
  /** `privacy erase` / `anonymize` / `export` failed; the erasure was rolled back, the copy dropped. */
  privacyFailed: 21,
  /** `tenant deprovision` failed (say, another tenant's rows reference this one's); nothing was deleted, no backup file left. */
  tenantDeprovisionFailed: 22,
  /** `pitr setup`: the server is not set up for WAL archiving; the message lists what to change where. */
  pitrNotReady: 23,
  /**
   * `restore --physical`: no backup serves the target, the restored cluster did not reach it, or it does not match
   * `--expect-sql` (the running database was not touched).
   */
  recoveryFailed: 24,
  /** `health`: the verdict is warn (its own meaning of 1, as monitoring plugins read exit codes). */
  healthWarn: 1,
  /** `health`: the verdict is critical (its own meaning of 2). */
  healthCritical: 2
} as const

export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode]

/** Every error a dbkit command can end with (a server error dbkit could not classify is SqlError, exit 1). */
export type DbkitError =
  | AdoptRequired
  | AnonymizeFailed
  | AnonymizeNeedsBypassRls
  | AnonymizeRefusedInProduction
  | AnonymizeTargetExists
  | BackupChecksumMismatch
  | BackupCorrupt
  | BackupKeyInvalid
  | BackupManifestForged
  | BackupNotFound
  | BackupUntrusted
  | BackupUntrustedOrigin
  | BackupWriteFailed
  | BulkInsertFailed
  | CacheUnavailable
  | ChecksumMismatch
  | ConfirmationRequired
  | DatabaseUnavailable
  | DeployFailed
  | DeployLocked
  | DeployNotRecovered
  | EmbeddedDatabaseMissing
  | EmbeddedExtensionUnavailable
  | EmbeddedInUse
  | EmbeddedVersionMismatch
  | EncryptedColumnUnavailable
  | EncryptionProblems
  | ErasureFailed
  | ExportWriteFailed
  | FieldDecryptFailed
  | FieldKeyMissing
  | FieldKeysInvalid
  | HealthCritical
  | HealthWarn
  | IntegrityViolations
  | InvalidBackupOptions
  | InvalidConfig
  | InvalidDatabaseName
  | InvalidEncryptionOptions
  | InvalidMaintenanceOptions
  | InvalidRecoveryTarget
  | InvalidSeedOptions
  | InvalidShardFile
  | InvalidSubject
  | InvalidTarget
  | InvalidTenantSlug
  | InvalidThreshold
  | LoadTestSchemaMissing
  | LockTimeout
  | MaintenanceFailed
  | MigrationBlocked
  | MigrationFailed
  | MigrationLockTimeout
  | MigrationSourceError
  | MigrationsDrifted
  | MigrationsPending
  | MissingDownMigration
  | NoBackupForTarget
  | NotSupportedOnEmbedded
  | OutOfOrder
  | PgToolFailed
  | PgToolMissing
  | PgToolTooOld
  | PhysicalVerifyFailed
  | PitrNotConfigured
  | PitrServerNotReady
  | PlainDumpFailed
  | PlanRejected
  | PrivacyMapMismatch
  | ProductionRefused
  | PromotionBlocked
  | ProvisionFailed
  | RecoveryExpectationFailed
  | RecoveryFailed
  | RestoreDirectoryNotEmpty
  | RestoreLockTimeout
  | RestoreTargetExists
  | RestoreTargetInUse
  | RestoreTestMismatch
  | SeedCycle
  | SeedFailed
  | SeedRefusedInProduction
  | SeedsInvalid
  | SubjectNotFound
  | TenantMigrationsFailed
  | TenantMigrationsMissing
  | TenantNestingRefused
  | TenantNotFound
  | TenantStrategyMismatch
  | TenantUnavailable
  | InvalidTenantAttribute
  | RegistryStrategyConflict
  | DeprovisionFailed
  | TransactionControlRefused
  | UndeclaredPersonalData
  | UnknownHealthCheck
  | UnknownMigration
  | UnknownSeed
  | UnknownSeedDependency
  | UnknownShard
  | TenancyAuditFindings
  | UnknownJob
  | JobBusy
  | JobHealthCritical
  | SqlError

/** The exit code for each error tag. */
export const exitCodeByTag = {
  InvalidConfig: ExitCode.usage,
  MigrationSourceError: ExitCode.usage,
  TransactionControlRefused: ExitCode.usage,
  UnknownMigration: ExitCode.usage,
  InvalidTarget: ExitCode.usage,
  MissingDownMigration: ExitCode.usage,
  DatabaseUnavailable: ExitCode.unavailable,
  EmbeddedInUse: ExitCode.unavailable,
  EmbeddedDatabaseMissing: ExitCode.unavailable,
  EmbeddedVersionMismatch: ExitCode.unavailable,
  NotSupportedOnEmbedded: ExitCode.unavailable,
  EmbeddedExtensionUnavailable: ExitCode.unavailable,
  ConfirmationRequired: ExitCode.refused,
  ProductionRefused: ExitCode.refused,
  MigrationFailed: ExitCode.migrationFailed,
  MigrationLockTimeout: ExitCode.lockTimeout,
  ChecksumMismatch: ExitCode.history,
  AdoptRequired: ExitCode.history,
  OutOfOrder: ExitCode.history,
  MigrationBlocked: ExitCode.history,
  PlanRejected: ExitCode.lint,
  MigrationsPending: ExitCode.pending,
  MigrationsDrifted: ExitCode.drift,
  InvalidSeedOptions: ExitCode.usage,
  UnknownSeed: ExitCode.usage,
  UnknownSeedDependency: ExitCode.usage,
  SeedCycle: ExitCode.usage,
  SeedRefusedInProduction: ExitCode.refused,
  SeedFailed: ExitCode.seedFailed,
  SeedsInvalid: ExitCode.seedInvalid,
  PgToolMissing: ExitCode.backupFailed,
  PgToolTooOld: ExitCode.backupFailed,
  PgToolFailed: ExitCode.backupFailed,
  BackupWriteFailed: ExitCode.backupFailed,
  InvalidBackupOptions: ExitCode.usage,
  RestoreTargetExists: ExitCode.usage,
  RestoreTargetInUse: ExitCode.unavailable,
  RestoreLockTimeout: ExitCode.lockTimeout,
  CacheUnavailable: ExitCode.unavailable,
  InvalidDatabaseName: ExitCode.usage,
  BackupNotFound: ExitCode.backupUntrusted,
  BackupChecksumMismatch: ExitCode.backupUntrusted,
  BackupKeyInvalid: ExitCode.backupUntrusted,
  BackupCorrupt: ExitCode.backupUntrusted,
  BackupManifestForged: ExitCode.backupUntrusted,
  BackupUntrustedOrigin: ExitCode.backupUntrusted,
  BackupUntrusted: ExitCode.backupUntrusted,
  RestoreTestMismatch: ExitCode.backupUntrusted,
  UnknownHealthCheck: ExitCode.usage,
  InvalidThreshold: ExitCode.usage,
  InvalidTenantSlug: ExitCode.usage,
  TenantNotFound: ExitCode.usage,
  UnknownShard: ExitCode.usage,
  InvalidShardFile: ExitCode.usage,
  TenantMigrationsMissing: ExitCode.usage,
  TenantStrategyMismatch: ExitCode.usage,
  TenantUnavailable: ExitCode.refused,
  InvalidTenantAttribute: ExitCode.usage,
  RegistryStrategyConflict: ExitCode.usage,
  DeprovisionFailed: ExitCode.tenantDeprovisionFailed,
  ProvisionFailed: ExitCode.migrationFailed,
  TenantMigrationsFailed: ExitCode.migrationFailed,
  TenantNestingRefused: ExitCode.usage,
  IntegrityViolations: ExitCode.integrity,
  TenancyAuditFindings: ExitCode.integrity,
  MaintenanceFailed: ExitCode.maintenanceFailed,
  InvalidMaintenanceOptions: ExitCode.usage,
  LoadTestSchemaMissing: ExitCode.usage,
  PlainDumpFailed: ExitCode.backupFailed,
  DeployFailed: ExitCode.deployFailed,
  DeployNotRecovered: ExitCode.deployNotRecovered,
  DeployLocked: ExitCode.lockTimeout,
  PromotionBlocked: ExitCode.history,
  UndeclaredPersonalData: ExitCode.privacyCheck,
  AnonymizeFailed: ExitCode.privacyFailed,
  AnonymizeRefusedInProduction: ExitCode.refused,
  AnonymizeTargetExists: ExitCode.usage,
  AnonymizeNeedsBypassRls: ExitCode.usage,
  EncryptionProblems: ExitCode.privacyCheck,
  InvalidEncryptionOptions: ExitCode.usage,
  EncryptedColumnUnavailable: ExitCode.usage,
  FieldKeyMissing: ExitCode.privacyCheck,
  FieldDecryptFailed: ExitCode.privacyCheck,
  FieldKeysInvalid: ExitCode.usage,
  PrivacyMapMismatch: ExitCode.usage,
  InvalidSubject: ExitCode.usage,
  SubjectNotFound: ExitCode.subjectNotFound,
  ErasureFailed: ExitCode.privacyFailed,
  ExportWriteFailed: ExitCode.privacyFailed,
  BulkInsertFailed: ExitCode.seedFailed,
  LockTimeout: ExitCode.lockTimeout,
  HealthWarn: ExitCode.healthWarn,
  HealthCritical: ExitCode.healthCritical,
  PitrNotConfigured: ExitCode.usage,
  InvalidRecoveryTarget: ExitCode.usage,
  RestoreDirectoryNotEmpty: ExitCode.usage,
  PitrServerNotReady: ExitCode.pitrNotReady,
  NoBackupForTarget: ExitCode.recoveryFailed,
  RecoveryFailed: ExitCode.recoveryFailed,
  RecoveryExpectationFailed: ExitCode.recoveryFailed,
  PhysicalVerifyFailed: ExitCode.backupUntrusted,
  UnknownJob: ExitCode.usage,
  JobBusy: ExitCode.lockTimeout,
  JobHealthCritical: ExitCode.healthCritical,
  SqlError: ExitCode.unexpected
} as const satisfies Record<DbkitError["_tag"], ExitCode>

/** The exit code for an error's tag; anything that is not a DbkitError is unexpected (1). */
export const exitCodeOfTag = (tag: string | undefined): ExitCode =>
  tag !== undefined && Object.hasOwn(exitCodeByTag, tag)
    ? exitCodeByTag[tag as DbkitError["_tag"]]
    : ExitCode.unexpected
