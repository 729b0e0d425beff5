/**
 * dbkit's public API: the services, their layers, errors and types — nothing else.
 *
 * Each service is its Context tag with its layers attached, so a program reads
 * `const migrator = yield* Migrator` and is wired with `Migrator.layer({ ... })`.
 */
import * as ConfigModule from "./Config.js"
import * as GuardModule from "./Guard.js"
import * as MigratorModule from "./migrator/Migrator.js"

/** Configuration read from the environment (`DbConfig.layer`) or given (`DbConfig.layerFrom`). */
export const DbConfig = Object.assign(ConfigModule.DbConfig, {
  layer: ConfigModule.layer,
  layerFrom: ConfigModule.layerFrom,
  load: ConfigModule.load
})
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
  PgLive
} from "./Database.js"

/** Confirmation and production guards for destructive actions. */
export const Guard = Object.assign(GuardModule.Guard, { layer: GuardModule.layer })
export { type Confirmation, ConfirmationRequired, type GuardRequest, ProductionRefused } from "./Guard.js"

/** Migrations: apply, dry-run, status. */
export const Migrator = Object.assign(MigratorModule.Migrator, {
  layer: MigratorModule.layer,
  layerConfig: MigratorModule.layerConfig
})
export * from "./migrator/errors.js"
export type {
  MigrateEvent,
  MigrateOptions,
  MigrateResult,
  MigrationStatus,
  MigratorOptions
} from "./migrator/Migrator.js"
export * as MigrationSource from "./migrator/source.js"
export type { CodeMigration, Migration } from "./migrator/source.js"

import * as SeederModule from "./seeder/Seeder.js"

/** Seeds: reference data everywhere, deterministic generated data outside production. */
export const Seeder = Object.assign(SeederModule.Seeder, {
  layer: SeederModule.layer,
  layerConfig: SeederModule.layerConfig,
  make: SeederModule.make
})
export { BulkInsertFailed, type CopyOptions, copyRows, type CopyValue } from "./Bulk.js"
export * from "./seeder/errors.js"
export * as Random from "./seeder/random.js"
export type { Profile, Seed, SeedContext, SeedEvent, SeedListing, SeedOptions, SeedResult } from "./seeder/Seeder.js"

// ---- The project
import * as ProjectModule from "./Project.js"

/** The project's dbkit.config.* resolved: folders, seeds, privacy map, rules, tenancy, cache, environments. */
export const Project = Object.assign(ProjectModule.Project, {
  layer: ProjectModule.layer,
  layerFrom: ProjectModule.layerFrom,
  load: ProjectModule.load,
  current: ProjectModule.current,
  seeds: ProjectModule.seeds,
  privacyMap: ProjectModule.privacyMap
})
export type { ProjectShape, TenancySettings } from "./Project.js"

// ---- Backup, Restore, Reset
import * as BackupModule from "./backup/Backup.js"
import * as RestoreModule from "./backup/Restore.js"
import * as ResetModule from "./reset/Reset.js"

/** Compressed, encrypted, checksummed backups with manifests; list, verify, prune. */
export const Backup = Object.assign(BackupModule.Backup, {
  layer: BackupModule.layer,
  layerConfig: BackupModule.layerConfig
})
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
export const Restore = Object.assign(RestoreModule.Restore, {
  layer: RestoreModule.layer,
  layerConfig: RestoreModule.layerConfig
})
export type { PruneOptions, PruneResult } from "./backup/Backup.js"
export type { RestoreOverOptions, RestoreOverResult, RestoreResult } from "./backup/Restore.js"
export { InvalidDatabaseName, RestoreTargetExists, RestoreTargetInUse } from "./backup/Restore.js"
export { RestoreLockTimeout } from "./backup/targetLock.js"
/** Back to a known state: hard (drop and migrate) or soft (truncate), guarded, optionally reseeded. */
export const Reset = Object.assign(ResetModule.Reset, {
  layer: ResetModule.layer,
  layerConfig: ResetModule.layerConfig
})
export { PgToolFailed, PgToolMissing, PgToolTooOld } from "./PgTools.js"
export type { ResetOptions, ResetResult } from "./reset/Reset.js"

// ---- Health
import * as HealthModule from "./health/Health.js"

/** Health checks a DBA would run, as one report with a verdict (ok / warn / critical). */
export const Health = Object.assign(HealthModule.Health, {
  layer: HealthModule.layer,
  layerConfig: HealthModule.layerConfig,
  layerResilient: HealthModule.layerResilient,
  checkNames: HealthModule.checkNames,
  defaultThresholds: HealthModule.defaultThresholds
})
export { InvalidThreshold, UnknownHealthCheck } from "./health/errors.js"
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
import * as TenancyModule from "./tenancy/Tenancy.js"

/** Row-level security or schema-per-tenant isolation, provisioning, and migrations fanned out. */
export const Tenancy = Object.assign(TenancyModule.Tenancy, {
  layer: TenancyModule.layer,
  layerConfig: TenancyModule.layerConfig
})
export * from "./tenancy/errors.js"
export { load as loadShards, type Shards } from "./tenancy/shards.js"
export type {
  DeprovisionResult,
  MigrateAllOptions,
  MigrateAllReport,
  ProvisionResult,
  Strategy as TenancyStrategy,
  TenancyOptions,
  Tenant,
  TenantMigration
} from "./tenancy/Tenancy.js"

// ---- Maintenance
import * as MaintenanceModule from "./maintenance/Maintenance.js"

/** Stats, upkeep (VACUUM, ANALYZE, REINDEX), integrity checks, retention cleanup and a load test. */
export const Maintenance = Object.assign(MaintenanceModule.Maintenance, {
  layer: MaintenanceModule.layer,
  layerConfig: MaintenanceModule.layerConfig,
  make: MaintenanceModule.make,
  defaultThresholds: MaintenanceModule.defaultMaintenanceThresholds
})
export * from "./maintenance/errors.js"
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
import * as DeployModule from "./deploy/Deploy.js"

/** The release gate: preflight, safety backup, migrate, health, automatic recovery, recorded in dbkit.deployments. */
export const Deploy = Object.assign(DeployModule.Deploy, { layer: DeployModule.layer, layerFor: DeployModule.layerFor })
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
import * as PrivacyModule from "./privacy/Privacy.js"

/** Data-protection duties over the personal-data map: map check, subject export, erasure, audit report. */
export const Privacy = Object.assign(PrivacyModule.Privacy, {
  layer: PrivacyModule.layer,
  layerConfig: PrivacyModule.layerConfig
})
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
export type {
  AuditReport,
  ErasureReport,
  ErasureStep,
  MapReport,
  SubjectExport,
  SubjectRequest
} from "./privacy/Privacy.js"
