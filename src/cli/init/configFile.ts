/**
 * The `dbkit.config.ts` that `dbkit init` writes: dbkit's own defaults spelled out (so writing it
 * changes no behaviour, and every knob is in front of the reader), the folders it found, and a
 * comment on each field saying what it does and where its value came from.
 */

/** What the file says about the folders, with the reason for each (shown as comments). */
export interface ConfigFileInput {
  readonly migrationsDir: string
  readonly migrationsNote: string
  readonly backupDir: string
  readonly backupNote: string
}

/** The file's text. */
export const configFileText = (input: ConfigFileInput): string =>
  `/**
 * dbkit's configuration, the one place your project declares itself to every dbkit command:
 * where the migrations and backups are, your seeds, personal-data map, integrity and retention
 * rules, tenancy, and the four environments (development, test, staging, production) that
 * \`dbkit deploy\`, \`dbkit env …\` and the guards use.
 * Written by \`dbkit init\`; edit freely — \`dbkit init\` never overwrites it.
 * \`npx dbkit env list\` shows the result, \`npx dbkit env check\` validates it.
 *
 * No secrets here: each environment names the variable that holds its URL (urlEnv).
 * Variables override what is written here: DBKIT_<ENV>_LINT, DBKIT_<ENV>_LOCK_TIMEOUT,
 * DBKIT_<ENV>_STATEMENT_TIMEOUT, DBKIT_<ENV>_SEED_PROFILE, DBKIT_<ENV>_URL_ENV,
 * DBKIT_<ENV>_BACKUP_KEEP_LAST, DBKIT_<ENV>_BACKUP_KEEP_DAYS, DBKIT_<ENV>_CONFIRM_DEPLOYS.
 * dbkit reads this file without running your project: the "dbkit" import only gives types.
 * The modules it names (seeds, privacy) are loaded only by the commands that run them.
 */
import { defineConfig } from "dbkit"

export default defineConfig({
  // The migrations folder, relative to this file: plain NNNN_name.sql files (with optional
  // NNNN_name.down.sql), or a drizzle-kit folder with meta/_journal.json.
  // ${input.migrationsNote}
  migrationsDir: ${JSON.stringify(input.migrationsDir)},
  // Where backups go; deploys keep their safety backups in <backupDir>/<environment>.
  // ${input.backupNote}
  backupDir: ${JSON.stringify(input.backupDir)},
  // Your seeds: module(s) exporting Seeder.make({ name, profile, run }) seeds (default export: an
  // array). \`dbkit seed\` and \`dbkit reset --seed\` run them; nothing else loads them.
  // seeds: "db/seeds.ts",
  // Your personal data: a module whose default export is definePrivacy({ tables: [...] }),
  // for \`dbkit privacy map | export | erase | anonymize\`.
  // privacy: "db/privacy.ts",
  // Relationships your schema has no foreign key for, checked by \`dbkit db validate\`.
  // integrity: { relationships: [{ table: "events", column: "user_id", references: "users.id" }] },
  // Rows that expire, deleted in small batches by \`dbkit db cleanup\`.
  // retention: [{ table: "events", timestampColumn: "created_at", keep: "90 days" }],
  // Tenants: "rls" (shared tables with tenant_id and policies) or "schema" (a schema per tenant,
  // built by the migrations in migrationsDir); tenantTable is your own tenants table (id, slug, name).
  // tenancy: { strategy: "schema", migrationsDir: "migrations/tenant" },
  // \`dbkit reset --with-cache\` deletes the keys under this prefix in REDIS_URL.
  // cache: { prefix: "myapp:" },
  environments: {
    // Your machine. DATABASE_URL unset: the embedded PostgreSQL in .dbkit/pglite.
    development: {
      urlEnv: "DATABASE_URL", // the variable holding this environment's URL
      seedProfile: "development", // reference data plus generated development data
      lint: "warn", // risky migration statements are reported, not refused
      backupRetention: { keepLast: 5 } // safety backups a deploy keeps
    },
    // Test runs (DB_ENV=test). TEST_DATABASE_URL unset: DATABASE_URL, else the embedded database.
    test: {
      urlEnv: "TEST_DATABASE_URL",
      seedProfile: "test",
      lint: "warn",
      backupRetention: { keepLast: 5 }
    },
    staging: {
      urlEnv: "STAGING_DATABASE_URL",
      guards: { confirm: true }, // deploys need DB_DEPLOY_CONFIRM=1 or --yes
      seedProfile: "reference", // reference data only
      lint: "warn",
      lockTimeout: "5 seconds", // lock_timeout of each migration: give up rather than queue behind traffic
      // statementTimeout: "10 minutes", // statement_timeout of each migration (default: none)
      backupRetention: { keepLast: 10 }
    },
    production: {
      urlEnv: "PRODUCTION_DATABASE_URL",
      guards: { confirm: true }, // always on in production; deploys also need DB_DEPLOY_ALLOW_PRODUCTION=1
      seedProfile: "reference", // production takes reference seeds only
      lint: "strict", // a deploy stops on risky migration statements (\`dbkit migrate plan --strict\`)
      lockTimeout: "5 seconds",
      // statementTimeout: "15 minutes",
      backupRetention: { keepLast: 30, keepDays: 30 }, // the newest verified backup always stays
      health: { failOn: "critical" } // the post-deploy health check fails the deploy on a critical finding
    }
  }
})
`
