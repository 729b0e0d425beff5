// dbkit's reference seeds through the Seeder, on migrated databases of both kinds: the same bytes
// for the same seed number everywhere, idempotent, realistic, and refused in production.
import * as SqlClient from "@effect/sql/SqlClient"
import { expect, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as path from "node:path"
import * as Config from "../src/Config.js"
import type { Environment } from "../src/Config.js"
import {
  chartOfAccountsList,
  permissionList,
  referenceSeeds,
  roleList,
  rolePermissionList
} from "../src/example/seeds/index.js"
import { layer as seederLayer, Seeder, type SeedOptions } from "../src/seeder/Seeder.js"
import { backends } from "./support/databases.js"
import { withMigrator } from "./support/migrations.js"
import { NonInteractiveGuard } from "./support/terminal.js"

const referenceMigrations = path.resolve(import.meta.dirname, "../migrations")

const migrate = withMigrator(referenceMigrations, undefined, (m) => m.migrate())

const withSeeder = <A, E, R>(
  f: (seeder: Seeder["Type"]) => Effect.Effect<A, E, R>,
  environment: Environment = "development"
) =>
  Effect.flatMap(Seeder, f).pipe(
    Effect.provide(seederLayer({ seeds: referenceSeeds }).pipe(Layer.provide(Config.layerFrom({ environment }))))
  )

const runSeeds = (options: SeedOptions = {}, environment: Environment = "development") =>
  withSeeder((s) => s.run(options), environment)

const referenceTables = ["permissions", "roles", "role_permissions"] as const
const generatedTables = [
  "organizations",
  "users",
  "user_roles",
  "customers",
  "accounts",
  "invoices",
  "invoice_lines",
  "payments"
] as const
const seededTables = [...referenceTables, ...generatedTables] as const

/** Every seeded table's rows, hashed in byte order with timestamps and dates printed in UTC/ISO. */
const hashes = Effect.flatMap(SqlClient.SqlClient, (sql) =>
  sql.withTransaction(Effect.gen(function*() {
    yield* sql`SET LOCAL TimeZone = 'UTC'`
    yield* sql`SET LOCAL DateStyle = 'ISO, YMD'`
    const out: Record<string, string> = {}
    for (const table of seededTables) {
      const rows = yield* sql.unsafe<{ h: string }>(
        `SELECT md5(coalesce(string_agg(t::text, E'\\n' ORDER BY t::text COLLATE "C"), '')) AS h FROM ${table} t`
      )
      out[table] = rows[0]!.h
    }
    return out
  })))

const counts = Effect.flatMap(SqlClient.SqlClient, (sql) =>
  Effect.gen(function*() {
    const out: Record<string, number> = {}
    for (const table of seededTables) {
      out[table] = (yield* sql.unsafe<{ n: number }>(`SELECT count(*)::int AS n FROM ${table}`))[0]!.n
    }
    return out
  }))

const scalar = (query: string) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) => Effect.map(sql.unsafe<{ n: number }>(query), (rows) => rows[0]!.n))

const seedOrder = ["permissions", "roles", "organizations", "chart_of_accounts", "users", "customers", "invoices"]

/** Runs `f` on a fresh database of the backend, migrated. */
const onFreshDatabase = <A, E, R>(backendLayer: Layer.Layer<R>, f: Effect.Effect<A, E, R>) =>
  Effect.zipRight(migrate, f).pipe(Effect.provide(backendLayer))

/** The server's seed-42 hashes, for the embedded block to compare with (same run, same file). */
let serverHashes: Record<string, string> | undefined

for (const backend of await backends()) {
  layer(backend.layer, { excludeTestServices: true })(`reference seeds on the ${backend.name} database`, (it) => {
    it.effect("the same seed number gives the same bytes in a second fresh database (and on the other backend); another number does not", () =>
      Effect.gen(function*() {
        yield* migrate
        const first = yield* runSeeds({ seed: 42 })
        expect(first.map((r) => [r.seed, r.status])).toEqual(seedOrder.map((s) => [s, "ran"]))
        const a = yield* hashes
        const { b, c } = yield* Effect.gen(function*() {
          yield* migrate
          yield* runSeeds({ seed: 42 })
          const b = yield* hashes
          // Clean the generated data (children first, by the seeds' `tables`) and seed another number.
          yield* withSeeder((s) => s.clean({ yes: true })).pipe(Effect.provide(NonInteractiveGuard()))
          expect(yield* scalar("SELECT count(*)::int AS n FROM invoices")).toBe(0)
          expect(yield* scalar("SELECT count(*)::int AS n FROM permissions")).toBe(permissionList.length)
          yield* runSeeds({ seed: 43 })
          const c = yield* hashes
          return { b, c }
        }).pipe(Effect.provide(backend.layer))
        expect(b).toEqual(a)
        for (const table of referenceTables) expect(c[table]).toBe(a[table])
        for (const table of generatedTables) expect(c[table], table).not.toBe(a[table])
        if (backend.name === "server") serverHashes = a
        else if (serverHashes !== undefined) expect(a).toEqual(serverHashes)
      }))

    it.effect("a second run upserts reference data to the same rows, reports generated seeds already ran, and changes nothing", () =>
      Effect.gen(function*() {
        yield* migrate
        yield* runSeeds({ seed: 42 })
        const before = { counts: yield* counts, hashes: yield* hashes }
        const sql = yield* SqlClient.SqlClient
        yield* sql`UPDATE permissions SET description = 'stale' WHERE key = 'audit.read'`
        const again = yield* runSeeds({ seed: 42 })
        expect(again.map((r) => [r.seed, r.status])).toEqual(
          seedOrder.map((s) => [s, ["permissions", "roles", "chart_of_accounts"].includes(s) ? "ran" : "already ran"])
        )
        expect(yield* counts).toEqual(before.counts)
        expect(yield* hashes).toEqual(before.hashes) // the stale description was brought back
      }))

    it.effect("the data is realistic: totals are exact sums, statuses and payments agree, tenants are consistent", () =>
      Effect.gen(function*() {
        yield* migrate
        yield* runSeeds({ seed: 42 })
        const n = yield* counts
        expect(n).toMatchObject({
          permissions: permissionList.length,
          roles: roleList.length,
          role_permissions: rolePermissionList.length,
          organizations: 5,
          accounts: 5 * chartOfAccountsList.length,
          customers: 100,
          invoices: 250
        })
        expect(n.users).toBeGreaterThanOrEqual(15)
        expect(n.users).toBeLessThanOrEqual(40)
        expect(n.user_roles).toBe(n.users)
        expect(n.invoice_lines).toBeGreaterThanOrEqual(250)
        expect(n.invoice_lines).toBeLessThanOrEqual(1250)
        expect(n.payments).toBeGreaterThan(25)
        expect(yield* withSeeder((s) => s.validate())).toEqual([])
        const zero = [
          // amounts: each line is quantity × unit price, each total the sum of its lines
          `SELECT count(*)::int AS n FROM invoice_lines WHERE amount <> quantity * unit_price`,
          `SELECT count(*)::int AS n FROM invoices i
            WHERE total <> (SELECT coalesce(sum(amount), 0) FROM invoice_lines l WHERE l.invoice_id = i.id)`,
          `SELECT count(*)::int AS n FROM invoices WHERE due_date < issue_date OR due_date - issue_date NOT IN (14, 30, 60)`,
          `SELECT count(*)::int AS n FROM invoices WHERE issue_date < '2025-01-01' OR issue_date > '2025-12-31'`,
          // statuses and payments
          `SELECT count(*)::int AS n FROM invoices i WHERE status = 'paid'
             AND total <> (SELECT coalesce(sum(amount), 0) FROM payments p WHERE p.invoice_id = i.id)`,
          `SELECT count(*)::int AS n FROM invoices i WHERE status = 'issued'
             AND total <= (SELECT coalesce(sum(amount), 0) FROM payments p WHERE p.invoice_id = i.id)`,
          `SELECT count(*)::int AS n FROM payments p JOIN invoices i ON i.id = p.invoice_id WHERE i.status IN ('draft', 'void')`,
          `SELECT count(*)::int AS n FROM payments p JOIN invoices i ON i.id = p.invoice_id WHERE p.paid_at::date < i.issue_date`,
          // one currency per organization
          `SELECT count(*)::int AS n FROM (SELECT tenant_id FROM invoices GROUP BY tenant_id HAVING count(DISTINCT currency) <> 1) x`,
          // users: unique emails per tenant on the organization's domain, exactly one owner each
          `SELECT count(*)::int AS n FROM (SELECT 1 FROM users GROUP BY tenant_id, lower(email) HAVING count(*) > 1) x`,
          `SELECT count(*)::int AS n FROM users u JOIN organizations o ON o.id = u.tenant_id
            WHERE u.email NOT LIKE '%@' || o.slug || '.example'`,
          `SELECT count(*)::int AS n FROM organizations o WHERE (SELECT count(*) FROM user_roles ur
             JOIN roles r ON r.id = ur.role_id WHERE ur.tenant_id = o.id AND r.name = 'owner') <> 1`,
          // tenant consistency across every reference between tenant rows
          `SELECT count(*)::int AS n FROM invoice_lines l JOIN invoices i ON i.id = l.invoice_id WHERE l.tenant_id <> i.tenant_id`,
          `SELECT count(*)::int AS n FROM invoice_lines l JOIN accounts a ON a.id = l.account_id
            WHERE l.tenant_id <> a.tenant_id OR a.type <> 'revenue'`,
          `SELECT count(*)::int AS n FROM payments p JOIN invoices i ON i.id = p.invoice_id WHERE p.tenant_id <> i.tenant_id`,
          `SELECT count(*)::int AS n FROM invoices i JOIN customers c ON c.id = i.customer_id WHERE i.tenant_id <> c.tenant_id`,
          `SELECT count(*)::int AS n FROM user_roles ur JOIN users u ON u.id = ur.user_id
             JOIN roles r ON r.id = ur.role_id WHERE ur.tenant_id <> u.tenant_id OR r.tenant_id IS NOT NULL`,
          // the chart: every child under a parent of its own tenant and type
          `SELECT count(*)::int AS n FROM accounts c JOIN accounts p ON p.id = c.parent_id
            WHERE c.tenant_id <> p.tenant_id OR c.type <> p.type`,
          `SELECT count(*)::int AS n FROM accounts WHERE parent_id IS NULL AND code NOT LIKE '_000'`
        ]
        for (const query of zero) expect(yield* scalar(query), query).toBe(0)
        const statuses = yield* scalar(`SELECT count(DISTINCT status)::int AS n FROM invoices`)
        expect(statuses).toBe(4)
        const viewer = yield* scalar(
          `SELECT count(*)::int AS n FROM role_permissions rp JOIN roles r ON r.id = rp.role_id
          JOIN permissions p ON p.id = rp.permission_id WHERE r.name = 'viewer' AND p.key NOT LIKE '%.read'`
        )
        expect(viewer).toBe(0)
      }))

    it.effect("the test profile and the test environment get the development data; seed list shows the rows reference seeds hold, not 0", () =>
      Effect.gen(function*() {
        for (
          const [label, options, environment] of [
            ["--profile test", { profile: "test", seed: 42 }, "development"],
            ["DB_ENV=test", { seed: 42 }, "test"]
          ] as const
        ) {
          const { results, n, listed } = yield* onFreshDatabase(
            backend.layer,
            Effect.gen(function*() {
              const results = yield* runSeeds(options, environment)
              return { results, n: yield* counts, listed: yield* withSeeder((s) => s.list) }
            })
          )
          expect(results.map((r) => [r.seed, r.status]), label).toEqual(seedOrder.map((s) => [s, "ran"]))
          expect(n, label).toMatchObject({ organizations: 5, customers: 100, invoices: 250 })
          const rowsOf = (name: string) =>
            listed.find((l) => l.name === name)?.lastRun.pipe(Option.map((r) => r.rows), Option.getOrUndefined)
          expect(rowsOf("permissions"), label).toBe(permissionList.length)
          expect(rowsOf("roles"), label).toBe(roleList.length + rolePermissionList.length)
          expect(rowsOf("chart_of_accounts"), label).toBe(5 * chartOfAccountsList.length)
          expect(rowsOf("customers"), label).toBe(100)
        }
      }))

    it.effect("--scale is linear in the rows: 2 gives twice the organizations, customers and invoices of 1, 0.4 two fifths; a --tenant run scales its one organization", () =>
      Effect.gen(function*() {
        const twice = yield* onFreshDatabase(
          backend.layer,
          Effect.gen(function*() {
            yield* runSeeds({ seed: 42, scale: 2 })
            const n = yield* counts
            const problems = yield* withSeeder((s) => s.validate())
            yield* runSeeds({ seed: 42, scale: 2, tenant: "acme-trading" })
            const acme = (table: string) =>
              scalar(
                `SELECT count(*)::int AS n FROM ${table} WHERE tenant_id = (SELECT id FROM organizations WHERE slug = 'acme-trading')`
              )
            return { n, problems, acme: { customers: yield* acme("customers"), invoices: yield* acme("invoices") } }
          })
        )
        expect(twice.n).toMatchObject({
          organizations: 10,
          accounts: 10 * chartOfAccountsList.length,
          customers: 200,
          invoices: 500
        })
        expect(twice.n.users).toBeGreaterThanOrEqual(30)
        expect(twice.n.users).toBeLessThanOrEqual(80)
        expect(twice.problems).toEqual([])
        expect(twice.acme).toEqual({ customers: 40, invoices: 100 })
        const fewer = yield* onFreshDatabase(backend.layer, Effect.zipRight(runSeeds({ seed: 42, scale: 0.4 }), counts))
        expect(fewer).toMatchObject({
          organizations: 2,
          accounts: 2 * chartOfAccountsList.length,
          customers: 40,
          invoices: 100
        })
      }))

    it.effect("in production the default run is reference data only; asking for development data is refused and writes nothing", () =>
      Effect.gen(function*() {
        yield* migrate
        yield* runSeeds({ seed: 42 })
        const before = yield* hashes
        const results = yield* runSeeds({}, "production")
        expect(results.map((r) => [r.seed, r.status])).toEqual([
          ["permissions", "ran"],
          ["roles", "ran"],
          ["chart_of_accounts", "ran"]
        ])
        expect(yield* hashes).toEqual(before)
        const sql = yield* SqlClient.SqlClient
        const history = () =>
          sql`SELECT name, tenant, ran_at::text AS at, rows::text AS rows FROM dbkit.seeds ORDER BY name`
        const recorded = yield* history()
        const refused = yield* Effect.flip(runSeeds({ profile: "development", seed: 7 }, "production"))
        expect(refused._tag).toBe("SeedRefusedInProduction")
        expect(refused.message).toContain("organizations")
        expect(yield* hashes).toEqual(before)
        expect(yield* history()).toEqual(recorded)
      }))

    it.effect("--tenant SLUG creates that organization and seeds only it; over an organization that has data it adds nothing", () =>
      Effect.gen(function*() {
        yield* migrate
        yield* runSeeds({ seed: 42 })
        const before = yield* counts
        const results = yield* runSeeds({ seed: 42, tenant: "acme-trading" })
        expect(results.map((r) => [r.seed, r.status])).toEqual(seedOrder.map((s) => [s, "ran"]))
        const after = yield* counts
        const acme = (table: string) =>
          scalar(
            `SELECT count(*)::int AS n FROM ${table} WHERE tenant_id = (SELECT id FROM organizations WHERE slug = 'acme-trading')`
          )
        expect(
          yield* scalar(
            `SELECT count(*)::int AS n FROM organizations WHERE slug = 'acme-trading' AND name = 'Acme Trading'`
          )
        ).toBe(1)
        expect(after.organizations).toBe(before.organizations! + 1)
        expect(yield* acme("accounts")).toBe(chartOfAccountsList.length)
        expect(yield* acme("customers")).toBe(20)
        expect(yield* acme("invoices")).toBe(50)
        expect(after.invoices).toBe(before.invoices! + 50)
        expect(after.customers).toBe(before.customers! + 20)
        expect(after.users! - before.users!).toBe(yield* acme("users"))
        const again = yield* runSeeds({ seed: 42, tenant: "acme-trading" })
        expect(again.filter((r) => r.status === "already ran").map((r) => r.seed)).toEqual([
          "organizations",
          "users",
          "customers",
          "invoices"
        ])
        // A generated organization already holds its data: a --tenant run over it adds nothing.
        const sql = yield* SqlClient.SqlClient
        const slug = (yield* sql<
          { slug: string }
        >`SELECT slug FROM organizations WHERE slug <> 'acme-trading' ORDER BY slug LIMIT 1`)[0]!.slug
        const other = yield* runSeeds({ seed: 42, tenant: slug })
        expect(other.every((r) => r.status === "ran")).toBe(true)
        // Reference seeds report the rows their data holds; the generated ones wrote nothing.
        expect(other.filter((r) => r.profile !== "reference").reduce((sum, r) => sum + (r.rows ?? 0), 0)).toBe(0)
        expect(yield* counts).toEqual(after)
        // An unknown tenant in production: the chart seed names it.
        const missing = yield* Effect.flip(runSeeds({ tenant: "no-such-org" }, "production"))
        expect(missing._tag).toBe("SeedFailed")
        expect(missing.message).toContain("no organization with slug no-such-org")
      }))
  })
}
