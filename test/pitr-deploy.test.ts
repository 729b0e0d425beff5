// `dbkit deploy` makes a named restore point just before migrating when a pgBackRest stanza is
// configured, and reports it: restoring to that name (a private cluster archiving into its own
// pgBackRest repository, test/support/cluster.ts) gives back the database as it was before the
// release. The stanza is named in the staging environment's `pitr` block of dbkit.config.ts, so
// the deploy, `pitr setup`, `backup --physical` and `restore --physical` all read it from there.
// A point that cannot be made stops the deploy before anything is migrated.
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { runCli } from "./support/cli.js"
import { freePort, type PitrCluster, pitrTools, startCluster } from "./support/cluster.js"
import { createScratchDatabase, dropScratchDatabase, queryAt, serverAvailable, tempDir } from "./support/databases.js"
import { writeFolder } from "./support/migrations.js"

const tools = pitrTools()
const server = await serverAvailable()

// The host's load is not what these tests are about (this machine is shared): its check never fails the deploy.
const HEALTH = "health: { thresholds: { loadPerCpuWarn: 1000, loadPerCpuCritical: 1000 } }"
const CONFIG = `import { defineConfig } from "dbkit"
export default defineConfig({ environments: { staging: { urlEnv: "STAGING_URL", ${HEALTH} } } })
`
/** The staging environment's pgBackRest named in the file (environments.staging.pitr), not in variables. */
const configWithPitr = (cluster: PitrCluster) =>
  `import { defineConfig } from "dbkit"
export default defineConfig({
  environments: {
    staging: {
      urlEnv: "STAGING_URL",
      ${HEALTH},
      pitr: ${
    JSON.stringify({
      stanza: cluster.stanza,
      configFile: cluster.configFile,
      binDir: cluster.binDir,
      user: cluster.runAs
    })
  }
    }
  }
})
`

const BASE = {
  "0001_base.sql":
    "CREATE TABLE customers (id int PRIMARY KEY, name text NOT NULL);\nINSERT INTO customers VALUES (1, 'Ada'), (2, 'Grace');"
}
const DROP = { "0002_drop_name.sql": "ALTER TABLE customers DROP COLUMN name;" }

/** What a migration changed, as a restore must undo it: the column, and the history rows. */
const state = async (url: string) => ({
  columns: (await queryAt<{ c: string }>(
    url,
    "SELECT column_name AS c FROM information_schema.columns WHERE table_name = 'customers' ORDER BY ordinal_position"
  )).map((r) => r.c),
  history: (await queryAt<{ name: string }>(url, "SELECT name FROM dbkit.migrations ORDER BY id")).map((r) => r.name)
})

interface Report {
  readonly result: string
  readonly restorePoint: { readonly name: string; readonly lsn: string } | null
  readonly steps: ReadonlyArray<{ readonly name: string; readonly status: string; readonly detail: string }>
}

describe.skipIf("skip" in tools)("deploy's restore point on a private cluster", () => {
  const binDir = "binDir" in tools ? tools.binDir : ""

  it.live(
    "restoring to the point named in the deploy report undoes the deploy's migration and its history row",
    () =>
      Effect.scoped(Effect.gen(function*() {
        const cluster = yield* startCluster(binDir)
        const project = writeFolder({ "dbkit.config.ts": configWithPitr(cluster) }, tempDir("dbkit-pitr-deploy-"))
        writeFolder(BASE, path.join(project, "migrations"))
        const backupDir = path.join(cluster.dir, "manifests")
        // No DBKIT_PGBACKREST_*: every command (and the deploy) takes staging's pitr block from the file.
        const env = {
          DB_ENV: "staging",
          STAGING_URL: cluster.url,
          DATABASE_URL: cluster.url,
          DBKIT_BACKUP_DIR: backupDir
        }
        const dbkit = (...args: Array<string>) =>
          Effect.promise(() => runCli(args, env, { cwd: project, timeoutMs: 180_000 }))

        const setup = yield* dbkit("pitr", "setup")
        expect(setup.code, setup.stderr).toBe(0)
        const first = yield* dbkit("deploy", "--env", "staging", "--yes")
        expect(first.code, first.stderr).toBe(0)
        expect(first.stdout).toMatch(/✓ point .*dbkit_deploy_1_\d{8}T\d{6}Z at [0-9A-F]+\/[0-9A-F]+/)
        expect(first.stdout).toMatch(/restore point dbkit_deploy_1_\S+ at \S+: dbkit restore --physical --to-name/)
        const full = yield* dbkit("backup", "--physical", "--type", "full", "--json")
        expect(full.code).toBe(0)

        writeFolder(DROP, path.join(project, "migrations"))
        const deployed = yield* dbkit("deploy", "--env", "staging", "--yes", "--json")
        expect([deployed.code, deployed.stderr.split("\n").filter((l) => l.startsWith("error"))]).toEqual([0, []])
        const report = JSON.parse(deployed.stdout) as Report
        expect(report.result).toBe("succeeded")
        const point = report.restorePoint!
        expect(point).toEqual({ name: expect.stringMatching(/^dbkit_deploy_2_\d{8}T\d{6}Z$/), lsn: expect.any(String) })
        const names = report.steps.map((s) => s.name)
        expect(names.slice(names.indexOf("backup"), names.indexOf("migrate") + 1)).toEqual([
          "backup",
          "point",
          "migrate"
        ])
        expect(report.steps.find((s) => s.name === "point")).toMatchObject({
          status: "ok",
          detail: `${point.name} at ${point.lsn}`
        })
        // Recorded in the stanza's ledger, so the restore starts from a backup taken before it.
        const ledger = JSON.parse(
          fs.readFileSync(path.join(backupDir, `${cluster.stanza}.restore-points.json`), "utf8")
        )
        expect(ledger).toContainEqual(expect.objectContaining(point))
        const after = yield* Effect.promise(() => state(cluster.url))
        expect(after).toEqual({ columns: ["id"], history: ["0001_base", "0002_drop_name"] })
        expect((yield* dbkit("pitr", "setup")).code).toBe(0) // archives the WAL holding the point and the migration

        const port = yield* Effect.promise(freePort)
        const into = path.join(cluster.dir, "before-deploy")
        const restore = [
          "restore",
          "--physical",
          "--to-name",
          point.name,
          "--into-cluster",
          into,
          "--port",
          String(port)
        ]
        const refused = yield* dbkit(...restore)
        expect([refused.code, refused.stderr]).toEqual([4, expect.stringContaining("DB_RESTORE_CONFIRM")])
        const restored = yield* dbkit(...restore, "--yes", "--json")
        expect([restored.code, restored.stderr.split("\n").filter((l) => l.startsWith("error"))]).toEqual([0, []])
        expect(JSON.parse(restored.stdout)).toMatchObject({
          recoveryTarget: { type: "name", value: point.name },
          reached: { stop: expect.stringContaining(`recovery stopping at restore point "${point.name}"`) }
        })
        // The copy is the database as it was before the migration: the column is there, its history row is not.
        const copy = yield* Effect.promise(() => state(cluster.url.replace(`:${cluster.port}/`, `:${port}/`)))
        expect(copy).toEqual({ columns: ["id", "name"], history: ["0001_base"] })
        // The running cluster is untouched.
        expect(yield* Effect.promise(() => state(cluster.url))).toEqual(after)
      })),
    300_000
  )
})

describe.skipIf(!server)("deploy's restore point on the shared server", () => {
  it.effect(
    "a stanza that cannot be used stops the deploy at the point step: nothing is migrated",
    () =>
      Effect.promise(async () => {
        const db = await createScratchDatabase("dbkit_pitr_deploy")
        try {
          const project = writeFolder({ "dbkit.config.ts": CONFIG }, tempDir("dbkit-pitr-deploy-"))
          writeFolder({ ...BASE, ...DROP }, path.join(project, "migrations"))
          const env = { STAGING_URL: db.url, DBKIT_PGBACKREST_STANZA: "not a stanza!" }
          const failed = await runCli(["deploy", "--env", "staging", "--yes", "--json"], env, { cwd: project })
          expect(failed.code).toBe(17)
          const report = JSON.parse(failed.stdout) as Report
          expect(report).toMatchObject({ result: "failed", restorePoint: null, applied: [], recovery: "not needed" })
          expect(report.steps.at(-1)).toMatchObject({
            name: "point",
            status: "failed",
            detail: expect.stringContaining("DBKIT_PGBACKREST_STANZA")
          })
          const tables = await queryAt<{ t: string | null }>(db.url, "SELECT to_regclass('customers')::text AS t")
          expect(tables).toEqual([{ t: null }])
        } finally {
          await dropScratchDatabase(db.name)
        }
      }),
    120_000
  )
})
