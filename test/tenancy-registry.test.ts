// One tenant registry: seeded organizations are tenants (same id and slug), slugs with `-` for both strategies,
// domains, plans and metadata, lookup by id, slug or domain, hostile input refused with nothing changed, the other
// strategy refused, seeding one tenant (by id, no new organization; the schema strategy in its schema), an old
// registry brought up to date, and a deprovision that fails typed with no stray backup file — on the server and
// the embedded database.
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as SqlClient from "@effect/sql/SqlClient"
import { describe, expect, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as fs from "node:fs"
import * as path from "node:path"
import * as Config from "../src/Config.js"
import { referenceSeeds } from "../src/example/seeds/index.js"
import { fromDirectory } from "../src/migrator/source.js"
import * as Seeder from "../src/seeder/Seeder.js"
import * as Registry from "../src/tenancy/registry.js"
import { seedTenant } from "../src/tenancy/seedTenant.js"
import * as Tenancy from "../src/tenancy/Tenancy.js"
import { backends, serverAvailable, ServerLive, tempDir } from "./support/databases.js"
import { withMigrator, writeFolder } from "./support/migrations.js"
import { NonInteractiveGuard } from "./support/terminal.js"

const server = await serverAvailable()
const referenceMigrations = path.resolve(import.meta.dirname, "../migrations")

/** Tenancy (and a Seeder over `seeds`) with these options, on the database in scope. */
const withServices = <A, E, R>(
  options: Tenancy.TenancyOptions,
  f: (tenancy: Tenancy.Tenancy["Type"]) => Effect.Effect<A, E, R>,
  seeds: ReadonlyArray<Seeder.Seed> = [],
  backupDir = tempDir("dbkit-registry-")
) =>
  Effect.flatMap(Tenancy.Tenancy, f).pipe(
    Effect.provide(
      Layer.merge(Tenancy.layer(options), Seeder.layer({ seeds })).pipe(
        Layer.provide(Layer.merge(Config.layerFrom({ environment: "development", backupDir }), NodeContext.layer))
      )
    )
  )

const scalar = (query: string, params: ReadonlyArray<unknown> = []) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) => Effect.map(sql.unsafe<{ n: number }>(query, params), (r) => r[0]!.n))

/** What hostile input must leave unchanged: registry rows and schemas. */
const footprint = Effect.all({
  tenants: scalar(`SELECT CASE WHEN to_regclass('dbkit.tenants') IS NULL THEN -1
                        ELSE (SELECT count(*)::int FROM dbkit.tenants) END AS n`),
  schemas: scalar(`SELECT count(*)::int AS n FROM pg_namespace`)
})

const hostileSlugs = [
  "Robert'); DROP TABLE x;--",
  "fortium demo",
  "fortium--demo",
  "-fortium",
  "fortium-",
  "fortium_-demo",
  "fоrtium", // a Cyrillic о
  "FORTIUM",
  "x".repeat(41),
  "public",
  "pg-catalog",
  "tenants",
  "",
  "0a1b2c3d-1111-4111-8111-123456789abc"
]

const hostileAttributes: ReadonlyArray<Tenancy.ProvisionOptions> = [
  { domain: "no_underscores.example.com" },
  { domain: "localhost" },
  { domain: "evil.example.com'; DROP TABLE x; --" },
  { domain: "dеmo.example.com" }, // a Cyrillic е
  { domain: "10.0.0.1" },
  { domain: `${"a".repeat(64)}.example.com` },
  { plan: "x".repeat(41) },
  { plan: "pro'); --" },
  { metadata: "[1, 2, 3]" },
  { metadata: "not json" },
  { metadata: "null" },
  { metadata: JSON.stringify({ blob: "x".repeat(17 * 1024) }) },
  { id: "not-a-uuid" }
]

for (const backend of await backends()) {
  describe(`the tenant registry on the ${backend.name} database`, () => {
    layer(backend.layer, { excludeTestServices: true })("rls: provision, lookup, hostile input", (it) => {
      it.effect("a slug with - provisions; get finds it by id, slug and domain; hostile slugs, domains, plans and metadata change nothing", () =>
        Effect.gen(function*() {
          const options = { strategy: "rls" as const }
          const made = yield* withServices(options, (t) =>
            t.provision("fortium-demo", {
              name: "Fortium Demo",
              domain: "Demo.Fortium.Example",
              plan: "pro",
              metadata: JSON.stringify({ region: "eu", seats: 12 })
            }))
          expect(made.created).toBe(true)
          expect(made.tenant).toMatchObject({
            slug: "fortium-demo",
            domain: "demo.fortium.example",
            plan: "pro",
            metadata: { region: "eu", seats: 12 },
            schema: null
          })
          for (const key of [made.tenant.id, "fortium-demo", "demo.fortium.example", "DEMO.fortium.example"]) {
            expect((yield* withServices(options, (t) => t.get(key))).id).toBe(made.tenant.id)
          }
          const before = yield* footprint
          for (const slug of hostileSlugs) {
            const refused = yield* Effect.flip(withServices(options, (t) => t.provision(slug)))
            expect(refused._tag, slug).toBe("InvalidTenantSlug")
            expect(refused.message).toContain("is not a valid tenant slug")
          }
          for (const attributes of hostileAttributes) {
            const refused = yield* Effect.flip(withServices(options, (t) => t.provision("initech", attributes)))
            expect(refused._tag, JSON.stringify(attributes).slice(0, 80)).toBe("InvalidTenantAttribute")
            expect(refused.message).toContain("nothing was changed")
          }
          // Taken: the domain (in any case), and a slug that differs only in - and _.
          const taken = yield* Effect.flip(
            withServices(options, (t) => t.provision("initech", { domain: "demo.FORTIUM.example" }))
          )
          expect(taken.message).toContain("tenant fortium-demo already has it")
          const twin = yield* Effect.flip(withServices(options, (t) => t.provision("fortium_demo")))
          expect(twin._tag).toBe("InvalidTenantSlug")
          expect(twin.message).toContain("tenant_fortium_demo")
          expect(yield* footprint).toEqual(before)
          // Provisioning again is idempotent; the other strategy is refused, typed.
          expect((yield* withServices(options, (t) => t.provision("fortium-demo"))).created).toBe(false)
          const folder = writeFolder({ "0001_ledger.sql": "CREATE TABLE ledger (id serial PRIMARY KEY, memo text);" })
          const schemaOptions = { strategy: "schema" as const, migrations: fromDirectory(folder) }
          const mismatch = yield* Effect.flip(withServices(schemaOptions, (t) => t.provision("fortium-demo")))
          expect(mismatch._tag).toBe("TenantStrategyMismatch")
          const conflict = yield* Effect.flip(withServices(schemaOptions, (t) => t.provision("umbrella")))
          expect(conflict._tag).toBe("RegistryStrategyConflict")
          expect(conflict.message).toContain("the registry holds 1 rls tenant(s) (e.g. fortium-demo)")
          expect(yield* footprint).toEqual(before)
        }))
    })

    layer(backend.layer, { excludeTestServices: true })("schema strategy: a slug with -", (it) => {
      it.effect("provisions tenant_fortium_demo, which withTenant and seedTenant use; an unknown tenant seeds nothing", () =>
        Effect.gen(function*() {
          const folder = writeFolder({ "0001_ledger.sql": "CREATE TABLE ledger (id serial PRIMARY KEY, memo text);" })
          const options = { strategy: "schema" as const, migrations: fromDirectory(folder) }
          const sql = yield* SqlClient.SqlClient
          const made = yield* withServices(options, (t) => t.provision("fortium-demo", { domain: "fortium.example" }))
          expect(made.tenant.schema).toBe("tenant_fortium_demo")
          expect(made.applied).toBe(1)
          yield* sql`INSERT INTO tenant_fortium_demo.ledger (memo) VALUES ('direct')`
          const seen = yield* withServices(
            options,
            (t) => t.withTenant("fortium-demo", sql<{ memo: string }>`SELECT memo FROM ledger`)
          )
          expect(seen.map((r) => r.memo)).toEqual(["direct"])
          // A seed writing to an unqualified table, run for the tenant found by its domain: it lands in its schema.
          const ledgerSeed = Seeder.make({
            name: "ledger",
            profile: "development",
            run: (context) =>
              Effect.flatMap(
                SqlClient.SqlClient,
                (s) =>
                  s`INSERT INTO ledger (memo) VALUES (${`seeded for ${
                    context.tenant._tag === "Some" ? context.tenant.value : "?"
                  }`})`
              )
          })
          yield* withServices(options, () => seedTenant("fortium.example"), [ledgerSeed])
          expect(yield* sql<{ memo: string }>`SELECT memo FROM tenant_fortium_demo.ledger ORDER BY id`).toEqual([
            { memo: "direct" },
            { memo: "seeded for fortium-demo" }
          ])
          expect(yield* scalar(`SELECT count(*)::int AS n FROM pg_tables WHERE tablename = 'ledger'`)).toBe(1)
          const before = yield* footprint
          const unknown = yield* Effect.flip(withServices(options, () => seedTenant("globex"), [ledgerSeed]))
          expect(unknown._tag).toBe("TenantNotFound")
          expect(yield* footprint).toEqual(before)
        }))
    })

    layer(backend.layer, { excludeTestServices: true })("seeded organizations", (it) => {
      it.effect("dbkit's development seed registers every organization it makes; seeding an existing tenant by id adds no organization", () =>
        Effect.gen(function*() {
          yield* withMigrator(referenceMigrations, undefined, (m) => m.migrate())
          const options = { strategy: "rls" as const, tenantTable: "organizations" }
          yield* withServices(options, () => Effect.flatMap(Seeder.Seeder, (s) => s.run({ seed: 7 })), referenceSeeds)
          const sql = yield* SqlClient.SqlClient
          const organizations = yield* sql<{ id: string; slug: string }>`
            SELECT id::text AS id, slug FROM organizations ORDER BY slug COLLATE "C"`
          expect(organizations.length).toBeGreaterThan(0)
          const tenants = yield* withServices(options, (t) => t.list)
          expect(tenants.map((t) => ({ id: t.id, slug: t.slug }))).toEqual(organizations)
          expect(tenants.every((t) => t.strategy === "rls" && t.status === "active")).toBe(true)
          // The lookup `audit report --tenant` and `db validate --tenant` go through finds them.
          expect((yield* Registry.find(organizations[0]!.slug))?.id).toBe(organizations[0]!.id)
          // --tenant <the uuid of an existing tenant>: its data, no organization named after the uuid.
          const before = organizations.length
          yield* withServices(options, () => seedTenant(organizations[1]!.id, { seed: 7 }), referenceSeeds)
          expect(yield* scalar(`SELECT count(*)::int AS n FROM organizations`)).toBe(before)
          expect(
            yield* scalar(`SELECT count(*)::int AS n FROM dbkit.seeds WHERE tenant = $1`, [organizations[1]!.slug])
          )
            .toBeGreaterThan(0)
          const unknownId = yield* Effect.flip(
            withServices(options, () => seedTenant("0a1b2c3d-1111-4111-8111-123456789abc"), referenceSeeds)
          )
          expect(unknownId._tag).toBe("TenantNotFound")
          // A new slug: the seeds create the organization and register it as a tenant.
          yield* withServices(options, () => seedTenant("acme-trading", { seed: 7 }), referenceSeeds)
          const acme = yield* withServices(options, (t) => t.get("acme-trading"))
          expect(yield* scalar(`SELECT count(*)::int AS n FROM organizations WHERE id = $1::uuid`, [acme.id])).toBe(1)
          expect(yield* scalar(`SELECT count(*)::int AS n FROM organizations`)).toBe(before + 1)
        }))
    })
  })
}

describe.skipIf(!server)("the tenant registry on the server: upgrades and failed deprovisioning", () => {
  layer(ServerLive, { excludeTestServices: true })("old registries and deprovision failures", (it) => {
    it.effect("a registry made before domains and slugs with - gets the columns and keeps its tenants", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        yield* sql.unsafe(`CREATE SCHEMA dbkit;
          CREATE TABLE dbkit.tenants (
            id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
            slug text NOT NULL UNIQUE CHECK (slug ~ '^[a-z][a-z0-9_]*$' AND length(slug) <= 40),
            name text NOT NULL, strategy text NOT NULL CHECK (strategy IN ('rls', 'schema')), schema_name text UNIQUE,
            status text NOT NULL DEFAULT 'provisioning', shard text NOT NULL DEFAULT 'default',
            migration_state text, migration_error text, migrated_at timestamptz,
            created_at timestamptz NOT NULL DEFAULT now(), updated_at timestamptz NOT NULL DEFAULT now(),
            CHECK ((strategy = 'schema') = (schema_name IS NOT NULL)));
          INSERT INTO dbkit.tenants (slug, name, strategy, status) VALUES ('old_one', 'Old', 'rls', 'active')`)
        const options = { strategy: "rls" as const }
        const made = yield* withServices(options, (t) => t.provision("new-one", { plan: "free" }))
        expect(made.tenant.plan).toBe("free")
        const listed = yield* withServices(options, (t) => t.list)
        expect(listed.map((t) => [t.slug, t.domain, t.metadata])).toEqual([["new-one", null, {}], [
          "old_one",
          null,
          {}
        ]])
      }))

    it.effect("deprovisioning a tenant whose rows another tenant references fails typed; nothing is deleted, no backup file is left", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        yield* sql.unsafe(`
          CREATE TABLE orgs (id uuid PRIMARY KEY, slug text NOT NULL UNIQUE, name text NOT NULL);
          CREATE TABLE projects (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), tenant_id uuid NOT NULL, name text);
          CREATE TABLE links (id serial PRIMARY KEY, tenant_id uuid NOT NULL, project_id uuid REFERENCES projects (id))`)
        const options = { strategy: "rls" as const, tenantTable: "orgs" }
        const a = (yield* withServices(options, (t) => t.provision("alpha-co"))).tenant
        const b = (yield* withServices(options, (t) => t.provision("bravo-co"))).tenant
        yield* sql`INSERT INTO projects (tenant_id, name) VALUES (${a.id}::uuid, 'shared')`
        yield* sql`INSERT INTO links (tenant_id, project_id) SELECT ${b.id}::uuid, id FROM projects`
        const out = tempDir("dbkit-deprovision-")
        const failed = yield* Effect.flip(
          withServices(options, (t) => t.deprovision("alpha-co", { yes: true, out })).pipe(
            Effect.provide(NonInteractiveGuard())
          )
        )
        expect(failed._tag).toBe("DeprovisionFailed")
        expect(failed).toMatchObject({ slug: "alpha-co", referenced: true })
        expect(failed.message).toContain("remove those references first")
        expect(fs.readdirSync(out)).toEqual([])
        expect((yield* withServices(options, (t) => t.get("alpha-co"))).id).toBe(a.id)
        expect(yield* scalar(`SELECT count(*)::int AS n FROM projects WHERE tenant_id = $1::uuid`, [a.id])).toBe(1)
        // Once the reference is gone it goes through, with its backup.
        yield* sql`DELETE FROM links`
        const gone = yield* withServices(options, (t) => t.deprovision("alpha-co", { yes: true, out })).pipe(
          Effect.provide(NonInteractiveGuard())
        )
        expect(fs.readdirSync(out)).toEqual([path.basename(gone.backup!)])
      }))
  })
})
