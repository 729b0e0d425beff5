/**
 * dbkit's public API: the services, their layers, errors and types — nothing else.
 *
 * Each service is its Context tag, whose layers are static members declared with the class, so a
 * program reads `const migrator = yield* Migrator` and is wired with `Migrator.layer({ ... })`.
 */
import * as ConfigModule from "./Config.js"

/** Configuration read from the environment (`DbConfig.layer`) or given (`DbConfig.layerFrom`). */
export const DbConfig: typeof ConfigModule.DbConfig = ConfigModule.DbConfig
export type DbConfig = ConfigModule.DbConfigShape
export { type Environment, environments, InvalidConfig } from "./Config.js"

export {
  Database,
  DatabaseLive,
  type DatabaseShape,
  DatabaseUnavailable,
  EmbeddedExtensionUnavailable,
  EmbeddedInUse,
  EmbeddedVersionMismatch,
  NotSupportedOnEmbedded,
  PgliteLive,
  type PgliteOptions,
  PgLive,
  type PgOptions
} from "./Database.js"

/** Confirmation and production guards for destructive actions. */
export { Guard } from "./Guard.js"
export { type Confirmation, ConfirmationRequired, type GuardRequest, ProductionRefused } from "./Guard.js"

/** Migrations: apply, dry-run, status. */
export * from "./migrator/errors.js"
export { Migrator } from "./migrator/Migrator.js"
export type {
  MigrateEvent,
  MigrateOptions,
  MigrateResult,
  MigrationStatus,
  MigratorOptions
} from "./migrator/Migrator.js"
export * as MigrationSource from "./migrator/source.js"
export type { CodeMigration, Migration } from "./migrator/source.js"

/** Seeds: reference data everywhere, deterministic generated data outside production. */
export { BulkInsertFailed, type CopyOptions, copyRows, type CopyValue } from "./Bulk.js"
export * from "./seeder/errors.js"
export * as Random from "./seeder/random.js"
export { Seeder } from "./seeder/Seeder.js"
export type { Profile, Seed, SeedContext, SeedEvent, SeedListing, SeedOptions, SeedResult } from "./seeder/Seeder.js"

// ---- The project

/** The project's dbkit.config.* resolved: folders, seeds, privacy map, rules, tenancy, cache, environments. */
export { Project } from "./Project.js"
export type { ProjectShape, TenancySettings } from "./Project.js"

// ---- Backup, Restore, Reset

/** Compressed, encrypted, checksummed backups with manifests; list, verify, prune. */
export { Backup } from "./backup/Backup.js"
export type {
  BackupListing,
  BackupOptions,
  BackupResult,
  Manifest as BackupManifest,
  VerifyResult
} from "./backup/Backup.js"
export { BackupWriteFailed, InvalidBackupOptions } from "./backup/Backup.js"
export * from "./backup/errors.js"
export type { ManifestSignature, Origin } from "./backup/signature.js"
/** Verified, atomic restores: into a new database, or over the configured one (guarded). */
export type { PruneOptions, PruneResult } from "./backup/Backup.js"
export { Restore } from "./backup/Restore.js"
export type { RestoreOverOptions, RestoreOverResult, RestoreResult } from "./backup/Restore.js"
export { InvalidDatabaseName, RestoreTargetExists, RestoreTargetInUse } from "./backup/Restore.js"
export { RestoreLockTimeout } from "./backup/targetLock.js"
/** Physical backups and point-in-time recovery through pgBackRest (`Backup.physical`). */
export {
  InvalidRecoveryTarget,
  NoBackupForTarget,
  PhysicalVerifyFailed,
  PitrNotConfigured,
  PitrServerNotReady,
  RecoveryExpectationFailed,
  RecoveryFailed,
  RestoreDirectoryNotEmpty
} from "./backup/physical/Physical.js"
export type {
  Physical,
  PhysicalBackupResult,
  PhysicalManifest,
  PhysicalRestoreOptions,
  PhysicalRestoreResult,
  PhysicalVerifyResult,
  PitrSettings,
  RecoveryTarget,
  RequiredChange,
  RestorePoint,
  SetupResult as PitrSetupResult
} from "./backup/physical/Physical.js"
/** Back to a known state: hard (drop and migrate) or soft (truncate), guarded, optionally reseeded. */
export { PgToolFailed, PgToolMissing, PgToolTooOld } from "./PgTools.js"
export { Reset } from "./reset/Reset.js"
export type { ResetOptions, ResetResult } from "./reset/Reset.js"

// ---- Health

/** Health checks a DBA would run, as one report with a verdict (ok / warn / critical). */
export { InvalidThreshold, UnknownHealthCheck } from "./health/errors.js"
export { Health } from "./health/Health.js"
export type {
  CheckResult,
  CheckStatus,
  HealthOptions,
  HealthReport,
  OverallStatus,
  Readiness,
  ReportOptions,
  Thresholds
} from "./health/Health.js"
export { router as healthRouter } from "./health/http.js"

// ---- Tenancy

/** Row-level security or schema-per-tenant isolation, provisioning, and migrations fanned out. */
export * from "./tenancy/errors.js"
export { load as loadShards, type Shards } from "./tenancy/shards.js"
/** Registers a tenant whose rows already exist (say, a seed's organization) in the caller's transaction. */
export { register as registerTenant, type Registration as TenantRegistration } from "./tenancy/register.js"
/** Runs the seeds for one tenant, found by id, slug or domain (schema strategy: in its schema). */
export { seedTarget, seedTenant } from "./tenancy/seedTenant.js"
export { Tenancy } from "./tenancy/Tenancy.js"
/** The row-level security audit behind `Tenancy.audit` and the `tenancy` health check, over any catalog query. */
export {
  audit as auditRowLevelSecurity,
  type AuditFinding,
  type AuditFindingKind,
  type AuditReport as RlsAuditReport,
  type AuditTarget,
  type CatalogQuery,
  readOnlyQueries
} from "./RlsAudit.js"
export type {
  DeprovisionOptions,
  DeprovisionResult,
  MigrateAllOptions,
  MigrateAllReport,
  ProvisionOptions,
  ProvisionResult,
  Strategy as TenancyStrategy,
  TenancyOptions,
  Tenant,
  TenantMigration
} from "./tenancy/Tenancy.js"

// ---- Maintenance

/** Stats, upkeep (VACUUM, ANALYZE, REINDEX), integrity checks, retention cleanup and a load test. */
export * from "./maintenance/errors.js"
export { Maintenance } from "./maintenance/Maintenance.js"
export type {
  CleanupOptions,
  CleanupResult,
  CleanupRunOptions,
  Finding as IntegrityFinding,
  IndexUsage,
  IntegrityReport,
  Latency,
  LoadTestOptions,
  LoadTestReport,
  LoadTestType,
  MaintainOptions,
  MaintainResult,
  MaintenanceOptions,
  MaintenanceTask,
  MaintenanceThresholds,
  Recommendation,
  Relationship,
  RetentionCount,
  RetentionResult,
  RetentionRule,
  StatsOptions,
  StatsReport,
  TableUsage,
  TaskResult,
  TopQueries,
  TopQuery,
  ValidateOptions
} from "./maintenance/Maintenance.js"

// ---- Deploy and environments

/** The release gate: preflight, safety backup, migrate, health, automatic recovery, recorded in dbkit.deployments. */
export { Deploy } from "./deploy/Deploy.js"
export type { DeployError, DeploymentRow, DeployOptions, DeployReport, Step as DeployStep } from "./deploy/Deploy.js"
export * from "./deploy/errors.js"
export { compareStates, type EnvironmentDiff, readState } from "./deploy/promote.js"
export {
  type ConfigInput as DeployConfigInput,
  defineConfig,
  type DeployConfig,
  type EnvironmentSettings,
  load as loadDeployConfig
} from "./ProjectConfig.js"

// ---- Privacy: personal-data map, subject export and erasure, field encryption, audit

/** Data-protection duties over the personal-data map: map check, subject export, erasure, audit report. */
export {
  anonymize,
  AnonymizeFailed,
  AnonymizeNeedsBypassRls,
  type AnonymizeOptions,
  AnonymizeRefusedInProduction,
  type AnonymizeReport,
  AnonymizeTargetExists
} from "./privacy/anonymize.js"
export {
  categories as personalDataCategories,
  type Category as PersonalDataCategory,
  type ColumnDeclaration,
  definePrivacy,
  type Erasure,
  type PersonalColumn,
  personalData,
  type PersonalTable,
  type PrivacyMap
} from "./privacy/declare.js"
export {
  EncryptedColumnUnavailable,
  EncryptionProblems,
  InvalidEncryptionOptions,
  requireEncrypted,
  rotateKey,
  type RotateOptions,
  type RotateProgress,
  type RotateReport,
  verifyEncryption,
  type VerifyReport as EncryptionVerifyReport
} from "./privacy/encryption.js"
export * from "./privacy/errors.js"
export { fake as fakeValue } from "./privacy/fake.js"
export {
  classify as classifyEncryptedValue,
  encryptedText,
  FieldDecryptFailed,
  FieldKeyMissing,
  FieldKeysInvalid,
  generateKey as generateFieldKey,
  type Keyring,
  keyringFromEnv,
  loadKeyring,
  makeKeyring
} from "./privacy/fieldCrypto.js"
export { loadPrivacyMap } from "./privacy/loadMap.js"
export { Privacy } from "./privacy/Privacy.js"
export type {
  AuditReport,
  ErasureReport,
  ErasureStep,
  MapReport,
  SubjectExport,
  SubjectRequest
} from "./privacy/Privacy.js"

// ---- Scheduled jobs

/** The schedule `dbkit serve` keeps: jobs declared per environment, run at their cron times, recorded in dbkit.jobs. */
export { JobBusy, JobHealthCritical, UnknownJob } from "./serve/jobs/errors.js"
export {
  type JobDefinition,
  type JobError,
  type JobKind,
  jobKinds,
  type JobRun,
  Jobs,
  type JobsOptions,
  type JobStatus,
  type Upcoming as UpcomingJob
} from "./serve/jobs/Jobs.js"

// ---- Serving: the long-running process

/** Health routes and Prometheus /metrics on one server, with room for a program's own routes and background work. */
export { Metrics } from "./serve/metrics/Metrics.js"
export * as Serve from "./serve/Serve.js"
/** The read-only dashboard's routes, and the sampler that keeps its charts. */
export * as Dashboard from "./serve/dashboard/Dashboard.js"
export * as Sampler from "./serve/dashboard/Sampler.js"

// ---- Tracing

/** Every service method runs in a span; `traced` gives a program's own services the same. */
export { attributesOf, type SpanTarget, traced } from "./Tracing.js"
