/**
 * Exit codes, one table for every command; README's "Exit codes" section mirrors it.
 */

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
  /** Timed out waiting for another migrator's lock, or another restore or reset of the same database. */
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
  /** `db validate`: integrity findings (NOT VALID constraints, orphaned rows, cross-tenant references). */
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
  privacyFailed: 21
} as const

/** The exit code for each error tag. */
export const exitCodeByTag: Readonly<Record<string, number>> = {
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
  ProvisionFailed: ExitCode.migrationFailed,
  TenantMigrationsFailed: ExitCode.migrationFailed,
  TenantNestingRefused: ExitCode.usage,
  IntegrityViolations: ExitCode.integrity,
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
  ExportWriteFailed: ExitCode.privacyFailed
}
