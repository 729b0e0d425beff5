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
  "own-projects.test.ts": 108,
  "cli-help.test.ts": 66,
  "cli.test.ts": 59,
  "package-install.test.ts": 53,
  "cli-seed.test.ts": 51,
  "migrate-surprises.test.ts": 41,
  "privacy-anonymize.test.ts": 40,
  "deploy.test.ts": 33,
  "cli-backup.test.ts": 31,
  "Restore.test.ts": 26,
  "embedded-extensions.test.ts": 25,
  "Database.test.ts": 25,
  "restore-leftovers.test.ts": 23,
  "restore-concurrency.test.ts": 23,
  "seeds.test.ts": 22,
  "Migrator.test.ts": 20,
  "embedded-dump.test.ts": 20,
  "cli-tenant.test.ts": 15,
  "db-cli.test.ts": 15,
  "project-config.test.ts": 15,
  "backup-untrusted.test.ts": 15,
  "Backup.test.ts": 15,
  "readme.test.ts": 13,
  "cli-privacy.test.ts": 13,
  "production-target.test.ts": 13,
  "cli-backup-origin.test.ts": 13,
  "cli-reset.test.ts": 13,
  "backup-origin.test.ts": 13,
  "cli-restore-embedded.test.ts": 12,
  "restore-embedded.test.ts": 12,
  "env.test.ts": 12,
  "cli-init.test.ts": 11,
  "cli-output.test.ts": 10,
  "privacy-encryption.test.ts": 10,
  "health.test.ts": 10,
  "health-cli.test.ts": 9,
  "tenancy-isolation.test.ts": 9,
  "catalog.test.ts": 8,
  "Tenancy.test.ts": 8,
  "db-maintenance.test.ts": 8,
  "restore-database-settings.test.ts": 7,
  "Reset.test.ts": 7,
  "migrate-batch.test.ts": 6,
  "backup-crypto.test.ts": 6,
  "Seeder.test.ts": 6,
  "privacy.test.ts": 5,
  "adopt.test.ts": 5,
  "env-flag.test.ts": 4,
  "backup-copy-rows.test.ts": 3,
  "env-files.test.ts": 3,
  "server-error.test.ts": 3,
  "locks.test.ts": 3,
  "cli-startup.test.ts": 2,
  "Config.test.ts": 0.5,
  "Guard.test.ts": 0.5,
  "advisory-lock.test.ts": 0.5,
  "deploy-workflow.test.ts": 0.1,
  "lint.test.ts": 0.1,
  "exit-codes.test.ts": 0.1,
  "retention.test.ts": 0.1,
  "dump-policy.test.ts": 0.1,
  "backup-patterns.test.ts": 0.1,
  "redact.test.ts": 0.1
}

const weight = (spec: TestSpecification): number => seconds[path.basename(spec.moduleId)] ?? Number.POSITIVE_INFINITY

export default class LongestFirst extends BaseSequencer {
  override async sort(files: Array<TestSpecification>): Promise<Array<TestSpecification>> {
    return [...files].sort((a, b) => weight(b) - weight(a) || a.moduleId.localeCompare(b.moduleId))
  }
}
