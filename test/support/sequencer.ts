/**
 * The order test files start in: longest first, so that the two forks finish together instead
 * of one running a long file alone at the end. Vitest's own order needs its results cache (and a
 * cache written by a one-file run knows one file); this table is each file's seconds in a full run,
 * refreshed by hand from `--reporter=json` (rough: only the order matters). A file missing from it
 * starts first, as it may be long.
 */
import * as path from "node:path"
import { BaseSequencer, type TestSpecification } from "vitest/node"

const seconds: Record<string, number> = {
  "own-projects.test.ts": 121,
  "cli-help.test.ts": 66,
  "cli-seed.test.ts": 56,
  "migrate-surprises.test.ts": 48,
  "cli.test.ts": 43,
  "privacy-anonymize.test.ts": 39,
  "deploy.test.ts": 37,
  "package-install.test.ts": 34,
  "cli-backup.test.ts": 33,
  "embedded-extensions.test.ts": 27,
  "Restore.test.ts": 26,
  "restore-leftovers.test.ts": 26,
  "embedded-dump.test.ts": 23,
  "seeds.test.ts": 23,
  "cli-backup-origin.test.ts": 19,
  "cli-restore-embedded.test.ts": 19,
  "Backup.test.ts": 19,
  "project-config.test.ts": 19,
  "restore-embedded.test.ts": 18,
  "restore-concurrency.test.ts": 18,
  "backup-origin.test.ts": 17,
  "backup-untrusted.test.ts": 17,
  "Migrator.test.ts": 16,
  "db-cli.test.ts": 16,
  "cli-init.test.ts": 15,
  "cli-tenant.test.ts": 15,
  "env.test.ts": 15,
  "Database.test.ts": 14,
  "production-target.test.ts": 14,
  "cli-privacy.test.ts": 12,
  "cli-reset.test.ts": 12,
  "privacy-encryption.test.ts": 11,
  "health-cli.test.ts": 11,
  "readme.test.ts": 11,
  "restore-database-settings.test.ts": 10,
  "Tenancy.test.ts": 9,
  "Reset.test.ts": 9,
  "health.test.ts": 8,
  "privacy.test.ts": 7,
  "cli-output.test.ts": 7,
  "adopt.test.ts": 7,
  "tenancy-isolation.test.ts": 6,
  "catalog.test.ts": 6,
  "db-maintenance.test.ts": 5,
  "backup-crypto.test.ts": 5,
  "Seeder.test.ts": 5,
  "env-flag.test.ts": 4,
  "server-error.test.ts": 3,
  "env-files.test.ts": 2,
  "cli-startup.test.ts": 1,
  "locks.test.ts": 1,
  "Config.test.ts": 1,
  "backup-copy-rows.test.ts": 0.5,
  "Guard.test.ts": 0.5,
  "advisory-lock.test.ts": 0.5,
  "lint.test.ts": 0.1,
  "deploy-workflow.test.ts": 0.1,
  "exit-codes.test.ts": 0.1,
  "dump-policy.test.ts": 0.1,
  "retention.test.ts": 0.1,
  "backup-patterns.test.ts": 0.1,
  "redact.test.ts": 0.1
}

const weight = (spec: TestSpecification): number => seconds[path.basename(spec.moduleId)] ?? Number.POSITIVE_INFINITY

export default class LongestFirst extends BaseSequencer {
  override async sort(files: Array<TestSpecification>): Promise<Array<TestSpecification>> {
    return [...files].sort((a, b) => weight(b) - weight(a) || a.moduleId.localeCompare(b.moduleId))
  }
}
