/**
 * "Your own project": two projects dbkit has never seen, with dbkit installed from the tarball
 * `npm pack` makes, run every command from their own dbkit.config.ts — written by `dbkit init`,
 * then edited as a user uncomments its declarations — with no entrypoint of their own.
 *
 * - shop (test/fixtures/projects/shop): plain NNN_name.sql migrations that need pgcrypto and
 *   btree_gin, seeds in db/seeds.ts, a privacy map as JSON, a relationship without a foreign key
 *   and a retention rule.
 * - saas (test/fixtures/projects/saas): drizzle-kit's folder (found through drizzle.config.ts's
 *   `out`), a schema per tenant built by tenant-migrations/, seeds, and a privacy map declared
 *   over the drizzle tables with definePrivacy/personalData.
 *
 * Each runs on the server (a scratch database) and on the embedded database (a data directory),
 * and every assertion reads the database itself: psql-equivalent queries on the server, the data
 * directory opened with PGlite between two commands on the embedded one. One `npm install` in a
 * temp root serves every project folder below it (Node resolves node_modules upwards).
 */
import { PGlite } from "@electric-sql/pglite"
import { btree_gin } from "@electric-sql/pglite/contrib/btree_gin"
import { pgcrypto } from "@electric-sql/pglite/contrib/pgcrypto"
import * as fs from "node:fs"
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { nodeFlags } from "./support/cli.js"
import {
  createScratchDatabase,
  dropScratchDatabase,
  embeddedDataDir,
  queryAt,
  serverAvailable,
  tempDir,
  urlFor
} from "./support/databases.js"
import { cleanEnv, installProject, registryAvailable, run } from "./support/tarball.js"

const server = await serverAvailable()
const online = await registryAvailable()

const fixtures = path.resolve(import.meta.dirname, "fixtures", "projects")
/** What the projects import themselves (dbkit's other peers come with it). */
const dependencies = ["effect@3", "@effect/sql", "drizzle-orm@0.45"]

let root = ""
const scratch: Array<string> = []

type Query = <A = Record<string, any>>(text: string, params?: Array<unknown>) => Promise<Array<A>>

/** Where a project's commands go, and how the test reads that database back. */
interface Backend {
  readonly name: "server" | "embedded"
  /** The scratch database on the server. */
  readonly database?: string
  readonly env: Record<string, string>
  /** Runs `inspect` with a query function on the project's database (never while dbkit has it open). */
  readonly read: <A>(inspect: (query: Query) => Promise<A>) => Promise<A>
}

const serverBackend = async (prefix: string): Promise<Backend> => {
  const db = await createScratchDatabase(prefix)
  scratch.push(db.name)
  return {
    name: "server",
    database: db.name,
    env: { DATABASE_URL: db.url },
    read: (inspect) => inspect((text, params) => queryAt(db.url, text, params))
  }
}

const embeddedBackend = (dir: string, extensions: Record<string, typeof pgcrypto> = {}): Backend => {
  // A fresh cluster from the run's template: creating one (initdb) is cli.test.ts's and
  // package-install.test.ts's subject; here it would only add seconds.
  const dataDir = embeddedDataDir(path.join(dir, ".data", "pglite"))
  return {
    name: "embedded",
    env: { DBKIT_DATA_DIR: dataDir },
    read: async (inspect) => {
      const pg = await PGlite.create(dataDir, { extensions })
      try {
        return await inspect(async (text, params) => (await pg.query<any>(text, params)).rows)
      } finally {
        await pg.close()
      }
    }
  }
}

/** A fresh copy of a fixture project under the install root. */
const copyProject = (fixture: string, label: string) => {
  const dir = path.join(root, `${fixture}-${label}`)
  fs.cpSync(path.join(fixtures, fixture), dir, { recursive: true })
  return dir
}

/** The project's installed `dbkit`, run in its folder as a user runs it; checks the exit code. */
const dbkit = (dir: string, backend: Backend) => async (args: ReadonlyArray<string>, expected = 0) => {
  const result = await run(
    process.execPath,
    [...nodeFlags, path.join(root, "node_modules", ".bin", "dbkit"), ...args],
    {
      cwd: dir,
      env: cleanEnv({ CI: "true", ...backend.env }),
      timeoutMs: 120_000
    }
  )
  expect(result.code, `dbkit ${args.join(" ")} (${backend.name})\n${result.stdout}\n${result.stderr}`).toBe(expected)
  return result
}

/** `dbkit ... --json`, parsed. */
const json = (cli: ReturnType<typeof dbkit>) => async (args: ReadonlyArray<string>, expected = 0): Promise<any> =>
  JSON.parse((await cli([...args, "--json"], expected)).stdout)

/** Uncomments each declaration in the config `dbkit init` wrote, as a user edits it: one example line per field. */
const declare = (dir: string, declarations: Record<string, string>) => {
  const file = path.join(dir, "dbkit.config.ts")
  let text = fs.readFileSync(file, "utf8")
  for (const [field, value] of Object.entries(declarations)) {
    const example = new RegExp(`^(\\s*)// ${field}: .*$`, "m")
    expect(text, `dbkit init's config has a commented ${field} example`).toMatch(example)
    text = text.replace(example, (_, indent: string) => `${indent}${field}: ${value},`)
  }
  fs.writeFileSync(file, text)
}

const count = async (query: Query, table: string): Promise<number> =>
  (await query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table}`))[0]!.n

/** The tables of a schema, by name. */
const tablesOf = async (query: Query, schema: string) =>
  (await query<{ name: string }>(
    `SELECT table_name AS name FROM information_schema.tables WHERE table_schema = $1 ORDER BY 1`,
    [schema]
  ))
    .map((r) => r.name)

beforeAll(async () => {
  if (!online) return
  root = tempDir("dbkit-own-projects-")
  await installProject(root, dependencies)
}, 600_000)

afterAll(async () => {
  for (const name of scratch) await dropScratchDatabase(name)
  // The install is ~200 MB; tempDir's exit hook does not run in a vitest worker.
  if (root !== "") fs.rmSync(root, { recursive: true, force: true })
})

const backends = [...(server ? ["server" as const] : []), "embedded" as const]

describe.skipIf(!online)(
  "a team's own project runs every dbkit command from its dbkit.config.ts (dbkit installed from its tarball)",
  () => {
    it.each(backends)("shop, plain SQL migrations needing pgcrypto and btree_gin, on the %s database", async (kind) => {
      const dir = copyProject("shop", kind)
      const backend = kind === "server"
        ? await serverBackend("dbkit_own_shop")
        : embeddedBackend(dir, { pgcrypto, btree_gin })
      const cli = dbkit(dir, backend)
      const cliJson = json(cli)

      // init finds the migrations folder, writes the config and adds the scripts.
      const init = await cliJson(["init"])
      expect(init).toMatchObject({
        migrations: { dir: "migrations", layout: "sql", migrations: 2, misnamed: [] },
        config: { file: "dbkit.config.ts", status: "written" },
        packageJson: { status: "updated", conflicts: [] }
      })
      expect(init.packageJson.added).toContain("effect:migrate-db")
      expect(fs.readFileSync(path.join(dir, "dbkit.config.ts"), "utf8")).toContain(`migrationsDir: "migrations"`)
      expect(JSON.parse(fs.readFileSync(path.join(dir, "package.json"), "utf8")).scripts).toMatchObject({
        start: "node server.js",
        "effect:seed-db": "dbkit seed"
      })
      declare(dir, {
        seeds: `"db/seeds.ts"`,
        privacy: `"db/privacy.json"`,
        integrity: `{ relationships: [{ table: "events", column: "customer_id", references: "customers.id" }] }`,
        retention: `[{ table: "events", timestampColumn: "at", keep: "30 days" }]`
      })

      // migrate: the tables, and the extensions loaded (a GIN index over uuid needs btree_gin).
      const migrated = await cliJson(["migrate"])
      expect(migrated.applied.map((m: { name: string }) => m.name)).toEqual(["001_extensions", "002_shop"])
      await backend.read(async (query) => {
        expect((await query(`SELECT extname FROM pg_extension ORDER BY 1`)).map((r) => r.extname)).toEqual(
          expect.arrayContaining(["btree_gin", "pgcrypto"])
        )
        expect(await tablesOf(query, "public")).toEqual(["customers", "events", "order_statuses", "orders"])
        const [index] = await query(`SELECT indexdef FROM pg_indexes WHERE indexname = 'events_kind_customer_gin'`)
        expect(index?.indexdef).toContain("USING gin (kind, customer_id)")
        expect((await query(`SELECT digest('x', 'sha256') IS NOT NULL AS ok`))[0]!.ok).toBe(true) // pgcrypto's own function
      })

      // seed: the reference statuses and the generated customers; a second run adds nothing.
      const seeded = await cliJson(["seed"])
      expect(seeded.map((s: { seed: string; status: string }) => [s.seed, s.status])).toEqual([
        ["order-statuses", "ran"],
        ["customers", "ran"]
      ])
      const again = await cliJson(["seed"])
      expect(again.map((s: { seed: string; status: string }) => [s.seed, s.status])).toEqual([
        ["order-statuses", "ran"],
        ["customers", "already ran"]
      ])
      const orphan = "00000000-0000-4000-8000-0000000000aa"
      await backend.read(async (query) => {
        expect(await count(query, "order_statuses")).toBe(4)
        expect(await count(query, "customers")).toBe(12)
        expect(await count(query, "orders")).toBe(12)
        expect(await count(query, "events")).toBe(60)
        // Two events of today: one of Mary's, one of a customer that does not exist.
        await query(
          `INSERT INTO events (customer_id, kind, at) SELECT id, 'view', now() - interval '1 day' FROM customers WHERE email = 'mary@shop.example'`
        )
        await query(`INSERT INTO events (customer_id, kind, at) VALUES ($1, 'view', now())`, [orphan])
      })

      // db validate: the orphaned event is a finding on the declared relationship (exit 15).
      const validated = await cliJson(["db", "validate"], 15)
      expect(validated.checked.relationships).toBe(1)
      expect(validated.findings).toEqual([
        expect.objectContaining({ kind: "orphaned-rows", table: "public.events", count: 1 })
      ])

      // db cleanup: the plan counts the 60 events from 2024 and deletes nothing; --run deletes them, today's stay.
      const plan = await cliJson(["db", "cleanup"])
      expect(plan.rules).toEqual([expect.objectContaining({ table: "public.events", rows: 60 })])
      expect(await backend.read((query) => count(query, "events"))).toBe(62)
      const cleaned = await cliJson(["db", "cleanup", "--run"])
      expect(cleaned).toMatchObject({ deleted: 60, failed: 0 })
      await backend.read(async (query) => {
        expect(await query(`SELECT customer_id::text AS customer FROM events WHERE customer_id = $1`, [orphan]))
          .toHaveLength(1)
        expect(await count(query, "events")).toBe(2)
      })

      // privacy export: Mary's customer row and her order (through its foreign key), from the JSON map.
      const exportFile = path.join(dir, "mary.json")
      const exported = await cliJson(["privacy", "export", "--email", "MARY@shop.example", "--out", exportFile])
      expect(exported.tables).toEqual([{ table: "public.customers", rows: 1 }, { table: "public.orders", rows: 1 }])
      const file = JSON.parse(fs.readFileSync(exportFile, "utf8"))
      expect(file.tables[0].rows[0]).toMatchObject({
        name: "Mary Shelley",
        email: "mary@shop.example",
        phone: expect.stringMatching(/^\+44 20 7946 \d{4}$/)
      })
      expect(file.tables[1]).toMatchObject({
        table: "public.orders",
        retained: "orders are accounting records, kept for 10 years"
      })

      // tenant provision under the default strategy (rls): the tenant is registered.
      const provisioned = await cliJson(["tenant", "provision", "acme", "--name", "Acme Ltd"])
      expect(provisioned).toMatchObject({ created: true, tenant: { slug: "acme", name: "Acme Ltd", strategy: "rls" } })
      expect((await cliJson(["tenant", "list"])).map((t: { slug: string }) => t.slug)).toEqual(["acme"])

      // backup, then restore: into a new database on the server; over the database on the embedded one.
      const backup = await cliJson(["backup"])
      expect(fs.existsSync(backup.file)).toBe(true)
      expect(backup.manifest.tables).toMatchObject({ "public.customers": 12, "public.events": 2, "public.orders": 12 })
      if (backend.name === "server") {
        const into = `${backend.database}_copy`
        scratch.push(into)
        const restored = await cliJson(["restore", "--into", into, backup.file])
        expect(restored).toMatchObject({ database: into, countsChecked: true })
        const query: Query = (text, params) => queryAt(urlFor(into), text, params)
        expect(await count(query, "customers")).toBe(12)
        expect(await count(query, "events")).toBe(2)
        expect((await query(`SELECT extname FROM pg_extension ORDER BY 1`)).map((r) => r.extname)).toEqual(
          expect.arrayContaining(["btree_gin", "pgcrypto"])
        )
      } else {
        const refused = await cli(["restore", "--into", "elsewhere", backup.file], 3)
        expect(refused.stderr).toContain("restore --into needs a PostgreSQL server")
        await backend.read((query) => query(`DELETE FROM events`))
        const restored = await cliJson(["restore", "--yes", backup.file])
        expect(restored.countsChecked).toBe(true)
        expect(fs.existsSync(restored.safetyBackup)).toBe(true)
        await backend.read(async (query) => {
          expect(await count(query, "events")).toBe(2)
          expect(await count(query, "customers")).toBe(12)
        })
      }
    }, 900_000)

    it.each(backends)("saas, drizzle-kit migrations and a schema per tenant, on the %s database", async (kind) => {
      const dir = copyProject("saas", kind)
      const backend = kind === "server" ? await serverBackend("dbkit_own_saas") : embeddedBackend(dir)
      const cli = dbkit(dir, backend)
      const cliJson = json(cli)

      // init follows drizzle.config.ts's `out` to the drizzle-kit folder.
      const init = await cliJson(["init"])
      expect(init.migrations).toMatchObject({
        dir: "drizzle",
        source: "drizzle-config",
        drizzleConfig: { file: "drizzle.config.ts", out: "./drizzle" },
        layout: "drizzle",
        migrations: 1
      })
      expect(init.config.status).toBe("written")
      expect(fs.readFileSync(path.join(dir, "dbkit.config.ts"), "utf8")).toContain(`migrationsDir: "drizzle"`)
      declare(dir, {
        seeds: `"seeds.ts"`,
        privacy: `"privacy.ts"`,
        retention: `[{ name: "sign-ins", table: "sign_ins", timestampColumn: "at", keep: "90 days" }]`,
        tenancy: `{ strategy: "schema", migrationsDir: "tenant-migrations" }`
      })

      const migrated = await cliJson(["migrate"])
      expect(migrated.applied.map((m: { name: string }) => m.name)).toEqual(["0000_shared"])
      expect(await backend.read((query) => tablesOf(query, "public"))).toEqual(["accounts", "plans", "sign_ins"])

      const seeded = await cliJson(["seed"])
      expect(seeded.map((s: { seed: string; status: string }) => [s.seed, s.status])).toEqual([["plans", "ran"], [
        "accounts",
        "ran"
      ]])
      const again = await cliJson(["seed"])
      expect(again.map((s: { seed: string; status: string }) => [s.seed, s.status])).toEqual([["plans", "ran"], [
        "accounts",
        "already ran"
      ]])
      await backend.read(async (query) => {
        expect(await count(query, "plans")).toBe(3)
        expect(await count(query, "accounts")).toBe(8)
        expect(await count(query, "sign_ins")).toBe(24)
      })

      // tenant provision: the tenant's schema, built by the tenant migrations; a second run changes nothing.
      const provisioned = await cliJson(["tenant", "provision", "acme"])
      expect(provisioned).toMatchObject({
        created: true,
        applied: 1,
        tenant: { slug: "acme", strategy: "schema", schema: "tenant_acme", migration: { state: "applied" } }
      })
      expect(await cliJson(["tenant", "provision", "acme"])).toMatchObject({ created: false, applied: 0 })
      await backend.read(async (query) => {
        expect(await tablesOf(query, "tenant_acme")).toEqual(expect.arrayContaining(["projects", "tasks"]))
        expect(await tablesOf(query, "public")).toEqual(["accounts", "plans", "sign_ins"]) // nothing leaked into public
        await query(`INSERT INTO tenant_acme.projects (name) VALUES ('Launch')`)
        // A fresh sign-in of Ada's, for the retention rule to keep.
        await query(
          `INSERT INTO sign_ins (account_id, ip_address, at) SELECT id, '203.0.113.9', now() FROM accounts WHERE email = 'ada@saas.example'`
        )
      })

      // privacy export: Ada's account and her sign-ins (through their foreign key), from the drizzle-declared map.
      const exported = await cliJson(["privacy", "export", "--email", "ada@saas.example", "--out", "-"])
      expect(exported.tables.map((t: { table: string }) => t.table)).toEqual(["public.accounts", "public.sign_ins"])
      expect(exported.tables[0].rows).toEqual([
        expect.objectContaining({ name: "Ada Lovelace", email: "ada@saas.example" })
      ])
      expect(exported.tables[1].rows).toHaveLength(4)
      expect(exported.tables[1].rows.map((r: { ip_address: string }) => r.ip_address)).toContain("203.0.113.9")

      // db validate: the foreign keys hold, nothing to report.
      expect((await cliJson(["db", "validate"])).findings).toEqual([])

      // db cleanup: the 24 sign-ins from 2024 go, today's stays.
      expect((await cliJson(["db", "cleanup"])).rules).toEqual([
        expect.objectContaining({ rule: "sign-ins", rows: 24 })
      ])
      expect(await cliJson(["db", "cleanup", "--run"])).toMatchObject({ deleted: 24, failed: 0 })
      expect(await backend.read((query) => query(`SELECT ip_address FROM sign_ins`))).toEqual([{
        ip_address: "203.0.113.9"
      }])

      // backup holds the tenant's schema; restore brings it back.
      const backup = await cliJson(["backup"])
      expect(backup.manifest.tables).toMatchObject({ "public.accounts": 8, "tenant_acme.projects": 1 })
      if (backend.name === "server") {
        const into = `${backend.database}_copy`
        scratch.push(into)
        expect(await cliJson(["restore", "--into", into, backup.file])).toMatchObject({
          database: into,
          countsChecked: true
        })
        const query: Query = (text, params) => queryAt(urlFor(into), text, params)
        expect(await count(query, "accounts")).toBe(8)
        expect(await query(`SELECT name FROM tenant_acme.projects`)).toEqual([{ name: "Launch" }])
        expect(await query(`SELECT slug, schema_name FROM dbkit.tenants`)).toEqual([{
          slug: "acme",
          schema_name: "tenant_acme"
        }])
      } else {
        await backend.read((query) => query(`DELETE FROM tenant_acme.projects`))
        const restored = await cliJson(["restore", "--yes", backup.file])
        expect(restored.countsChecked).toBe(true)
        expect(await backend.read((query) => query(`SELECT name FROM tenant_acme.projects`))).toEqual([{
          name: "Launch"
        }])
      }
    }, 900_000)
  }
)
