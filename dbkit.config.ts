/**
 * The example project's dbkit configuration — the one place a project declares itself to every
 * dbkit command and to `X.layerConfig()` in programs: its migrations and backups, its seeds, its
 * personal-data map, its integrity relationships and retention rules, its tenancy, its cache
 * prefix and its environments. The example application lives in src/example/; dbkit's library
 * never imports it, and reaches it only through this file, as it would a team's own project.
 *
 * No secrets here: each environment names the variable that holds its URL.
 * Variables override what is written here: DBKIT_<ENV>_LINT, DBKIT_<ENV>_LOCK_TIMEOUT,
 * DBKIT_<ENV>_STATEMENT_TIMEOUT, DBKIT_<ENV>_SEED_PROFILE, DBKIT_<ENV>_URL_ENV,
 * DBKIT_<ENV>_BACKUP_KEEP_LAST, DBKIT_<ENV>_BACKUP_KEEP_DAYS, DBKIT_<ENV>_CONFIRM_DEPLOYS.
 */
import { defineConfig } from "dbkit"
import { relationships, retention } from "./src/example/rules.js"

export default defineConfig({
  migrationsDir: "migrations",
  backupDir: "backups",
  // Modules exporting Seeder.make(...) seeds; loaded only by `dbkit seed` and `reset --seed`.
  seeds: "src/example/seeds/index.ts",
  // The module whose default export is definePrivacy(...); loaded only by `dbkit privacy ...`.
  privacy: "src/example/schema/privacy.ts",
  // What `db validate` checks beyond the foreign keys, and what `db cleanup` deletes.
  integrity: { relationships },
  retention,
  // Shared tables with tenant_id under row-level security; organizations is the app's own tenants table.
  tenancy: { strategy: "rls", tenantTable: "organizations" },
  // `reset --with-cache` deletes the keys under this prefix in REDIS_URL (DB_CACHE_PREFIX overrides it).
  cache: { prefix: "dbkit-example:" },
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
