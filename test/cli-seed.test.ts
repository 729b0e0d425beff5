// `dbkit seed` as a user runs it: on a migrated database, twice, with its exit codes.
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as path from "node:path"
import pg from "pg"
import { afterAll, beforeAll } from "vitest"
import { runCli } from "./support/cli.js"
import { createScratchDatabase, dropScratchDatabase, serverAvailable, tempDir } from "./support/databases.js"

const server = await serverAvailable()

const count = async (url: string, table: string) => {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    return (await client.query(`SELECT count(*)::int AS n FROM ${table}`)).rows[0].n as number
  } finally {
    await client.end()
  }
}

describe.skipIf(!server)("dbkit seed on the server", () => {
  let database: { name: string; url: string }
  beforeAll(async () => {
    database = await createScratchDatabase("dbkit_cli_seed")
    const migrated = await runCli(["migrate"], { DATABASE_URL: database.url })
    if (migrated.code !== 0) throw new Error(migrated.stderr)
  })
  afterAll(async () => {
    await dropScratchDatabase(database.name)
  })

  it.scoped("seeds reference and development data, lists it, validates it; a second run adds nothing, also when two run at once", () =>
    Effect.gen(function*() {
      const env = { DATABASE_URL: database.url }
      const dry = yield* Effect.promise(() => runCli(["seed", "--dry-run"], env))
      expect(dry.code).toBe(0)
      expect(dry.stdout).toContain("would run")
      expect(yield* Effect.promise(() => count(database.url, "invoices"))).toBe(0)
      const first = yield* Effect.promise(() => runCli(["seed", "--seed", "7"], env))
      expect(first.code).toBe(0)
      expect(first.stderr).toContain("dbkit seed · development")
      expect(first.stdout).toContain("✓ permissions (reference)")
      expect(first.stdout).toMatch(/✓ invoices \(development\)/)
      const invoices = yield* Effect.promise(() => count(database.url, "invoices"))
      expect(invoices).toBeGreaterThan(0)
      const second = yield* Effect.promise(() => runCli(["seed", "--seed", "7"], env))
      expect(second.code).toBe(0)
      expect(second.stdout).toContain("already ran")
      expect(yield* Effect.promise(() => count(database.url, "invoices"))).toBe(invoices)
      // Two processes seeding a fresh database at once (two deploys): one waits for the other's
      // advisory lock, then finds the run-once seeds done — nothing is seeded twice.
      const fresh = yield* Effect.acquireRelease(Effect.promise(() => createScratchDatabase("dbkit_cli_seed_race")), ({ name }) =>
        Effect.promise(() => dropScratchDatabase(name)))
      expect((yield* Effect.promise(() => runCli(["migrate"], { DATABASE_URL: fresh.url }))).code).toBe(0)
      const racing = yield* Effect.all([
        Effect.promise(() => runCli(["seed", "--seed", "7"], { DATABASE_URL: fresh.url })),
        Effect.promise(() => runCli(["seed", "--seed", "7"], { DATABASE_URL: fresh.url }))
      ], { concurrency: 2 })
      expect(racing.map((r) => r.code)).toEqual([0, 0])
      expect(racing.filter((r) => r.stdout.includes("already ran"))).toHaveLength(1)
      expect(yield* Effect.promise(() => count(fresh.url, "invoices"))).toBe(invoices)
      const list = yield* Effect.promise(() => runCli(["seed", "list", "--json"], env))
      expect(list.code).toBe(0)
      const listed = JSON.parse(list.stdout) as Array<{ name: string; lastRun: unknown }>
      expect(listed.find((s) => s.name === "invoices")?.lastRun).not.toBeNull()
      const validate = yield* Effect.promise(() => runCli(["seed", "validate"], env))
      expect(validate.code).toBe(0)
    }), 120_000)

  it.effect("generated data is refused in production (exit 4); clean is guarded (exit 4) and then removes it", () =>
    Effect.gen(function*() {
      const env = { DATABASE_URL: database.url }
      const production = yield* Effect.promise(() => runCli(["seed", "--profile", "development"], { ...env, DB_ENV: "production" }))
      expect(production.code).toBe(4)
      expect(production.stderr).toContain("refusing to run generated-data seeds in production")
      const refused = yield* Effect.promise(() => runCli(["seed", "clean"], env))
      expect(refused.code).toBe(4)
      expect(refused.stderr).toContain("DB_SEED_CLEAN_CONFIRM=1")
      const cleaned = yield* Effect.promise(() => runCli(["seed", "clean"], { ...env, DB_SEED_CLEAN_CONFIRM: "1" }))
      expect(cleaned.code).toBe(0)
      expect(yield* Effect.promise(() => count(database.url, "invoices"))).toBe(0)
      expect(yield* Effect.promise(() => count(database.url, "permissions"))).toBeGreaterThan(0)
    }), 120_000)

  it.effect("an unknown seed name is a usage error (exit 2)", () =>
    Effect.gen(function*() {
      const result = yield* Effect.promise(() => runCli(["seed", "--only", "nope"], { DATABASE_URL: database.url }))
      expect(result.code).toBe(2)
      expect(result.stderr).toContain("no seed named nope")
    }), 60_000)
})

describe("dbkit seed on the embedded database", () => {
  it.effect("migrates and seeds a fresh embedded database end to end", () =>
    Effect.gen(function*() {
      const dataDir = path.join(tempDir(), "pglite")
      const env = { DBKIT_DATA_DIR: dataDir }
      expect((yield* Effect.promise(() => runCli(["migrate"], env))).code).toBe(0)
      const seeded = yield* Effect.promise(() => runCli(["seed"], env))
      expect(seeded.code).toBe(0)
      expect(seeded.stdout).toMatch(/\d+ seeds ran, [\d,]+ rows generated/)
    }), 120_000)
})
