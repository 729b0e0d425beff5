import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import pg from "pg"
import { afterAll, beforeAll } from "vitest"
import { PgliteLive } from "../src/Database.js"
import { lockKey } from "../src/migrator/history.js"
import { nodeFlags, runCli } from "./support/cli.js"
import {
  admin,
  adminUrl,
  createScratchDatabase,
  dropScratchDatabase,
  pgliteTemplate,
  serverAvailable,
  tempDir
} from "./support/databases.js"
import { writeFolder } from "./support/migrations.js"

const server = await serverAvailable()

describe("dbkit --help", () => {
  it.effect("lists the commands, and each command has its own help", () =>
    Effect.gen(function*() {
      const root = yield* Effect.promise(() => runCli(["--help"]))
      expect(root.code).toBe(0)
      expect(root.stdout).toContain("migrate")
      const migrate = yield* Effect.promise(() => runCli(["migrate", "--help"]))
      expect(migrate.code).toBe(0)
      expect(migrate.stdout).toContain("--dry-run")
      expect(migrate.stdout).toContain("Stop after this migration")
      const status = yield* Effect.promise(() => runCli(["migrate", "status", "--help"]))
      expect(status.code).toBe(0)
      expect(status.stdout).toContain("--json")
    }))

  it.effect("an unknown flag is a usage error (exit 2)", () =>
    Effect.gen(function*() {
      const result = yield* Effect.promise(() => runCli(["migrate", "--frobnicate"]))
      expect(result.code).toBe(2)
    }))
})

describe("dbkit migrate on the embedded database", () => {
  it.effect("creates the data directory and applies the reference migrations; running it again is a no-op", () =>
    Effect.gen(function*() {
      const dataDir = path.join(tempDir(), "pglite")
      const first = yield* Effect.promise(() => runCli(["migrate"], { DBKIT_DATA_DIR: dataDir }))
      expect(first.code).toBe(0)
      expect(first.stderr).toContain(`dbkit migrate · development · embedded ${dataDir}`)
      expect(first.stdout).toContain("✓ 0001_reference_schema")
      expect(first.stdout).toContain("✓ 0007_tenant_transaction_stamp")
      expect(first.stdout).toContain("8 applied")
      expect(fs.existsSync(path.join(dataDir, "PG_VERSION"))).toBe(true)
      const second = yield* Effect.promise(() => runCli(["migrate"], { DBKIT_DATA_DIR: dataDir }))
      expect(second.code).toBe(0)
      expect(second.stdout).toContain("up to date: 8 migrations applied, nothing pending")
      const status = yield* Effect.promise(() => runCli(["migrate", "status", "--json"], { DBKIT_DATA_DIR: dataDir }))
      expect(status.code).toBe(0)
      expect(JSON.parse(status.stdout)).toMatchObject({ upToDate: true, pending: [] })
    }))

  it.scoped("a second process on the same data directory gets a clear 'in use' error (exit 3) and changes nothing", () =>
    Effect.gen(function*() {
      const dataDir = path.join(tempDir(), "pglite")
      yield* Layer.build(PgliteLive({ dataDir, loadDataDir: pgliteTemplate() })) // this test process holds it open (made from the template)
      const result = yield* Effect.promise(() => runCli(["migrate"], { DBKIT_DATA_DIR: dataDir }))
      expect(result.code).toBe(3)
      expect(result.stderr).toContain(`in use by process ${process.pid}`)
      expect(fs.existsSync(path.join(dataDir, "PG_VERSION"))).toBe(true) // still ours, intact
    }))
})

describe("dbkit maps bad input to a one-line error and a documented exit code, without secrets", () => {
  const cases: ReadonlyArray<[string, Record<string, string>, ReadonlyArray<string>, number, string]> = [
    ["malformed DATABASE_URL", { DATABASE_URL: "postgres//root:s3cr3t@nowhere" }, ["migrate"], 2, "DATABASE_URL"],
    ["non-postgres DATABASE_URL", { DATABASE_URL: "mysql://root:s3cr3t@127.0.0.1/x" }, ["migrate"], 2, "DATABASE_URL"],
    ["unknown environment", { DB_ENV: "prod" }, ["migrate"], 2, "DB_ENV: unknown environment"],
    [
      "unreachable server",
      { DATABASE_URL: "postgres://root:s3cr3t@127.0.0.1:1/shop" },
      ["migrate"],
      3,
      "cannot connect to root@127.0.0.1:1/shop"
    ],
    [
      "missing migrations folder",
      { DBKIT_MIGRATIONS_DIR: "/nonexistent/dir" },
      ["migrate", "status"],
      2,
      "is not a directory"
    ]
  ]
  for (const [name, env, args, code, text] of cases) {
    it.effect(name, () =>
      Effect.gen(function*() {
        const dataDir = path.join(tempDir(), "pglite")
        const result = yield* Effect.promise(() => runCli(args, { DBKIT_DATA_DIR: dataDir, ...env }))
        expect(result.code).toBe(code)
        expect(result.stderr).toContain(text)
        expect(result.stderr.trim().split("\n").filter((l) => l.startsWith("error:"))).toHaveLength(1)
        expect(result.stdout + result.stderr).not.toContain("s3cr3t")
        expect(result.stderr).not.toMatch(/\n\s+at /) // no stack trace for expected failures
      }))
  }
})

describe.skipIf(!server)("dbkit migrate on the server", () => {
  let database: { name: string; url: string }
  beforeAll(async () => {
    database = await createScratchDatabase("dbkit_cli")
  })
  afterAll(async () => {
    await dropScratchDatabase(database.name)
  })

  const withDb = (env: Record<string, string> = {}) => ({ DATABASE_URL: database.url, ...env })

  it.effect("applies the reference migrations; status --json reports up to date", () =>
    Effect.gen(function*() {
      const first = yield* Effect.promise(() => runCli(["migrate"], withDb()))
      expect(first.code).toBe(0)
      expect(first.stderr).toContain(`127.0.0.1:5432/${database.name}`)
      const status = yield* Effect.promise(() => runCli(["migrate", "status", "--json"], withDb()))
      expect(JSON.parse(status.stdout)).toMatchObject({ upToDate: true })
    }))

  it.effect("a failing migration exits 5 naming the file and statement; a changed applied file then exits 7", () =>
    Effect.gen(function*() {
      const dir = writeFolder({
        "001_ok.sql": "CREATE TABLE cli_ok (x int);",
        "002_bad.sql": "CREATE TABLE cli_bad (x int);\nSELECT nope FROM cli_bad;"
      })
      const env = withDb({ DBKIT_MIGRATIONS_DIR: dir })
      const failed = yield* Effect.promise(() => runCli(["migrate"], env))
      expect(failed.code).toBe(5)
      expect(failed.stderr).toContain("migration 002_bad")
      expect(failed.stderr).toContain("statement 2 of 2")
      expect(failed.stderr).toContain("column \"nope\" does not exist")
      writeFolder({ "001_ok.sql": "CREATE TABLE cli_ok (x bigint);", "002_bad.sql": "SELECT 1;" }, dir)
      const drifted = yield* Effect.promise(() => runCli(["migrate"], env))
      expect(drifted.code).toBe(7)
      expect(drifted.stderr).toContain("changed since applied: 001_ok")
    }))

  it.effect("waiting too long for another deploy's lock exits 6 naming the holder, not a deploy of another database", () =>
    Effect.gen(function*() {
      const key = lockKey({ schema: "dbkit", table: "migrations" })
      // The same key held in another database first: advisory locks are per database, so it must not be named.
      const elsewhere = new pg.Client({ connectionString: adminUrl, application_name: "deploy-of-another-db" })
      const holder = new pg.Client({ connectionString: database.url, application_name: "other-deploy" })
      yield* Effect.promise(() => elsewhere.connect())
      yield* Effect.promise(() => elsewhere.query("SELECT pg_advisory_lock($1::bigint)", [key]))
      yield* Effect.promise(() => holder.connect())
      yield* Effect.promise(() => holder.query("SELECT pg_advisory_lock($1::bigint)", [key]))
      // A pending migration of its own, so this run takes the locked path whatever ran before.
      const dir = writeFolder({ "001_waits_for_the_lock.sql": "CREATE TABLE cli_lock_waiter (x int);" })
      const result = yield* Effect.promise(() =>
        runCli(["migrate"], withDb({ DB_MIGRATION_LOCK_WAIT: "1 second", DBKIT_MIGRATIONS_DIR: dir }))
      )
        .pipe(
          Effect.ensuring(Effect.promise(() => Promise.all([holder.end(), elsewhere.end()])))
        )
      expect(result.code).toBe(6)
      expect(result.stderr).toContain("(other-deploy")
      expect(result.stderr).not.toContain("deploy-of-another-db")
    }))

  it.effect("a database error says the server's reason (permission denied), not just that a statement failed", () =>
    Effect.gen(function*() {
      yield* Effect.promise(() =>
        admin(
          `DO $$ BEGIN CREATE ROLE dbkit_limited LOGIN; EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$`
        )
      )
      const limited = new URL(database.url)
      limited.username = "dbkit_limited"
      const result = yield* Effect.promise(() =>
        runCli(["migrate"], { DATABASE_URL: limited.toString(), DB_APPLICATION_NAME: "dbkit-limited" })
      )
      expect(result.code).toBe(1)
      expect(result.stderr).toContain("permission denied")
    }))

  it.effect("two processes migrating at once apply each migration exactly once", () =>
    Effect.gen(function*() {
      const race = yield* Effect.promise(() => createScratchDatabase("dbkit_race"))
      const dir = writeFolder({
        "001_t.sql": "CREATE TABLE raced (x int);\nSELECT pg_sleep(0.3);",
        "002_u.sql": "INSERT INTO raced VALUES (1);"
      })
      const env = { DATABASE_URL: race.url, DBKIT_MIGRATIONS_DIR: dir }
      const [a, b] = yield* Effect.promise(() =>
        Promise.all([runCli(["migrate", "--json"], env), runCli(["migrate", "--json"], env)])
      )
      const rows = yield* Effect.promise(async () => {
        const client = new pg.Client({ connectionString: race.url })
        await client.connect()
        try {
          return (await client.query(
            "SELECT (SELECT count(*)::int FROM raced) AS rows, (SELECT count(*)::int FROM dbkit.migrations) AS history"
          )).rows[0]
        } finally {
          await client.end()
          await dropScratchDatabase(race.name)
        }
      })
      expect([a.code, b.code]).toEqual([0, 0])
      const applied = [JSON.parse(a.stdout).applied.length, JSON.parse(b.stdout).applied.length].sort()
      expect(applied).toEqual([0, 2])
      expect(rows).toEqual({ rows: 1, history: 2 })
    }))

  it.live("a process killed in the middle of a migration leaves the database before it; the next run completes", () =>
    Effect.gen(function*() {
      const killed = yield* Effect.promise(() => createScratchDatabase("dbkit_kill"))
      const dir = writeFolder({
        "001_first.sql": "CREATE TABLE first (x int);",
        "002_slow.sql": "CREATE TABLE slow (x int);\nINSERT INTO slow VALUES (1);\nSELECT pg_sleep(3);"
      })
      const env = { ...process.env, CI: "true", DATABASE_URL: killed.url, DBKIT_MIGRATIONS_DIR: dir }
      const child = spawn(process.execPath, [
        ...nodeFlags,
        path.resolve(import.meta.dirname, "../bin/dbkit.mjs"),
        "migrate"
      ], {
        env,
        stdio: "pipe"
      })
      let out = ""
      child.stdout.on("data", (d) => (out += d))
      yield* Effect.promise(() =>
        new Promise<void>((resolve) => {
          const poll = setInterval(() => {
            if (out.includes("✓ 001_first")) {
              clearInterval(poll)
              setTimeout(resolve, 300) // now inside 002_slow
            }
          }, 20)
        })
      )
      child.kill("SIGKILL")
      const query = (text: string) =>
        Effect.promise(async () => {
          const client = new pg.Client({ connectionString: killed.url })
          await client.connect()
          try {
            return (await client.query(text)).rows
          } finally {
            await client.end()
          }
        })
      // Nothing of 002 is visible: not its table, not its history row.
      const history = yield* query("SELECT name FROM dbkit.migrations ORDER BY id")
      expect(history.map((r) => r.name)).toEqual(["001_first"])
      expect((yield* query("SELECT to_regclass('public.slow') IS NULL AS gone"))[0].gone).toBe(true)
      // The server notices the dead client (client_connection_check_interval) and rolls 002
      // back; the next run waits for the lock to go and applies it, exactly once.
      const rerun = yield* Effect.promise(() =>
        runCli(["migrate"], { DATABASE_URL: killed.url, DBKIT_MIGRATIONS_DIR: dir })
      )
      expect(rerun.code).toBe(0)
      expect(rerun.stdout).toContain("✓ 002_slow")
      expect((yield* query("SELECT count(*)::int AS n FROM slow"))[0].n).toBe(1)
      expect((yield* query("SELECT count(*)::int AS n FROM dbkit.migrations"))[0].n).toBe(2)
      yield* Effect.promise(() => dropScratchDatabase(killed.name))
    }))
})

describe.skipIf(!server)("dbkit migrate subcommands as CI gates and tools", () => {
  let database: { name: string; url: string }
  beforeAll(async () => {
    database = await createScratchDatabase("dbkit_cli_sub")
  })
  afterAll(async () => {
    await dropScratchDatabase(database.name)
  })

  it.effect("verify exits 8 while migrations are pending, 0 when up to date, 9 after a file changed", () =>
    Effect.gen(function*() {
      const dir = writeFolder({
        "001_a.sql": "CREATE TABLE gate_a (x int);",
        "002_b.sql": "CREATE TABLE gate_b (x int);"
      })
      const env = { DATABASE_URL: database.url, DBKIT_MIGRATIONS_DIR: dir }
      const pending = yield* Effect.promise(() => runCli(["migrate", "verify"], env))
      expect(pending.code).toBe(8)
      expect(pending.stderr).toContain("2 migrations are pending: 001_a, 002_b")
      const dry = yield* Effect.promise(() => runCli(["migrate", "--dry-run"], env))
      expect(dry.code).toBe(0)
      expect(dry.stdout).toContain("dry run: 2 migrations ran cleanly and were rolled back")
      expect((yield* Effect.promise(() => runCli(["migrate", "verify"], env))).code).toBe(8)
      expect((yield* Effect.promise(() => runCli(["migrate"], env))).code).toBe(0)
      const ok = yield* Effect.promise(() => runCli(["migrate", "verify", "--json"], env))
      expect(ok.code).toBe(0)
      expect(JSON.parse(ok.stdout)).toMatchObject({ verdict: "up to date", pending: [] })
      writeFolder({ "002_b.sql": "CREATE TABLE gate_b (x bigint);" }, dir)
      const drifted = yield* Effect.promise(() => runCli(["migrate", "verify"], env))
      expect(drifted.code).toBe(9)
      expect(drifted.stderr).toContain("002_b changed since applied")
      const repaired = yield* Effect.promise(() => runCli(["migrate", "repair"], env))
      expect(repaired.code).toBe(0)
      expect(repaired.stdout).toContain("checksum accepted: 002_b")
      expect((yield* Effect.promise(() => runCli(["migrate", "verify"], env))).code).toBe(0)
    }))

  it.effect("plan prints the pending SQL with warnings; --strict exits 10", () =>
    Effect.gen(function*() {
      const dir = writeFolder({ "001_t.sql": "CREATE TABLE plan_t (x int, y int);" })
      const env = { DATABASE_URL: database.url, DBKIT_MIGRATIONS_DIR: dir }
      expect((yield* Effect.promise(() => runCli(["migrate"], env))).code).toBe(0)
      writeFolder({ "002_drop.sql": "ALTER TABLE plan_t DROP COLUMN y;" }, dir)
      const plan = yield* Effect.promise(() => runCli(["migrate", "plan"], env))
      expect(plan.code).toBe(0)
      expect(plan.stdout).toContain("-- 002_drop")
      expect(plan.stdout).toContain("ALTER TABLE plan_t DROP COLUMN y;")
      expect(plan.stdout).toContain("warning: 002_drop statement 1 [drop-column]")
      const strict = yield* Effect.promise(() => runCli(["migrate", "plan", "--strict"], env))
      expect(strict.code).toBe(10)
      expect(strict.stdout).toContain("error: 002_drop statement 1 [drop-column]")
    }))

  it.effect("rollback is refused (exit 4) without confirmation and runs with DB_ROLLBACK_CONFIRM=1", () =>
    Effect.gen(function*() {
      const dir = writeFolder({ "001_r.sql": "CREATE TABLE roll_r (x int);", "001_r.down.sql": "DROP TABLE roll_r;" })
      const env = { DATABASE_URL: database.url, DBKIT_MIGRATIONS_DIR: dir }
      expect((yield* Effect.promise(() => runCli(["migrate"], env))).code).toBe(0)
      const refused = yield* Effect.promise(() => runCli(["migrate", "rollback"], env))
      expect(refused.code).toBe(4)
      expect(refused.stderr).toContain("DB_ROLLBACK_CONFIRM=1")
      const production = yield* Effect.promise(() =>
        runCli(["migrate", "rollback"], { ...env, DB_ENV: "production", DB_ROLLBACK_CONFIRM: "1" })
      )
      expect(production.code).toBe(4)
      expect(production.stderr).toContain("DB_ROLLBACK_ALLOW_PRODUCTION=1")
      const done = yield* Effect.promise(() => runCli(["migrate", "rollback"], { ...env, DB_ROLLBACK_CONFIRM: "1" }))
      expect(done.code).toBe(0)
      expect(done.stdout).toContain("↶ 001_r")
      const status = yield* Effect.promise(() => runCli(["migrate", "status", "--json"], env))
      expect(JSON.parse(status.stdout).pending).toEqual(["001_r"])
    }))

  it.effect("drift exits 9 and names a column added by hand", () =>
    Effect.gen(function*() {
      const drift = yield* Effect.promise(() => createScratchDatabase("dbkit_cli_drift"))
      const dir = writeFolder({ "001_d.sql": "CREATE TABLE drifted (x int);" })
      const env = { DATABASE_URL: drift.url, DBKIT_MIGRATIONS_DIR: dir }
      try {
        expect((yield* Effect.promise(() => runCli(["migrate"], env))).code).toBe(0)
        expect((yield* Effect.promise(() => runCli(["migrate", "drift"], env))).code).toBe(0)
        const client = new pg.Client({ connectionString: drift.url })
        yield* Effect.promise(async () => {
          await client.connect()
          await client.query("ALTER TABLE drifted ADD COLUMN sneaky text")
          await client.end()
        })
        const result = yield* Effect.promise(() => runCli(["migrate", "drift"], env))
        expect(result.code).toBe(9)
        expect(result.stdout).toContain("public.drifted.sneaky")
      } finally {
        yield* Effect.promise(() => dropScratchDatabase(drift.name))
      }
    }))
})

describe("dbkit migrate new", () => {
  it.effect("scaffolds the next numbered migration and its down file, without opening a database", () =>
    Effect.gen(function*() {
      const dir = writeFolder({ "0007_existing.sql": "SELECT 1;" })
      const result = yield* Effect.promise(() =>
        runCli(["migrate", "new", "Add invoice notes"], {
          DBKIT_MIGRATIONS_DIR: dir,
          DBKIT_DATA_DIR: "/nonexistent/never-opened"
        })
      )
      expect(result.code).toBe(0)
      expect(fs.readdirSync(dir).sort()).toEqual([
        "0007_existing.sql",
        "0008_add_invoice_notes.down.sql",
        "0008_add_invoice_notes.sql"
      ])
      const drizzleFolder = yield* Effect.promise(() =>
        runCli(["migrate", "new", "x"], { DBKIT_DATA_DIR: "/nonexistent/never-opened" })
      )
      expect(drizzleFolder.code).toBe(2)
      expect(drizzleFolder.stderr).toContain("drizzle-kit folder")
    }))
})
