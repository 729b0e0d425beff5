// `dbkit seed` as a user runs it: on a migrated database, twice, with its exit codes.
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as fs from "node:fs"
import * as path from "node:path"
import pg from "pg"
import { afterAll, beforeAll } from "vitest"
import { runCli } from "./support/cli.js"
import {
  createScratchDatabase,
  dropScratchDatabase,
  embeddedDataDir,
  serverAvailable,
  tempDir
} from "./support/databases.js"

const server = await serverAvailable()

const scalar = async (url: string, query: string) => {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    return (await client.query(query)).rows[0].n as unknown
  } finally {
    await client.end()
  }
}

/** A scratch database of its own, migrated, dropped with the scope. */
const freshMigrated = () =>
  Effect.acquireRelease(
    Effect.promise(() => createScratchDatabase("dbkit_cli_seed_x")),
    ({ name }) => Effect.promise(() => dropScratchDatabase(name))
  ).pipe(
    Effect.tap((fresh) =>
      Effect.promise(async () => {
        const migrated = await runCli(["migrate"], { DATABASE_URL: fresh.url })
        if (migrated.code !== 0) throw new Error(migrated.stderr)
      })
    )
  )

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
      const fresh = yield* Effect.acquireRelease(
        Effect.promise(() => createScratchDatabase("dbkit_cli_seed_race")),
        ({ name }) => Effect.promise(() => dropScratchDatabase(name))
      )
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
    }))

  it.effect("generated data is refused in production (exit 4); clean is guarded (exit 4) and then removes it", () =>
    Effect.gen(function*() {
      const env = { DATABASE_URL: database.url }
      const production = yield* Effect.promise(() =>
        runCli(["seed", "--profile", "development"], { ...env, DB_ENV: "production" })
      )
      expect(production.code).toBe(4)
      expect(production.stderr).toContain("refusing to run generated-data seeds in production")
      const refused = yield* Effect.promise(() => runCli(["seed", "clean"], env))
      expect(refused.code).toBe(4)
      expect(refused.stderr).toContain("DB_SEED_CLEAN_CONFIRM=1")
      const cleaned = yield* Effect.promise(() => runCli(["seed", "clean"], { ...env, DB_SEED_CLEAN_CONFIRM: "1" }))
      expect(cleaned.code).toBe(0)
      expect(yield* Effect.promise(() => count(database.url, "invoices"))).toBe(0)
      expect(yield* Effect.promise(() => count(database.url, "permissions"))).toBeGreaterThan(0)
    }))

  it.scoped("--profile test and DB_ENV=test get the development data, as the README says the test profile does", () =>
    Effect.gen(function*() {
      for (
        const [label, args, extra] of [
          ["--profile test", ["seed", "--profile", "test"], {}],
          ["DB_ENV=test", ["seed"], { DB_ENV: "test" }]
        ] as const
      ) {
        const fresh = yield* freshMigrated()
        const seeded = yield* Effect.promise(() => runCli(args, { DATABASE_URL: fresh.url, ...extra }))
        expect(seeded.code, label).toBe(0)
        expect(seeded.stdout, label).toMatch(/✓ invoices \(development\)/)
        expect(seeded.stdout, label).toMatch(/7 seeds ran, [\d,]+ rows generated/)
        expect(yield* Effect.promise(() => count(fresh.url, "invoices")), label).toBe(250)
      }
    }))

  it.scoped("--scale 0, a negative or non-finite scale and a --seed beyond the safe integers are usage errors (exit 2) before anything runs", () =>
    Effect.gen(function*() {
      const fresh = yield* freshMigrated()
      for (
        const args of [["--scale", "0"], ["--scale", "-1"], ["--scale", "Infinity"], ["--scale", "NaN"], [
          "--seed",
          "9007199254740992"
        ]]
      ) {
        const refused = yield* Effect.promise(() => runCli(["seed", ...args], { DATABASE_URL: fresh.url }))
        expect(refused.code, args.join(" ")).toBe(2)
        expect(refused.stderr, args.join(" ")).toMatch(/--scale must be a number greater than 0|is not a integer/)
        expect(refused.stdout, args.join(" ")).not.toContain("ran")
      }
      expect(yield* Effect.promise(() => count(fresh.url, "permissions"))).toBe(0)
      expect(yield* Effect.promise(() => scalar(fresh.url, "SELECT to_regclass('dbkit.seeds') IS NULL AS n"))).toBe(
        true
      )
    }))

  it.scoped("a new --seed or --scale after a run says the run-once seeds already ran with which, in text and --json, and points to seed clean; seed list shows reference rows", () =>
    Effect.gen(function*() {
      const fresh = yield* freshMigrated()
      const env = { DATABASE_URL: fresh.url }
      expect((yield* Effect.promise(() => runCli(["seed", "--seed", "7"], env))).code).toBe(0)
      const invoices = yield* Effect.promise(() => count(fresh.url, "invoices"))
      const other = yield* Effect.promise(() => runCli(["seed", "--seed", "8", "--scale", "2"], env))
      expect(other.code).toBe(0)
      expect(other.stdout).toMatch(
        /· invoices \(development\) already ran \(seed 7, scale 1, \d{4}-\d\d-\d\dT[\d:]+Z\)/
      )
      expect(other.stderr).toContain("note: invoices already ran with seed 7, scale 1")
      expect(other.stderr).toContain(
        "seed 8, scale 2 changed nothing; `dbkit seed clean` forgets generated data, then seed again"
      )
      expect(yield* Effect.promise(() => count(fresh.url, "invoices"))).toBe(invoices)
      const json = yield* Effect.promise(() => runCli(["seed", "--seed", "8", "--json"], env))
      expect(json.code).toBe(0)
      const results = JSON.parse(json.stdout) as Array<
        { seed: string; status: string; previousRun?: { seed: number; scale: number }; note?: string }
      >
      const organizations = results.find((r) => r.seed === "organizations")
      expect(organizations).toMatchObject({ status: "already ran", previousRun: { seed: 7, scale: 1 } })
      expect(organizations?.note).toContain("seed 8 changed nothing")
      const plain = yield* Effect.promise(() => runCli(["seed"], env))
      expect(plain.code).toBe(0)
      expect(plain.stderr).not.toContain("note:")
      // Reference seeds upsert every time: listed with the rows they hold, not 0.
      const list = yield* Effect.promise(() => runCli(["seed", "list"], env))
      expect(list.code).toBe(0)
      const rowsColumn = (name: string) =>
        list.stdout.split("\n").find((l) => l.startsWith(`${name} `))?.trim().split(/\s+/).at(-1)
      expect(rowsColumn("permissions")).toBe("12")
      expect(rowsColumn("chart_of_accounts")).toBe("130")
      expect(rowsColumn("customers")).toBe("100")
      const listed = JSON.parse((yield* Effect.promise(() => runCli(["seed", "list", "--json"], env))).stdout) as Array<
        { name: string; lastRun: { rows: number | null } | null }
      >
      expect(listed.find((s) => s.name === "permissions")?.lastRun?.rows).toBe(12)
    }))

  it.effect("an unknown seed name is a usage error (exit 2)", () =>
    Effect.gen(function*() {
      const result = yield* Effect.promise(() => runCli(["seed", "--only", "nope"], { DATABASE_URL: database.url }))
      expect(result.code).toBe(2)
      expect(result.stderr).toContain("no seed named nope")
    }))
})

describe("dbkit seed on the embedded database", () => {
  it.effect("migrates and seeds a fresh embedded database end to end", () =>
    Effect.gen(function*() {
      const env = { DBKIT_DATA_DIR: embeddedDataDir() } // a fresh cluster, without waiting for initdb
      expect((yield* Effect.promise(() => runCli(["migrate"], env))).code).toBe(0)
      const seeded = yield* Effect.promise(() => runCli(["seed"], env))
      expect(seeded.code).toBe(0)
      expect(seeded.stdout).toMatch(/\d+ seeds ran, [\d,]+ rows generated/)
    }))

  it.effect("DB_ENV=test seeds generated data; a later --seed says it already ran; a bad --scale is refused before the database is opened", () =>
    Effect.gen(function*() {
      const dataDir = path.join(tempDir(), "pglite")
      const env = { DBKIT_DATA_DIR: dataDir, DB_ENV: "test" }
      const refused = yield* Effect.promise(() => runCli(["seed", "--scale", "-2"], env))
      expect(refused.code).toBe(2)
      expect(refused.stderr).toContain("--scale must be a number greater than 0")
      expect(fs.existsSync(dataDir)).toBe(false)
      embeddedDataDir(dataDir) // a fresh cluster, without waiting for initdb
      expect((yield* Effect.promise(() => runCli(["migrate"], env))).code).toBe(0)
      const seeded = yield* Effect.promise(() => runCli(["seed"], env))
      expect(seeded.code).toBe(0)
      expect(seeded.stderr).toContain("dbkit seed · test")
      expect(seeded.stdout).toMatch(/✓ invoices \(development\)/)
      const again = yield* Effect.promise(() => runCli(["seed", "--seed", "3"], env))
      expect(again.code).toBe(0)
      expect(again.stderr).toContain("note: invoices already ran with seed 1, scale 1")
      const list = yield* Effect.promise(() => runCli(["seed", "list", "--json"], env))
      const listed = JSON.parse(list.stdout) as Array<{ name: string; lastRun: { rows: number | null } | null }>
      expect(listed.find((s) => s.name === "permissions")?.lastRun?.rows).toBe(12)
    }))
})
