// `dbkit db …` as a user runs it: processes against a scratch database with the reference
// schema, their exit codes, stdout (tables or --json) and stderr.
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import pg from "pg"
import { afterAll, beforeAll } from "vitest"
import { ExitCode, exitCodeOfTag } from "../src/cli/exitCodes.js"
import { runCli } from "./support/cli.js"
import { createScratchDatabase, dropScratchDatabase, serverAvailable } from "./support/databases.js"

const server = await serverAvailable()

/** The exit code main.ts gives an error tag (the table in exitCodes.ts). */
const exitFor = (tag: string) => exitCodeOfTag(tag)

describe.skipIf(!server)("dbkit db on the server", () => {
  let database: { name: string; url: string }
  let env: Record<string, string>
  let client: pg.Client
  /** Runs statements on a session of its own, flushing its statistics after each. */
  const run = async (...statements: ReadonlyArray<string>) => {
    for (const statement of statements) {
      await client.query(statement)
      await client.query("SELECT pg_stat_force_next_flush()")
    }
  }
  /**
   * Runs `f`'s statements in one transaction the audit triggers skip (as the seeder's do), so the
   * audit log holds only the entries a test writes by hand.
   */
  const unaudited = async <A>(f: () => Promise<A>): Promise<A> => {
    await client.query("BEGIN")
    try {
      await client.query("SELECT set_config('dbkit.audit', 'off', true)")
      const result = await f()
      await client.query("COMMIT")
      return result
    } catch (error) {
      await client.query("ROLLBACK")
      throw error
    }
  }
  const cli = (args: ReadonlyArray<string>, extra: Record<string, string> = {}) =>
    Effect.promise(() => runCli(["db", ...args], { ...env, ...extra }))

  beforeAll(async () => {
    database = await createScratchDatabase("dbkit_cli_db")
    env = { DATABASE_URL: database.url }
    const migrated = await runCli(["migrate"], env)
    if (migrated.code !== 0) throw new Error(migrated.stderr)
    client = new pg.Client({ connectionString: database.url })
    await client.connect()
  })
  afterAll(async () => {
    await client?.end().catch(() => undefined)
    await dropScratchDatabase(database.name)
  })

  it.effect("stats prints the tables and how to enable pg_stat_statements; --json has the same report", () =>
    Effect.gen(function*() {
      const human = yield* cli(["stats", "--limit", "3"])
      expect(human.code).toBe(0)
      expect(human.stdout).toMatch(
        /^top statements: pg_stat_statements is not installed: add pg_stat_statements to shared_preload_libraries/
      )
      expect(human.stdout).toMatch(/\ntables \(largest 3; counts since/)
      expect(human.stdout).toMatch(/\nindex\s+table\s+scans\s+size\s+unique\n/)
      expect(human.stdout).toContain("\nrecommendations\n  none")
      expect(human.stderr).toBe("")
      const machine = yield* cli(["stats", "--json"])
      expect(machine.code).toBe(0)
      const report = JSON.parse(machine.stdout)
      expect(report.topQueries).toMatchObject({ status: "not installed", queries: [] })
      expect(report.tables.map((t: { table: string }) => t.table)).toContain("public.invoices")
    }))

  it.effect("maintain: --plan lists what and why, --run fixes it (table or --json), then there is nothing to do; --plan --run is refused", () =>
    Effect.gen(function*() {
      yield* Effect.promise(() =>
        run(
          "CREATE TABLE stale (id int PRIMARY KEY) WITH (autovacuum_enabled = false)",
          "INSERT INTO stale SELECT generate_series(1, 1500)"
        )
      )
      const plan = yield* cli(["maintain"])
      expect(plan.code).toBe(0)
      expect(plan.stdout).toBe(
        "ANALYZE public.stale: never analyzed, 1,500 rows changed\n\n1 task; run them with dbkit db maintain --run\n"
      )
      const both = yield* cli(["maintain", "--plan", "--run"])
      expect(both.code).toBe(exitFor("InvalidMaintenanceOptions"))
      expect(both.stderr).toContain("error: choose one of --plan and --run")
      const ran = yield* cli(["maintain", "--run"])
      expect(ran.code).toBe(0)
      expect(ran.stdout).toMatch(/^ {2}✓ ANALYZE public\.stale {2}\d+ ms\n1 done, 0 failed\n$/)
      expect(ran.stderr).toContain("dbkit db maintain --run · development")
      const after = yield* cli(["maintain", "--plan", "--json"])
      expect(after.code).toBe(0)
      expect(JSON.parse(after.stdout)).toEqual({ tasks: [] })
      const again = yield* cli(["maintain", "--run", "--json"])
      expect(JSON.parse(again.stdout)).toEqual({ tasks: [], done: 0, failed: 0 })
    }))

  it.effect("validate: a cross-tenant user role exits with the integrity code and its key; the other tenant is clean; an unknown tenant is a usage error", () =>
    Effect.gen(function*() {
      // North's user given south's role: user_roles.role_id is the reference schema's one key between
      // tenant tables that is not composite (a role may be global); the others refuse such rows (0005).
      const key = yield* Effect.promise(() =>
        unaudited(async () => {
          const a =
            (await client.query("INSERT INTO organizations (slug, name) VALUES ('north', 'N') RETURNING id")).rows[0].id
          const b =
            (await client.query("INSERT INTO organizations (slug, name) VALUES ('south', 'S') RETURNING id")).rows[0].id
          const user = (await client.query(
            "INSERT INTO users (tenant_id, email, name) VALUES ($1, 'n@north.test', 'N') RETURNING id",
            [
              a
            ]
          )).rows[0].id as string
          const role =
            (await client.query("INSERT INTO roles (tenant_id, name) VALUES ($1, 'clerk') RETURNING id", [b])).rows[0]
              .id as string
          await client.query("INSERT INTO user_roles (tenant_id, user_id, role_id) VALUES ($1, $2, $3)", [
            a,
            user,
            role
          ])
          return { user, role, sample: `(${user}, ${role})` }
        })
      )
      const found = yield* cli(["validate"])
      expect(found.code).toBe(exitFor("IntegrityViolations"))
      expect(found.code).not.toBe(0)
      expect(found.stdout).toMatch(
        new RegExp(
          `cross-tenant-reference\\s+public\\.user_roles\\s+user_roles_role_id_roles_id_fk\\s+1\\s+\\(${key.user}, ${key.role}\\)`
        )
      )
      expect(found.stdout).toContain("1 finding")
      expect(found.stderr).toContain("error: 1 integrity finding (1 row involved)")
      const machine = yield* cli(["validate", "--json"])
      expect(machine.code).toBe(found.code)
      expect(JSON.parse(machine.stdout).findings).toEqual([
        expect.objectContaining({ kind: "cross-tenant-reference", count: 1, sample: [key.sample] })
      ])
      const south = yield* cli(["validate", "--tenant", "south"])
      expect(south.code).toBe(0)
      expect(south.stdout).toContain("for tenant south: no findings")
      const nobody = yield* cli(["validate", "--tenant", "west"])
      expect(nobody.code).toBe(ExitCode.usage)
      expect(nobody.stderr).toContain(`no tenant "west"`)
      yield* Effect.promise(() => unaudited(() => run(`DELETE FROM user_roles WHERE role_id = '${key.role}'`)))
    }))

  it.effect("cleanup: --plan counts old audit entries; --run is refused in production until both variables are set, then deletes them", () =>
    Effect.gen(function*() {
      yield* Effect.promise(() =>
        run(`INSERT INTO audit_log (tenant_id, actor, action, table_name, row_key, at)
             SELECT (SELECT id FROM organizations WHERE slug = 'north'), 'system', 'update', 'invoices', g::text,
                    now() - make_interval(days => 300 + g * 30)
               FROM generate_series(1, 6) g`) // 330 … 480 days old: 4 past a year
      )
      const plan = yield* cli(["cleanup", "--plan"])
      expect(plan.code).toBe(0)
      expect(plan.stdout).toMatch(/audit log\s+public\.audit_log\s+\d{4}-\d\d-\d\dT[\d:.]+Z\s+4\n/)
      expect(plan.stdout).toContain("4 rows past their retention; delete them with dbkit db cleanup --run")
      const production = { DB_ENV: "production" }
      const refused = yield* cli(["cleanup", "--run", "--yes"], production)
      expect(refused.code).toBe(ExitCode.refused)
      expect(refused.stderr).toContain("DB_CLEANUP_ALLOW_PRODUCTION=1")
      const unconfirmed = yield* cli(["cleanup", "--run"], { ...production, DB_CLEANUP_ALLOW_PRODUCTION: "1" })
      expect(unconfirmed.code).toBe(ExitCode.refused)
      expect(unconfirmed.stderr).toContain("DB_CLEANUP_CONFIRM=1")
      const ran = yield* cli(["cleanup", "--run", "--json"], {
        ...production,
        DB_CLEANUP_ALLOW_PRODUCTION: "1",
        DB_CLEANUP_CONFIRM: "1"
      })
      expect(ran.code).toBe(0)
      expect(JSON.parse(ran.stdout)).toMatchObject({
        deleted: 4,
        failed: 0,
        rules: [{ rule: "audit log", status: "done", deleted: 4, batches: 1 }]
      })
      expect((yield* Effect.promise(() => client.query("SELECT count(*)::int AS n FROM audit_log"))).rows[0].n).toBe(2)
    }))

  it.effect("load-test: a small run reports its figures as JSON and leaves nothing behind; production needs both variables", () =>
    Effect.gen(function*() {
      const result = yield* cli(["load-test", "--queries", "30", "--concurrency", "3", "--type", "write", "--json"])
      expect(result.code).toBe(0)
      const report = JSON.parse(result.stdout)
      expect(report).toMatchObject({
        type: "write",
        concurrency: 3,
        requested: 30,
        completed: 30,
        errors: 0,
        stoppedBy: "count"
      })
      expect(report.latencyMs.p50).toBeLessThanOrEqual(report.latencyMs.max)
      const left = yield* Effect.promise(() =>
        client.query("SELECT count(*)::int AS n FROM customers WHERE name LIKE 'Load test%'")
      )
      expect(left.rows[0].n).toBe(0)
      const human = yield* cli(["load-test", "--queries", "12", "--concurrency", "2"])
      expect(human.code).toBe(0)
      expect(human.stdout).toMatch(
        /^12 read queries at concurrency 2 in \d+ ms\nthroughput {2}[\d.]+ queries\/s\nlatency {5}p50 [\d.]+ ms {2}p90/
      )
      const refused = yield* cli(["load-test", "--queries", "1"], { DB_ENV: "production", DB_LOAD_TEST_CONFIRM: "1" })
      expect(refused.code).toBe(ExitCode.refused)
      expect(refused.stderr).toContain("DB_LOAD_TEST_ALLOW_PRODUCTION=1")
    }))
})

describe("dbkit db help", () => {
  it.effect("lists the five commands and the maintain options", () =>
    Effect.gen(function*() {
      const help = yield* Effect.promise(() => runCli(["db", "maintain", "--help"]))
      expect(help.code).toBe(0)
      expect(help.stdout).toContain("--plan")
      expect(help.stdout).toContain("DB_MAINTAIN_ALLOW_PRODUCTION=1")
      const top = yield* Effect.promise(() => runCli(["db", "--help"]))
      for (const command of ["stats", "maintain", "validate", "cleanup", "load-test"]) {
        expect(top.stdout).toContain(command)
      }
    }))
})
