// Tenancy: provisioning (idempotent, atomic, concurrent), schema-per-tenant withTenant, migrate-all over tenants and
// shards with failures and --resume, suspend/resume, guarded deprovision with a backup first — on the server and the
// embedded database.
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as SqlClient from "@effect/sql/SqlClient"
import { describe, expect, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as fs from "node:fs"
import * as path from "node:path"
import * as Config from "../src/Config.js"
import { fromDirectory } from "../src/migrator/source.js"
import * as Tenancy from "../src/tenancy/Tenancy.js"
import {
  createScratchDatabase,
  dropScratchDatabase,
  EmbeddedLive,
  serverAvailable,
  ServerLive,
  tempDir
} from "./support/databases.js"
import { withMigrator, writeFolder } from "./support/migrations.js"
import { NonInteractiveGuard } from "./support/terminal.js"

const server = await serverAvailable()
const referenceMigrations = path.resolve(import.meta.dirname, "../migrations")

const tenantFolder = () =>
  writeFolder({
    "0001_ledger.sql":
      "CREATE TABLE ledger (id serial PRIMARY KEY, memo text NOT NULL, amount numeric(12,2) NOT NULL DEFAULT 0);",
    "0002_ledger_index.sql": "CREATE INDEX ledger_memo_idx ON ledger (memo);"
  })

const withTenancy = <A, E, R>(
  options: Tenancy.TenancyOptions,
  f: (tenancy: Tenancy.Tenancy["Type"]) => Effect.Effect<A, E, R>,
  backupDir = tempDir("dbkit-tenancy-")
) =>
  Effect.flatMap(Tenancy.Tenancy, f).pipe(
    Effect.provide(
      Tenancy.layer(options).pipe(
        Layer.provide(Layer.merge(Config.layerFrom({ environment: "development", backupDir }), NodeContext.layer))
      )
    )
  )

const schemaExists = (schema: string) =>
  Effect.flatMap(
    SqlClient.SqlClient,
    (sql) =>
      Effect.map(
        sql<{ e: boolean }>`SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = ${schema}) AS e`,
        ([row]) => row!.e
      )
  )

describe.skipIf(!server)("Tenancy, schema per tenant, on the server", () => {
  layer(ServerLive, { excludeTestServices: true })("provision, withTenant, migrate-all", (it) => {
    it.effect("provisions idempotently (also two at once), isolates by search_path, and leaves nothing on a failure", () =>
      Effect.gen(function*() {
        const dir = tenantFolder()
        const options = { strategy: "schema" as const, migrations: fromDirectory(dir) }
        const first = yield* withTenancy(options, (t) => t.provision("acme", { name: "Acme Ltd" }))
        expect(first.created).toBe(true)
        expect(first.applied).toBe(2)
        expect(first.tenant).toMatchObject({
          slug: "acme",
          name: "Acme Ltd",
          strategy: "schema",
          schema: "tenant_acme",
          status: "active",
          shard: "default"
        })
        const again = yield* withTenancy(options, (t) => t.provision("acme"))
        expect(again.created).toBe(false)
        expect(again.tenant.id).toBe(first.tenant.id)
        // Two provisioners of one slug at once: one makes it, the other finds it made.
        const racing = yield* Effect.all([
          withTenancy(options, (t) => t.provision("globex")),
          withTenancy(options, (t) => t.provision("globex"))
        ], { concurrency: 2 })
        expect(racing.map((r) => r.created).sort()).toEqual([false, true])
        // Each tenant's unqualified tables are its own.
        yield* withTenancy(options, (t) =>
          Effect.gen(function*() {
            const sql = yield* SqlClient.SqlClient
            yield* t.withTenant("acme", sql`INSERT INTO ledger (memo) VALUES ('acme only')`)
            yield* t.withTenant(first.tenant.id, sql`INSERT INTO ledger (memo) VALUES ('acme by id')`)
            const acme = yield* t.withTenant("acme", sql<{ memo: string }>`SELECT memo FROM ledger ORDER BY id`)
            const globex = yield* t.withTenant("globex", sql<{ memo: string }>`SELECT memo FROM ledger`)
            expect(acme.map((r) => r.memo)).toEqual(["acme only", "acme by id"])
            expect(globex).toEqual([])
            const [path_] = yield* sql<{ p: string }>`SELECT current_setting('search_path') AS p`
            expect(path_!.p).not.toContain("tenant_")
            // A failure inside rolls back.
            const failed = yield* Effect.flip(
              t.withTenant(
                "acme",
                Effect.zipRight(sql`INSERT INTO ledger (memo) VALUES ('gone')`, Effect.fail("boom" as const))
              )
            )
            expect(failed).toBe("boom")
            const [count] = yield* sql<{ n: number }>`SELECT count(*)::int AS n FROM tenant_acme.ledger`
            expect(count!.n).toBe(2)
            expect((yield* Effect.flip(t.withTenant("nobody", sql`SELECT 1`)))._tag).toBe("TenantNotFound")
          }))
        // A tenant migration that fails: no schema, no registry row, the slug free again.
        const broken = writeFolder({
          "0001_ok.sql": "CREATE TABLE a (x int);",
          "0002_bad.sql": "CREATE TABLE b (x no_such_type);"
        })
        const failed = yield* Effect.flip(
          withTenancy({ strategy: "schema", migrations: fromDirectory(broken) }, (t) => t.provision("initech"))
        )
        expect(failed._tag).toBe("ProvisionFailed")
        expect(failed.message).toContain("no_such_type")
        expect(yield* schemaExists("tenant_initech")).toBe(false)
        const listed = yield* withTenancy(options, (t) => t.list)
        expect(listed.map((t) => t.slug)).toEqual(["acme", "globex"])
        // rls and schema do not mix in one registry.
        expect((yield* Effect.flip(withTenancy({ strategy: "rls" }, (t) => t.provision("acme"))))._tag).toBe(
          "TenantStrategyMismatch"
        )
      }))

    it.effect("migrate-all fans out, carries on past a failing tenant, and --resume retries only what failed", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const dir = tenantFolder()
        const options = { strategy: "schema" as const, migrations: fromDirectory(dir) }
        const slugs = ["t_one", "t_two", "t_three", "t_four", "t_five"]
        yield* withTenancy(options, (t) => Effect.forEach(slugs, (slug) => t.provision(slug), { discard: true }))
        const upToDate = yield* withTenancy(options, (t) => t.migrateAll({ concurrency: 3 }))
        expect(upToDate.failed).toBe(0)
        expect(upToDate.results.filter((r) => r.target.startsWith("t_")).every((r) => r.state === "up to date")).toBe(
          true
        )
        // A new tenant migration; one tenant already has a conflicting table.
        fs.writeFileSync(path.join(dir, "0003_notes.sql"), "CREATE TABLE notes (id int PRIMARY KEY, body text);")
        yield* sql.unsafe(`CREATE TABLE tenant_t_three.notes (x int)`)
        const seen: Array<string> = []
        const report = yield* withTenancy(
          options,
          (t) =>
            t.migrateAll({
              concurrency: 3,
              onResult: (r, done, total) => Effect.sync(() => void seen.push(`${done}/${total} ${r.target} ${r.state}`))
            })
        )
        const mine = report.results.filter((r) => slugs.includes(r.target))
        expect(mine.filter((r) => r.state === "failed").map((r) => r.target)).toEqual(["t_three"])
        expect(mine.find((r) => r.target === "t_three")!.error).toContain("already exists")
        expect(mine.filter((r) => r.state === "applied")).toHaveLength(4)
        expect(seen).toHaveLength(report.results.length)
        const three = yield* withTenancy(options, (t) => t.get("t_three"))
        expect(three.migration).toMatchObject({ state: "failed" })
        // Fixed by hand; --resume touches only the failed one.
        yield* sql.unsafe(`DROP TABLE tenant_t_three.notes`)
        const resumed = yield* withTenancy(options, (t) => t.migrateAll({ resume: true }))
        expect(resumed.results.map((r) => r.target)).toEqual(["t_three"])
        expect(resumed.results[0]).toMatchObject({ state: "applied", applied: 1 })
        const again = yield* withTenancy(options, (t) => t.migrateAll({ resume: true }))
        expect(again.results).toEqual([])
      }))

    it.scoped("tenants on two shards: provisioned where their shard is, migrated across both, deprovisioned there", () =>
      Effect.gen(function*() {
        const other = yield* Effect.acquireRelease(
          Effect.promise(() => createScratchDatabase("dbkit_shard")),
          ({ name }) => Effect.promise(() => dropScratchDatabase(name))
        )
        const shards = new Map([["eu", Redacted.make(other.url)]])
        const dir = tenantFolder()
        const options = { strategy: "schema" as const, migrations: fromDirectory(dir), shards }
        yield* withTenancy(options, (t) => t.provision("home_a"))
        const remote = yield* withTenancy(options, (t) => t.provision("remote_b", { shard: "eu" }))
        expect(remote.tenant.shard).toBe("eu")
        expect(yield* schemaExists("tenant_remote_b")).toBe(false) // not here …
        const pg = yield* Effect.promise(() => import("pg"))
        const onShard = async (text: string) => {
          const client = new pg.default.Client({ connectionString: other.url })
          await client.connect()
          try {
            return (await client.query(text)).rows
          } finally {
            await client.end()
          }
        }
        expect(yield* Effect.promise(() => onShard(`SELECT 1 FROM pg_namespace WHERE nspname = 'tenant_remote_b'`)))
          .toHaveLength(1) // … there
        expect((yield* Effect.flip(withTenancy(options, (t) => t.provision("x_c", { shard: "mars" }))))._tag).toBe(
          "UnknownShard"
        )
        fs.writeFileSync(path.join(dir, "0003_more.sql"), "ALTER TABLE ledger ADD COLUMN note text;")
        const report = yield* withTenancy(options, (t) => t.migrateAll({ concurrency: 2 }))
        const byTarget = Object.fromEntries(report.results.map((r) => [r.target, r]))
        expect(byTarget["home_a"]).toMatchObject({ shard: "default", state: "applied", applied: 1 })
        expect(byTarget["remote_b"]).toMatchObject({ shard: "eu", state: "applied", applied: 1 })
        expect(
          yield* Effect.promise(() =>
            onShard(
              `SELECT column_name FROM information_schema.columns WHERE table_schema = 'tenant_remote_b' AND column_name = 'note'`
            )
          )
        ).toHaveLength(1)
        // Deprovision: guarded, backed up (0600) from its shard, then gone.
        const out = tempDir("dbkit-tenant-backup-")
        const refused = yield* Effect.flip(
          withTenancy(options, (t) => t.deprovision("remote_b", { out })).pipe(Effect.provide(NonInteractiveGuard()))
        )
        expect(refused._tag).toBe("ConfirmationRequired")
        const production = yield* Effect.flip(
          withTenancy(options, (t) => t.deprovision("remote_b", { out, yes: true })).pipe(
            Effect.provide(NonInteractiveGuard("production"))
          )
        )
        expect(production._tag).toBe("ProductionRefused")
        const gone = yield* withTenancy(options, (t) => t.deprovision("remote_b", { out, yes: true })).pipe(
          Effect.provide(NonInteractiveGuard())
        )
        expect(path.basename(gone.backup!)).toMatch(/^tenant_remote_b_backup_.*\.sql\.gz$/)
        expect(fs.statSync(gone.backup!).mode & 0o777).toBe(0o600)
        const manifest = JSON.parse(fs.readFileSync(`${gone.backup}.json`, "utf8"))
        expect(Object.keys(manifest.tables)).toEqual(["tenant_remote_b.dbkit_migrations", "tenant_remote_b.ledger"])
        expect(yield* Effect.promise(() => onShard(`SELECT 1 FROM pg_namespace WHERE nspname = 'tenant_remote_b'`)))
          .toHaveLength(0)
        expect((yield* Effect.flip(withTenancy(options, (t) => t.get("remote_b"))))._tag).toBe("TenantNotFound")
      }))
  })
})

describe.skipIf(!server)("Tenancy, row-level security, on the server", () => {
  layer(ServerLive, { excludeTestServices: true })("provision, suspend, deprovision", (it) => {
    it.effect("provisions into the registry and the organizations table at once; suspend stops withTenant; deprovision exports then deletes", () =>
      Effect.gen(function*() {
        yield* withMigrator(referenceMigrations, undefined, (m) => m.migrate())
        const sql = yield* SqlClient.SqlClient
        const options = { strategy: "rls" as const, role: "dbkit_app", tenantTable: "organizations" }
        const acme = (yield* withTenancy(options, (t) => t.provision("acme", { name: "Acme" }))).tenant
        const globex = (yield* withTenancy(options, (t) => t.provision("globex"))).tenant
        const [org] = yield* sql<{ slug: string }>`SELECT slug FROM organizations WHERE id = ${acme.id}::uuid`
        expect(org!.slug).toBe("acme")
        // A clash in the application's table rolls the registry row back too.
        yield* sql`INSERT INTO organizations (slug, name) VALUES ('initech', 'Taken')`
        expect((yield* Effect.flip(withTenancy(options, (t) => t.provision("initech"))))._tag).toBe("ProvisionFailed")
        expect((yield* Effect.flip(withTenancy(options, (t) => t.get("initech"))))._tag).toBe("TenantNotFound")
        // Rows for both tenants, written as each.
        yield* withTenancy(
          options,
          (t) =>
            Effect.forEach([acme, globex], (tenant) =>
              t.withTenant(
                tenant.id,
                sql`INSERT INTO customers (tenant_id, name, email) SELECT ${tenant.id}::uuid, 'c' || g, 'c' || g || '@example.com' FROM generate_series(1, 3) g`
              ))
        )
        const seen = yield* withTenancy(
          options,
          (t) => t.withTenant("acme", sql<{ n: number }>`SELECT count(*)::int AS n FROM customers`)
        )
        expect(seen[0]!.n).toBe(3)
        // Suspended: refused, data kept; resumed: back.
        yield* withTenancy(options, (t) => t.suspend("acme"))
        const refused = yield* Effect.flip(withTenancy(options, (t) => t.withTenant("acme", sql`SELECT 1`)))
        expect(refused._tag).toBe("TenantUnavailable")
        expect(refused.message).toContain("suspended")
        yield* withTenancy(options, (t) => t.resume("acme"))
        yield* withTenancy(options, (t) => t.withTenant("acme", sql`SELECT 1`))
        // Deprovision: the export holds exactly acme's rows and puts them back with psql.
        // Its rows include the audit trail the triggers (migration 0004) wrote for acme's customers:
        // written as the application role, which cannot skip auditing.
        const trail = sql<{ entry: string }>`
          SELECT concat_ws(' ', id, action, table_name, row_key) AS entry FROM audit_log WHERE tenant_id = ${acme.id}::uuid ORDER BY id`
        const audited = yield* trail
        expect(audited).toHaveLength(3)
        const out = tempDir("dbkit-tenant-backup-")
        const gone = yield* withTenancy(options, (t) => t.deprovision("acme", { yes: true, out })).pipe(
          Effect.provide(NonInteractiveGuard())
        )
        expect(gone.removed).toMatchObject({ "public.customers": 3 })
        expect(fs.statSync(gone.backup!).mode & 0o777).toBe(0o600)
        const [left] = yield* sql<{ acme: number; globex: number }>`
          SELECT count(*) FILTER (WHERE tenant_id = ${acme.id}::uuid)::int AS acme, count(*) FILTER (WHERE tenant_id = ${globex.id}::uuid)::int AS globex FROM customers`
        expect(left).toEqual({ acme: 0, globex: 3 })
        const { gunzipSync } = yield* Effect.promise(() => import("node:zlib"))
        const script = gunzipSync(fs.readFileSync(gone.backup!)).toString()
        expect(script).not.toContain(globex.id)
        yield* sql.unsafe(script)
        const [back] = yield* sql<
          { n: number }
        >`SELECT count(*)::int AS n FROM customers WHERE tenant_id = ${acme.id}::uuid`
        expect(back!.n).toBe(3)
        expect(yield* trail).toEqual(audited) // the same entries, none added by putting the rows back
      }))
  })
})

describe("Tenancy on the embedded database", () => {
  layer(EmbeddedLive, { excludeTestServices: true })("schema per tenant", (it) => {
    it.effect("provisions, isolates, migrates all and deprovisions", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const dir = tenantFolder()
        const options = { strategy: "schema" as const, migrations: fromDirectory(dir) }
        yield* withTenancy(options, (t) => Effect.all([t.provision("alpha"), t.provision("beta")]))
        yield* withTenancy(options, (t) => t.withTenant("alpha", sql`INSERT INTO ledger (memo) VALUES ('a')`))
        const beta = yield* withTenancy(options, (t) => t.withTenant("beta", sql`SELECT * FROM ledger`))
        expect(beta).toEqual([])
        fs.writeFileSync(path.join(dir, "0003_notes.sql"), "CREATE TABLE notes (id int);")
        const report = yield* withTenancy(options, (t) => t.migrateAll({ concurrency: 4 }))
        expect(report).toMatchObject({ applied: 2, failed: 0 })
        const gone = yield* withTenancy(options, (t) =>
          t.deprovision("alpha", { yes: true, out: tempDir("dbkit-tenant-backup-") })).pipe(
            Effect.provide(NonInteractiveGuard())
          )
        expect(fs.existsSync(gone.backup!)).toBe(true)
        expect(yield* schemaExists("tenant_alpha")).toBe(false)
        expect(yield* schemaExists("tenant_beta")).toBe(true)
      }))
  })
})
