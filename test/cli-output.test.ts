// stdout carries only a command's result, and long work shows where it is: a warning printed by
// `migrate --json` lands on stderr once, in words ("warning: …"), and the JSON on stdout parses,
// with --verbose too; `migrate drift` and `tenant migrate-all` show a live line on a terminal
// (script(1) gives one) and only finished lines in a pipe.
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { spawnSync } from "node:child_process"
import * as path from "node:path"
import { afterAll, beforeAll } from "vitest"
import { nodeFlags, runCli } from "./support/cli.js"
import { createScratchDatabase, dropScratchDatabase, queryAt, serverAvailable } from "./support/databases.js"
import { writeFolder } from "./support/migrations.js"

const server = await serverAvailable()
const hasScript = spawnSync("script", ["--version"], { encoding: "utf8" }).status === 0
const bin = path.resolve(import.meta.dirname, "..", "bin", "dbkit.mjs")

/** `dbkit …args` under a real terminal (util-linux's script): what the terminal showed, and the exit code. */
const onTerminal = (args: ReadonlyArray<string>, env: Record<string, string>) => {
  const base = Object.fromEntries(
    Object.entries(process.env).filter(([name]) => !["DATABASE_URL", "DB_ENV", "NODE_ENV", "VITEST"].includes(name))
  )
  const line = [process.execPath, ...nodeFlags, bin, ...args].map((a) => `'${a}'`).join(" ")
  const run = spawnSync("script", ["-qec", line, "/dev/null"], {
    encoding: "utf8",
    env: { ...base, ...env, COLUMNS: "100" },
    timeout: 120_000
  })
  return { code: run.status, shown: run.stdout }
}

describe.skipIf(!server)("dbkit output: results on stdout, words on stderr, progress on a terminal", () => {
  let db: { name: string; url: string }
  let tenants: { name: string; url: string }
  const migrations = writeFolder({
    "0001_a.sql": "CREATE TABLE out_a (id int PRIMARY KEY);",
    "0002_b.sql": "CREATE TABLE out_b (id int PRIMARY KEY);",
    "0003_c.sql": "ALTER TABLE out_b ADD COLUMN note text;"
  })
  beforeAll(async () => {
    db = await createScratchDatabase("dbkit_cli_out")
    tenants = await createScratchDatabase("dbkit_cli_out_t")
  })
  afterAll(async () => {
    await dropScratchDatabase(db.name)
    await dropScratchDatabase(tenants.name)
  })

  it.effect("a warning from migrate --json is on stderr once, in words, and stdout parses as the result (also with --verbose)", () =>
    Effect.gen(function*() {
      const env = { DATABASE_URL: db.url, DBKIT_MIGRATIONS_DIR: migrations }
      expect((yield* Effect.promise(() => runCli(["migrate"], env))).code).toBe(0)
      // An applied migration whose file is gone from the folder: migrate warns and goes on.
      yield* Effect.promise(() =>
        queryAt(
          db.url,
          "INSERT INTO dbkit.migrations (name, checksum, status, applied_at, duration_ms, applied_by, db_user) " +
            "SELECT '0000_gone', checksum, status, applied_at, duration_ms, applied_by, db_user FROM dbkit.migrations WHERE name = '0001_a'"
        )
      )
      for (const extra of [[], ["--verbose"]]) {
        const run = yield* Effect.promise(() => runCli(["migrate", "--json", ...extra], env))
        expect(run.code).toBe(0)
        expect(JSON.parse(run.stdout)).toMatchObject({ applied: [], upToDate: 4, dryRun: false })
        const warnings = run.stderr.split("\n").filter((l) => l.includes("missing from the source"))
        expect(warnings).toEqual(["warning: applied migrations missing from the source: 0000_gone"])
        expect(run.stderr).not.toMatch(/level=|fiber=|timestamp=/)
      }
    }))

  it.effect("migrate drift says what it replays and when it compares (stderr, no redraws in a pipe); a terminal sees each migration", () =>
    Effect.gen(function*() {
      const env = { DATABASE_URL: db.url, DBKIT_MIGRATIONS_DIR: migrations }
      const piped = yield* Effect.promise(() => runCli(["migrate", "drift"], env, { timeoutMs: 120_000 }))
      expect(piped.code).toBe(0)
      expect(piped.stdout.trim().split("\n")).toEqual([expect.stringMatching(/: matches its migrations$/)])
      expect(piped.stderr).toMatch(
        /replaying 3 migrations into a scratch database…\nreplayed 3 migrations in [\d.]+ m?s; comparing catalogs…/
      )
      expect(piped.stderr).not.toContain("\r")
      const json = yield* Effect.promise(() => runCli(["migrate", "drift", "--json"], env, { timeoutMs: 120_000 }))
      expect(JSON.parse(json.stdout)).toMatchObject({ differences: [] })
      expect(json.stderr).not.toContain("replay")
      if (!hasScript && process.env.CI !== "true") return
      const terminal = onTerminal(["migrate", "drift"], env)
      expect(terminal.code, terminal.shown).toBe(0)
      expect(terminal.shown).toMatch(/… \[\d\/3\] 000\d_[abc]/)
      expect(terminal.shown).toContain("matches its migrations")
    }))

  it.effect("tenant migrate-all names the tenants it is migrating on a terminal; a pipe gets one finished line per tenant", () =>
    Effect.gen(function*() {
      const tenantMigrations = writeFolder({
        "0001_ledger.sql": "CREATE TABLE ledger (id serial PRIMARY KEY, memo text);"
      })
      const env = { DATABASE_URL: tenants.url, DBKIT_TENANCY: "schema", DBKIT_TENANT_MIGRATIONS_DIR: tenantMigrations }
      for (const slug of ["kilo", "lima", "mike"]) {
        expect((yield* Effect.promise(() => runCli(["tenant", "provision", slug], env))).code).toBe(0)
      }
      writeFolder({ "0002_memo.sql": "ALTER TABLE ledger ADD COLUMN posted_at timestamptz;" }, tenantMigrations)
      if (hasScript || process.env.CI === "true") {
        const terminal = onTerminal(["tenant", "migrate-all", "--concurrency", "2"], env)
        expect(terminal.code, terminal.shown).toBe(0)
        expect(terminal.shown).toMatch(/… 0\/3 done · migrating (kilo|lima|mike)/)
        expect(terminal.shown).toMatch(/\[3\/3\] (kilo|lima|mike) {2}(applied 1|up to date)/)
      }
      const piped = yield* Effect.promise(() => runCli(["tenant", "migrate-all"], env))
      expect(piped.code).toBe(0)
      expect(piped.stdout + piped.stderr).not.toMatch(/done · migrating|\r/)
      expect(piped.stdout.split("\n").filter((l) => /^\[\d\/3\]/.test(l))).toHaveLength(3)
    }))
})
