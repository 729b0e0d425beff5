// `dbkit tenant …` as a user runs it: schema per tenant over two shards (two databases on the local server), one tenant
// failing among many with exit 5 and --resume, the guard's exit codes, --json; and the rls strategy's migrate-all,
// which migrates the shared tables of every shard.
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { afterAll, beforeAll } from "vitest"
import { runCli } from "./support/cli.js"
import { createScratchDatabase, dropScratchDatabase, queryAt, serverAvailable, tempDir } from "./support/databases.js"
import { writeFolder } from "./support/migrations.js"

const server = await serverAvailable()

const query = queryAt

describe.skipIf(!server)("dbkit tenant on the server", () => {
  let home: { name: string; url: string }
  let eu: { name: string; url: string }
  beforeAll(async () => {
    home = await createScratchDatabase("dbkit_cli_tenant")
    eu = await createScratchDatabase("dbkit_cli_tenant_eu")
  })
  afterAll(async () => {
    await dropScratchDatabase(home.name)
    await dropScratchDatabase(eu.name)
  })

  it.effect("schema per tenant across two shards: provision, list, migrate-all with a failure (exit 5) and --resume, deprovision guarded", () =>
    Effect.gen(function*() {
      const migrations = writeFolder({ "0001_ledger.sql": "CREATE TABLE ledger (id serial PRIMARY KEY, memo text);" })
      const shardFile = path.join(tempDir("dbkit-shards-"), "shards.json")
      fs.writeFileSync(shardFile, JSON.stringify({ shards: { eu: { urlEnv: "EU_DATABASE_URL" } } }))
      const env = {
        DATABASE_URL: home.url,
        DBKIT_TENANCY: "schema",
        DBKIT_TENANT_MIGRATIONS_DIR: migrations,
        DBKIT_TENANT_SHARDS: shardFile,
        EU_DATABASE_URL: eu.url
      }
      const cli = (args: Array<string>, extra: Record<string, string> = {}) =>
        Effect.promise(() => runCli(args, { ...env, ...extra }))
      for (const slug of ["alpha", "bravo", "charlie"]) expect((yield* cli(["tenant", "provision", slug])).code).toBe(0)
      for (const slug of ["delta", "echo"]) {
        expect((yield* cli(["tenant", "provision", slug, "--shard", "eu"])).code).toBe(0)
      }
      const again = yield* cli(["tenant", "provision", "alpha"])
      expect(again.stdout).toContain("already provisioned")
      const bad = yield* cli(["tenant", "provision", "Robert'); DROP TABLE x;--"])
      expect(bad.code).toBe(2)
      expect(bad.stderr).toContain("is not a valid tenant slug")
      const listed = JSON.parse((yield* cli(["tenant", "list", "--json"])).stdout) as Array<
        { slug: string; shard: string }
      >
      expect(listed.map((t) => `${t.slug}@${t.shard}`)).toEqual([
        "alpha@default",
        "bravo@default",
        "charlie@default",
        "delta@eu",
        "echo@eu"
      ])
      expect(
        yield* Effect.promise(() =>
          query(eu.url, "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'tenant\\_%' ORDER BY 1")
        )
      ).toEqual([
        { nspname: "tenant_delta" },
        { nspname: "tenant_echo" }
      ])
      // A new migration that one tenant on the other shard cannot take.
      fs.writeFileSync(path.join(migrations, "0002_notes.sql"), "CREATE TABLE notes (id int PRIMARY KEY);")
      yield* Effect.promise(() => query(eu.url, "CREATE TABLE tenant_echo.notes (x int)"))
      const run = yield* cli(["tenant", "migrate-all", "--concurrency", "3"])
      expect(run.code).toBe(5)
      expect(run.stdout).toMatch(/\[\d\/5\] echo @eu {2}FAILED: .*already exists/)
      expect(run.stdout).toContain("5 target(s): 4 applied, 0 up to date, 1 failed")
      expect(run.stderr).toContain("1 of 5 tenant(s) failed to migrate")
      yield* Effect.promise(() => query(eu.url, "DROP TABLE tenant_echo.notes"))
      const resumed = yield* cli(["tenant", "migrate-all", "--resume", "--json"])
      expect(resumed.code).toBe(0)
      const report = JSON.parse(resumed.stdout)
      expect(report.results.map((r: { target: string; state: string }) => `${r.target} ${r.state}`)).toEqual([
        "echo applied"
      ])
      // Suspend / resume, and the guard in front of deprovision.
      expect((yield* cli(["tenant", "suspend", "bravo"])).stdout).toContain("suspended")
      expect((yield* cli(["tenant", "resume", "bravo"])).stdout).toContain("active")
      expect((yield* cli(["tenant", "deprovision", "delta"])).code).toBe(4)
      expect((yield* cli(["tenant", "deprovision", "delta", "--yes"], { DB_ENV: "production" })).code).toBe(4)
      const out = tempDir("dbkit-tenant-out-")
      const gone = yield* cli(["tenant", "deprovision", "delta", "--out", out, "--json"], {
        DB_TENANT_DEPROVISION_CONFIRM: "1"
      })
      expect(gone.code).toBe(0)
      expect(fs.existsSync(JSON.parse(gone.stdout).backup)).toBe(true)
      expect(yield* Effect.promise(() => query(eu.url, "SELECT 1 FROM pg_namespace WHERE nspname = 'tenant_delta'")))
        .toEqual([])
      expect((yield* cli(["tenant", "deprovision", "delta", "--yes"])).code).toBe(2) // no such tenant any more
    }))

  it.effect("the rls strategy's migrate-all migrates the shared tables on every shard; an unknown shard is a usage error", () =>
    Effect.gen(function*() {
      const rlsHome = yield* Effect.acquireRelease(
        Effect.promise(() => createScratchDatabase("dbkit_cli_rls")),
        ({ name }) => Effect.promise(() => dropScratchDatabase(name))
      )
      const rlsShard = yield* Effect.acquireRelease(
        Effect.promise(() => createScratchDatabase("dbkit_cli_rls_s2")),
        ({ name }) => Effect.promise(() => dropScratchDatabase(name))
      )
      const shardFile = path.join(tempDir("dbkit-shards-"), "shards.json")
      fs.writeFileSync(shardFile, JSON.stringify({ shards: { s2: { url: rlsShard.url } } }))
      const env = { DATABASE_URL: rlsHome.url, DBKIT_TENANT_SHARDS: shardFile, DBKIT_TENANT_TABLE: "organizations" }
      const run = yield* Effect.promise(() => runCli(["tenant", "migrate-all", "--json"], env))
      expect(run.code).toBe(0)
      const report = JSON.parse(run.stdout)
      expect(report.results.map((r: { target: string; state: string }) => `${r.target} ${r.state}`).sort()).toEqual([
        "shard:default applied",
        "shard:s2 applied"
      ])
      for (const url of [rlsHome.url, rlsShard.url]) {
        expect(yield* Effect.promise(() => query(url, "SELECT to_regclass('public.customers') IS NOT NULL AS e")))
          .toEqual([{ e: true }])
      }
      const made = yield* Effect.promise(() => runCli(["tenant", "provision", "acme", "--name", "Acme", "--json"], env))
      expect(made.code).toBe(0)
      const tenant = JSON.parse(made.stdout).tenant
      expect(
        yield* Effect.promise(() => query(rlsHome.url, `SELECT slug FROM organizations WHERE id = '${tenant.id}'`))
      ).toEqual([{ slug: "acme" }])
      const mars = yield* Effect.promise(() => runCli(["tenant", "provision", "zulu", "--shard", "mars"], env))
      expect(mars.code).toBe(2)
      expect(mars.stderr).toContain(`no shard "mars"`)
    }).pipe(Effect.scoped))
})
