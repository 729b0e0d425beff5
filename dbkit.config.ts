/**
 * The reference application's environments, for `dbkit deploy`, `dbkit env …`.
 * No secrets here: each environment names the variable that holds its URL.
 * Variables override what is written here: DBKIT_<ENV>_LINT, DBKIT_<ENV>_LOCK_TIMEOUT,
 * DBKIT_<ENV>_STATEMENT_TIMEOUT, DBKIT_<ENV>_SEED_PROFILE, DBKIT_<ENV>_URL_ENV,
 * DBKIT_<ENV>_BACKUP_KEEP_LAST, DBKIT_<ENV>_BACKUP_KEEP_DAYS, DBKIT_<ENV>_CONFIRM_DEPLOYS.
 */
import { defineConfig } from "dbkit"

export default defineConfig({
  migrationsDir: "migrations",
  backupDir: "backups",
  environments: {
    development: {
      urlEnv: "DATABASE_URL", // unset: the embedded database in .dbkit/pglite
      seedProfile: "development",
      lint: "warn",
      backupRetention: { keepLast: 3 }
    },
    test: {
      urlEnv: "TEST_DATABASE_URL", // unset while DB_ENV=test: DATABASE_URL
      seedProfile: "test",
      lint: "warn",
      backupRetention: { keepLast: 3 }
    },
    staging: {
      urlEnv: "STAGING_DATABASE_URL",
      guards: { confirm: true },
      seedProfile: "reference",
      lint: "warn",
      lockTimeout: "5 seconds",
      statementTimeout: "10 minutes",
      backupRetention: { keepLast: 10, keepDays: 14 }
    },
    production: {
      urlEnv: "PRODUCTION_DATABASE_URL",
      guards: { confirm: true }, // always on in production; DB_DEPLOY_ALLOW_PRODUCTION=1 too
      seedProfile: "reference",
      lint: "strict",
      lockTimeout: "3 seconds",
      statementTimeout: "15 minutes",
      backupRetention: { keepLast: 30, keepDays: 30 },
      health: { failOn: "critical" }
    }
  }
})
