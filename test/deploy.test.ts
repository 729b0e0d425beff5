/**
 * `dbkit deploy` as a user runs it, against scratch databases on the server: a failure halfway
 * through a release is recovered (down migrations, else the safety backup), a failed health
 * check undoes the release, a killed deploy leaves its row `running` and the next one proceeds,
 * production is guarded and linted strictly, and no password ever shows up anywhere.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { type CliResult, nodeFlags, runCli } from "./support/cli.js"
import {
  createScratchDatabase,
  dropScratchDatabase,
  queryAt,
  serverAvailable,
  tempDir,
  urlFor
} from "./support/databases.js"
import { writeFolder } from "./support/migrations.js"

const server = await serverAvailable()
const SECRET = "Sup3r-S3cret-pw"

/** The scratch database's URL with a password in it (trust auth ignores it; it must never leak). */
const secretUrl = (database: string) => {
  const url = new URL(urlFor(database))
  url.password = SECRET
  return url.toString()
}

const query = <A = any>(database: string, text: string) => queryAt<A>(urlFor(database), text)

const CONFIG = `import { defineConfig } from "dbkit"
export default defineConfig({
  environments: {
    staging: { urlEnv: "STAGING_URL", lockTimeout: "3 seconds" },
    production: { urlEnv: "PROD_URL" }
  }
})
`

/** A project folder: dbkit.config.ts and a migrations folder. */
const project = (migrations: Record<string, string>) =>
  writeFolder({
    "dbkit.config.ts": CONFIG,
    ...Object.fromEntries(Object.entries(migrations).map(([k, v]) => [`migrations/${k}`, v]))
  }, tempDir("dbkit-deploy-"))

const deploy = (dir: string, database: string, args: ReadonlyArray<string>, env: Record<string, string> = {}) =>
  runCli(["deploy", ...args], { STAGING_URL: secretUrl(database), ...env }, { cwd: dir })

const applied = (database: string) =>
  query<{ name: string }>(database, "SELECT name FROM dbkit.migrations WHERE status = 'applied' ORDER BY id").then((
    rows
  ) => rows.map((r) => r.name))

const deployments = (database: string) =>
  query<{ id: string; result: string; recovery: string | null; migrations_applied: Array<string>; row: string }>(
    database,
    "SELECT id, result, recovery, migrations_applied, row_to_json(d)::text AS row FROM dbkit.deployments d ORDER BY id"
  )

const exists = (database: string, relation: string) =>
  query<{ r: string | null }>(database, `SELECT to_regclass('${relation}')::text AS r`).then((rows) =>
    rows[0]?.r !== null
  )

const expectNoSecret = (outputs: ReadonlyArray<CliResult>, rows: ReadonlyArray<{ row: string }>) => {
  for (const o of outputs) {
    expect(o.stdout).not.toContain(SECRET)
    expect(o.stderr).not.toContain(SECRET)
  }
  for (const r of rows) expect(r.row).not.toContain(SECRET)
}

const BASE = {
  "0001_base.sql":
    "CREATE TABLE customers (id int PRIMARY KEY, name text NOT NULL);\nINSERT INTO customers VALUES (1, 'Ada'), (2, 'Grace');",
  "0001_base.down.sql": "DROP TABLE customers;"
}

describe.skipIf(!server)("dbkit deploy on the server", () => {
  it.effect("the 2nd of 3 new migrations fails: the 1st is rolled back with its down file, the report and the row say so, and a re-run after the fix completes", () =>
    Effect.promise(async () => {
      const db = await createScratchDatabase("dbkit_deploy")
      try {
        const dir = project(BASE)
        const first = await deploy(dir, db.name, ["--env", "staging", "--yes"])
        expect(first.code, first.stderr).toBe(0)
        expect(first.stdout).toContain("deployed to staging (#1): applied 0001_base")

        writeFolder({
          "0002_orders.sql": "CREATE TABLE orders (id int PRIMARY KEY, customer int REFERENCES customers);",
          "0002_orders.down.sql": "DROP TABLE orders;",
          "0003_broken.sql": "CREATE TABLE invoices (id int);\nSELECT 1/0;",
          "0004_later.sql": "CREATE TABLE later (id int);"
        }, path.join(dir, "migrations"))
        const failed = await deploy(dir, db.name, ["--env", "staging", "--yes"])
        expect(failed.code).toBe(17)
        expect(failed.stdout).toMatch(/✗ migrate .*0003_broken.*division by zero/)
        expect(failed.stdout).toContain("rolled back 0002_orders with their down migrations")
        expect(failed.stderr).toContain("recovered by rolling back with the down migrations")
        // The database is as before the deploy: what the report says.
        expect(await applied(db.name)).toEqual(["0001_base"])
        expect(await exists(db.name, "orders")).toBe(false)
        expect(await exists(db.name, "invoices")).toBe(false)
        const rows = await deployments(db.name)
        expect(rows.map((r) => [r.result, r.recovery])).toEqual([["succeeded", null], ["failed", "rollback"]])
        expect(rows[1]!.migrations_applied).toEqual(["0002_orders"])

        writeFolder({ "0003_broken.sql": "CREATE TABLE invoices (id int);" }, path.join(dir, "migrations"))
        const rerun = await deploy(dir, db.name, ["--env", "staging", "--yes", "--json"])
        expect(rerun.code, rerun.stderr).toBe(0)
        const report = JSON.parse(rerun.stdout)
        expect(report).toMatchObject({
          result: "succeeded",
          applied: ["0002_orders", "0003_broken", "0004_later"],
          headBefore: "0001_base",
          headAfter: "0004_later"
        })
        expect(report.steps.map((s: { name: string }) => s.name)).toEqual([
          "connect",
          "history",
          "lint",
          "drift",
          "backup",
          "point",
          "migrate",
          "health",
          "retention"
        ])
        // No pgBackRest stanza configured: no restore point, and the report says why.
        expect(report.restorePoint).toBeNull()
        expect(report.steps.find((s: { name: string }) => s.name === "point")).toMatchObject({
          status: "skipped",
          detail:
            "no restore point: no pgBackRest stanza configured (DBKIT_PGBACKREST_STANZA, or pitr.stanza in the config file)"
        })
        expect(await applied(db.name)).toEqual(["0001_base", "0002_orders", "0003_broken", "0004_later"])

        const history = await runCli(["deploy", "history", "--env", "staging", "--json"], {
          STAGING_URL: secretUrl(db.name)
        }, { cwd: dir })
        expect(history.code).toBe(0)
        expect(JSON.parse(history.stdout).map((r: { result: string }) => r.result)).toEqual([
          "succeeded",
          "failed",
          "succeeded"
        ])
        // No secret in any output, the report, or the table.
        expectNoSecret([first, failed, rerun, history], await deployments(db.name))
      } finally {
        await dropScratchDatabase(db.name)
      }
    }))

  it.effect("without a down file the safety backup is restored: rows written before the deploy are back, the migration is gone, and the fixed re-run completes", () =>
    Effect.promise(async () => {
      const db = await createScratchDatabase("dbkit_deploy")
      try {
        const dir = project(BASE)
        expect((await deploy(dir, db.name, ["--env", "staging", "--yes"])).code).toBe(0)
        await query(db.name, "INSERT INTO customers VALUES (3, 'Edsger')") // the application's data since

        writeFolder({
          "0002_rename.sql": "ALTER TABLE customers ADD COLUMN email text;\nUPDATE customers SET name = upper(name);",
          "0003_broken.sql": "SELECT * FROM no_such_table;"
        }, path.join(dir, "migrations"))
        const failed = await deploy(dir, db.name, ["--env", "staging", "--yes", "--json"])
        expect(failed.code).toBe(17)
        const report = JSON.parse(failed.stdout)
        expect(report).toMatchObject({
          result: "failed",
          recovery: "restore",
          applied: ["0002_rename"],
          headAfter: "0001_base"
        })
        expect(report.steps.find((s: { name: string }) => s.name === "recovery").detail).toContain(
          "no down migration for 0002_rename"
        )
        expect(fs.existsSync(report.backup)).toBe(true)
        // The state the report describes: the pre-deploy schema and data.
        expect(await applied(db.name)).toEqual(["0001_base"])
        expect(await query(db.name, "SELECT id, name FROM customers ORDER BY id")).toEqual([
          { id: 1, name: "Ada" },
          { id: 2, name: "Grace" },
          { id: 3, name: "Edsger" }
        ])
        expect(
          await query(
            db.name,
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'customers' AND column_name = 'email'"
          )
        ).toEqual([])
        const rows = await deployments(db.name)
        expect(rows.at(-1)).toMatchObject({
          result: "failed",
          recovery: "restore",
          migrations_applied: ["0002_rename"]
        })

        fs.rmSync(path.join(dir, "migrations", "0003_broken.sql"))
        const rerun = await deploy(dir, db.name, ["--env", "staging", "--yes"])
        expect(rerun.code, rerun.stderr).toBe(0)
        expect(await applied(db.name)).toEqual(["0001_base", "0002_rename"])
        expectNoSecret([failed, rerun], await deployments(db.name))
      } finally {
        await dropScratchDatabase(db.name)
      }
    }))

  it.effect("a health check that turns critical after migrating (the migration leaves a sequence near exhaustion) rolls the release back", () =>
    Effect.promise(async () => {
      const db = await createScratchDatabase("dbkit_deploy")
      try {
        const dir = project({
          ...BASE,
          "0002_ticket_numbers.sql":
            "CREATE SEQUENCE ticket_numbers MAXVALUE 100;\nSELECT setval('ticket_numbers', 99);",
          "0002_ticket_numbers.down.sql": "DROP SEQUENCE ticket_numbers;"
        })
        const failed = await deploy(dir, db.name, ["--env", "staging", "--yes"])
        expect(failed.code).toBe(17)
        expect(failed.stdout).toMatch(/✓ migrate .*applied 2/)
        expect(failed.stdout).toMatch(/✗ health .*sequences critical/)
        expect(failed.stdout).toContain("rolled back 0002_ticket_numbers, 0001_base")
        expect(await applied(db.name)).toEqual([])
        expect(await exists(db.name, "ticket_numbers")).toBe(false)
        expect(await exists(db.name, "customers")).toBe(false)

        writeFolder(
          { "0002_ticket_numbers.sql": "CREATE SEQUENCE ticket_numbers AS bigint;" },
          path.join(dir, "migrations")
        )
        const rerun = await deploy(dir, db.name, ["--env", "staging", "--yes"])
        expect(rerun.code, rerun.stderr).toBe(0)
        expect(await applied(db.name)).toEqual(["0001_base", "0002_ticket_numbers"])
      } finally {
        await dropScratchDatabase(db.name)
      }
    }))

  it.effect("a deploy killed (SIGKILL) during a slow migration leaves its row 'running'; the next deploy reports it abandoned and completes", () =>
    Effect.promise(async () => {
      const db = await createScratchDatabase("dbkit_deploy")
      try {
        const dir = project({ ...BASE, "0002_slow.sql": "CREATE TABLE slow (id int);\nSELECT pg_sleep(60);" })
        const base = { ...process.env }
        delete base.DATABASE_URL
        delete base.DB_ENV
        const child = spawn(process.execPath, [
          ...nodeFlags,
          path.resolve(import.meta.dirname, "../bin/dbkit.mjs"),
          "deploy",
          "--env",
          "staging",
          "--yes"
        ], {
          cwd: dir,
          env: { ...base, CI: "true", STAGING_URL: secretUrl(db.name) },
          stdio: "ignore"
        })
        const closed = new Promise((resolve) => child.once("close", resolve))
        const deadline = Date.now() + 30_000
        for (;;) {
          const sleeping = await query(
            db.name,
            "SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND query LIKE '%pg_sleep(60)%' AND state = 'active' AND pid <> pg_backend_pid()"
          )
          if (sleeping.length > 0) break
          if (Date.now() > deadline) throw new Error("the deploy never reached the slow migration")
          await new Promise((r) => setTimeout(r, 100))
        }
        child.kill("SIGKILL")
        await closed
        const left = await deployments(db.name)
        expect(left.map((r) => r.result)).toEqual(["running"])
        expect(JSON.parse(left[0]!.row).steps.map((s: { name: string }) => s.name)).toEqual([
          "connect",
          "history",
          "lint",
          "drift",
          "backup",
          "point"
        ])

        writeFolder({ "0002_slow.sql": "CREATE TABLE slow (id int);" }, path.join(dir, "migrations"))
        const rerun = await deploy(dir, db.name, ["--env", "staging", "--yes"])
        expect(rerun.code, rerun.stderr).toBe(0)
        expect(rerun.stdout).toMatch(/note: deploy #1 .* never finished .* marked abandoned/)
        expect((await deployments(db.name)).map((r) => r.result)).toEqual(["abandoned", "succeeded"])
        expect(await applied(db.name)).toEqual(["0001_base", "0002_slow"])
      } finally {
        await dropScratchDatabase(db.name)
      }
    }))

  it.effect("production: refused without DB_DEPLOY_ALLOW_PRODUCTION, --dry-run changes and records nothing, and strict lint stops a risky release before the backup", () =>
    Effect.promise(async () => {
      const db = await createScratchDatabase("dbkit_deploy")
      try {
        const dir = project(BASE)
        const env = { PROD_URL: secretUrl(db.name) }
        const allowed = { ...env, DB_DEPLOY_CONFIRM: "1", DB_DEPLOY_ALLOW_PRODUCTION: "1" }
        const refused = await runCli(["deploy", "--env", "production", "--yes"], env, { cwd: dir })
        expect(refused.code).toBe(4)
        expect(refused.stderr).toContain("DB_DEPLOY_ALLOW_PRODUCTION=1")
        expect(await exists(db.name, "dbkit.deployments")).toBe(false)

        const dry = await runCli(["deploy", "--env", "production", "--dry-run"], env, { cwd: dir })
        expect(dry.code, dry.stderr).toBe(0)
        expect(dry.stdout).toContain("dry run: preflight passed; 1 migration(s) would be applied")
        expect(await exists(db.name, "dbkit.deployments")).toBe(false)
        expect(await exists(db.name, "customers")).toBe(false)

        const done = await runCli(["deploy", "--env", "production"], allowed, { cwd: dir })
        expect(done.code, done.stderr).toBe(0)
        const backups = fs.readdirSync(path.join(dir, "backups", "production")).length

        writeFolder({ "0002_drop.sql": "ALTER TABLE customers DROP COLUMN name;" }, path.join(dir, "migrations"))
        const risky = await runCli(["deploy", "--env", "production", "--dry-run"], env, { cwd: dir })
        expect(risky.code).toBe(17) // lint is strict in production: DROP COLUMN
        expect(risky.stdout).toMatch(/✗ lint .*0002_drop/)
        const blocked = await runCli(["deploy", "--env", "production", "--yes"], allowed, { cwd: dir })
        expect(blocked.code).toBe(17)
        expect(blocked.stderr).toContain("failed at lint")
        expect(blocked.stderr).toContain("nothing was changed")
        expect(fs.readdirSync(path.join(dir, "backups", "production")).length).toBe(backups) // no backup taken
        expect(await query(db.name, "SELECT name FROM customers ORDER BY id")).toEqual([{ name: "Ada" }, {
          name: "Grace"
        }])
        expect((await deployments(db.name)).map((r) => [r.result, r.recovery])).toEqual([["succeeded", null], [
          "failed",
          "not needed"
        ]])
        expectNoSecret([refused, dry, done, risky, blocked], await deployments(db.name))
      } finally {
        await dropScratchDatabase(db.name)
      }
    }))
})
