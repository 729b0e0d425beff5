// Maintenance in process: every condition (stale statistics, dead rows, an invalid index, a
// NOT VALID constraint, orphans, a cross-tenant reference, old rows) is created for real on a
// scratch database (or the embedded one), found, fixed, and seen gone.
import * as SqlClient from "@effect/sql/SqlClient"
import { describe, expect, it, layer } from "@effect/vitest"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as path from "node:path"
import pg from "pg"
import * as Config from "../src/Config.js"
import { relationships, retention } from "../src/example/rules.js"
import type { Guard } from "../src/Guard.js"
import { percentiles } from "../src/maintenance/loadTest.js"
import * as Maintenance from "../src/maintenance/Maintenance.js"
import { describeStatement, recommend } from "../src/maintenance/stats.js"
import { planTasks } from "../src/maintenance/tasks.js"
import { EmbeddedLive, ScratchDatabase, serverAvailable, ServerLive } from "./support/databases.js"
import { withMigrator } from "./support/migrations.js"
import { NonInteractiveGuard } from "./support/terminal.js"

const server = await serverAvailable()
const referenceMigrations = path.resolve(import.meta.dirname, "../migrations")

interface Setting {
  readonly environment?: Config.Environment
  readonly env?: Record<string, string>
  readonly options?: Maintenance.MaintenanceOptions
}

/** The example project's rules, as its dbkit.config.ts declares them. */
const exampleRules: Maintenance.MaintenanceOptions = {
  tenantTable: "organizations",
  relationships,
  retention: retention.map((rule) => ({ ...rule, keep: Duration.decode(rule.keep as Duration.DurationInput) }))
}

/** Runs `f` with Maintenance (in `environment`, with `options`) over the database in context. */
const withMaintenance = <A, E>(
  f: (m: Maintenance.Maintenance["Type"]) => Effect.Effect<A, E, Guard>,
  setting: Setting = {}
) =>
  Effect.flatMap(Maintenance.Maintenance, f).pipe(
    Effect.provide(
      Maintenance.layer({ ...exampleRules, ...setting.options }).pipe(
        Layer.provide(Config.layerFrom({ environment: setting.environment ?? "development" }))
      )
    ),
    Effect.provide(NonInteractiveGuard(setting.environment ?? "development")),
    Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(setting.env ?? {}))))
  )

const migrate = withMigrator(referenceMigrations, undefined, (m) => m.migrate())

/**
 * A session of its own on the scratch database, as an application would have: each statement
 * runs alone and its statistics are flushed after it (they would otherwise reach shared memory
 * up to seconds later, or be counted twice by a following ANALYZE).
 */
const session = Effect.acquireRelease(
  Effect.flatMap(ScratchDatabase, (scratch) =>
    Effect.promise(async () => {
      const client = new pg.Client({ connectionString: Redacted.value(scratch.url) })
      await client.connect()
      return client
    })),
  (client) => Effect.promise(() => client.end().catch(() => undefined))
).pipe(Effect.map((client) => ({
  run: (...statements: ReadonlyArray<string>) =>
    Effect.promise(async () => {
      for (const statement of statements) {
        await client.query(statement)
        await client.query("SELECT pg_stat_force_next_flush()")
      }
    }),
  /** A statement expected to fail; its message. */
  fail: (statement: string) =>
    Effect.promise(() => client.query(statement).then(() => "succeeded", (e: Error) => e.message)),
  rows: <A>(text: string, params: Array<unknown> = []) =>
    Effect.promise(() => client.query(text, params).then((r) => r.rows as Array<A>))
})))

const count = (table: string, where = "true") =>
  Effect.flatMap(
    SqlClient.SqlClient,
    (sql) =>
      Effect.map(sql.unsafe<{ n: number }>(`SELECT count(*)::int AS n FROM ${table} WHERE ${where}`), (r) => r[0]!.n)
  )

/**
 * A table and its primary key that grew after the catalog last measured them (created empty,
 * autovacuum off: relpages 0 and 1 page while they hold megabytes), beside smaller decoys whose
 * relpages ANALYZE measured after their rows went in.
 */
const grownPastTheEstimate = [
  "CREATE SCHEMA ranked",
  "CREATE TABLE ranked.grown (id int PRIMARY KEY, label text) WITH (autovacuum_enabled = false)",
  "INSERT INTO ranked.grown SELECT g, 'row number ' || g FROM generate_series(1, 60000) g",
  ...["a", "b", "c"].flatMap((n) => [
    `CREATE TABLE ranked.decoy_${n} (id int, label text) WITH (autovacuum_enabled = false)`,
    `INSERT INTO ranked.decoy_${n} SELECT g, 'row number ' || g FROM generate_series(1, 3000) g`,
    `CREATE INDEX decoy_${n}_id ON ranked.decoy_${n} (id)`,
    `ANALYZE ranked.decoy_${n}`
  ])
]

/** `db stats` lists the grown table and index first, by their actual size, whatever the catalog estimated. */
const expectRankedByActualSize = (
  report: Maintenance.StatsReport,
  catalog: ReadonlyArray<{ name: string; relpages: number; bytes: number }>
) => {
  const grown = catalog.find((c) => c.name === "grown")!
  const pkey = catalog.find((c) => c.name === "grown_pkey")!
  // The precondition that makes this a test: by the estimate the grown ones are the smallest.
  expect(grown.relpages).toBe(0)
  expect(pkey.relpages).toBeLessThanOrEqual(1)
  for (const decoy of catalog.filter((c) => c.name.startsWith("decoy_"))) {
    expect(decoy.relpages).toBeGreaterThan(1)
    expect(decoy.bytes).toBeLessThan(pkey.bytes)
  }
  expect(pkey.bytes).toBeGreaterThan(1024 * 1024)
  expect(report.tables[0]).toMatchObject({ table: "ranked.grown", tableBytes: grown.bytes })
  expect(report.indexes[0]).toMatchObject({ index: "ranked.grown_pkey", bytes: pkey.bytes })
  expect(report.indexes.map((i) => i.bytes)).toEqual([...report.indexes.map((i) => i.bytes)].sort((a, b) => b - a))
  expect(report.tables.map((t) => t.totalBytes)).toEqual(
    [...report.tables.map((t) => t.totalBytes)].sort((a, b) => b - a)
  )
}

const rankedCatalog = `SELECT c.relname AS name, c.relpages::int AS relpages, pg_relation_size(c.oid)::float8 AS bytes
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'ranked'`

describe("maintenance helpers", () => {
  it("a statement is shown normalised and short only when pg_stat_statements strips its literals", () => {
    expect(describeStatement("/* user=alice */ SELECT  id,\n name FROM users WHERE id = $1 -- who\n")).toBe(
      "SELECT id, name FROM users WHERE id = $1"
    )
    expect(describeStatement(`SELECT ${"x, ".repeat(40)}y FROM t`)).toHaveLength(80)
    expect(describeStatement("ALTER ROLE app PASSWORD 'hunter2'")).toBe("ALTER …")
    expect(describeStatement("SET app.tenant_id = 'acme'")).toBe("SET …")
    expect(describeStatement(null)).toBe("? …")
  })

  it("percentiles are nearest-rank over the samples", () => {
    const samples = Array.from({ length: 100 }, (_, i) => 100 - i) // 100 … 1
    expect(percentiles(samples)).toEqual({ p50: 50, p90: 90, p99: 99, max: 100, mean: 50.5 })
    expect(percentiles([7])).toEqual({ p50: 7, p90: 7, p99: 7, max: 7, mean: 7 })
    expect(percentiles([])).toEqual({ p50: 0, p90: 0, p99: 0, max: 0, mean: 0 })
  })

  it("plans leftovers first, rebuilds next, then tables; small or fresh tables need nothing", () => {
    const tasks = planTasks(
      [
        {
          schema: "s",
          table: "fresh",
          live: 50_000,
          dead: 10,
          modified: 100,
          analyzedAt: "2026-01-01T00:00:00.000Z",
          vacuumedAt: null
        },
        { schema: "s", table: "tiny", live: 10, dead: 500, modified: 500, analyzedAt: null, vacuumedAt: null },
        { schema: "s", table: "both", live: 1_000, dead: 5_000, modified: 5_000, analyzedAt: null, vacuumedAt: null }
      ],
      [{ schema: "s", index: "i_ccnew", table: "t", unique: false }, {
        schema: "s",
        index: "i",
        table: "t",
        unique: true
      }],
      Maintenance.defaultMaintenanceThresholds
    )
    expect(tasks.map((t) => t.statement)).toEqual([
      `DROP INDEX CONCURRENTLY "s"."i_ccnew"`,
      `REINDEX INDEX CONCURRENTLY "s"."i"`,
      `VACUUM (ANALYZE) "s"."both"`
    ])
    expect(tasks[1]!.reason).toContain("unique, so the rebuild fails while duplicate keys remain")
  })

  it("recommends an index only for big tables read mostly by big sequential scans", () => {
    const t = Maintenance.defaultMaintenanceThresholds
    const found = recommend(
      [
        { table: "s.big", live: 50_000, seq_scan: 100, seq_read: 5_000_000, idx_scan: 3 },
        { table: "s.indexed", live: 50_000, seq_scan: 100, seq_read: 5_000_000, idx_scan: 10_000 },
        { table: "s.small_scans", live: 50_000, seq_scan: 100, seq_read: 1_000, idx_scan: 0 }
      ],
      [{ index: "s.big_idx", table: "s.big", bytes: 2 * 1024 * 1024 }, {
        index: "s.small_idx",
        table: "s.big",
        bytes: 8192
      }],
      t,
      null
    )
    expect(found.map((r) => `${r.kind} ${r.target}`)).toEqual(["missing-index s.big", "unused-index s.big_idx"])
  })
})

describe.skipIf(!server)("Maintenance on the server", () => {
  layer(ServerLive, { excludeTestServices: true })("a scratch database with the reference schema", (it) => {
    it.scoped("maintain: stale statistics, dead rows and an invalid index are planned, fixed one by one, and the plan is then empty", () =>
      Effect.gen(function*() {
        yield* migrate
        const db = yield* session
        yield* db.run(
          "CREATE SCHEMA maint",
          "CREATE TABLE maint.stale (id int PRIMARY KEY, v int) WITH (autovacuum_enabled = false)",
          "INSERT INTO maint.stale SELECT g, g % 10 FROM generate_series(1, 2000) g",
          "CREATE TABLE maint.churn (id int PRIMARY KEY, v int) WITH (autovacuum_enabled = false)",
          "INSERT INTO maint.churn SELECT g, g FROM generate_series(1, 2000) g",
          "DELETE FROM maint.churn WHERE id > 200",
          "ANALYZE maint.churn", // fresh statistics, dead rows left
          "CREATE TABLE maint.dup (id int PRIMARY KEY, code int) WITH (autovacuum_enabled = false)",
          "INSERT INTO maint.dup SELECT g, g % 10 FROM generate_series(1, 20) g"
        )
        expect(yield* db.fail("CREATE UNIQUE INDEX CONCURRENTLY dup_code ON maint.dup (code)")).toContain(
          "could not create unique index"
        )

        const plan = yield* withMaintenance((m) => m.plan)
        expect(plan.map((t) => `${t.action} ${t.target}`)).toEqual([
          "reindex maint.dup_code",
          "vacuum maint.churn",
          "analyze maint.stale"
        ])
        expect(plan[0]!.reason).toContain("left by a failed CREATE INDEX CONCURRENTLY")
        expect(plan[1]!.reason).toMatch(/^1,800 dead rows, 90\.0% of the table/)
        expect(plan[2]!.reason).toBe("never analyzed, 2,000 rows changed")

        // The duplicates are still there: the rebuild fails (and says why), the rest runs.
        const first = yield* withMaintenance((m) => m.maintain())
        expect(first.tasks.map((t) => `${t.status} ${t.statement}`)).toEqual([
          `failed REINDEX INDEX CONCURRENTLY "maint"."dup_code"`,
          `done VACUUM "maint"."churn"`,
          `done ANALYZE "maint"."stale"`
        ])
        expect(first.tasks[0]!.error).toContain("could not create unique index")
        expect(first).toMatchObject({ done: 2, failed: 1 })

        // The failed REINDEX CONCURRENTLY left its copy behind: dropped first, then the rebuild.
        expect((yield* withMaintenance((m) => m.plan)).map((t) => `${t.action} ${t.target}`)).toEqual([
          "drop-index maint.dup_code_ccnew",
          "reindex maint.dup_code"
        ])
        yield* db.run("DELETE FROM maint.dup WHERE id > 10")
        const second = yield* withMaintenance((m) => m.maintain())
        expect(second).toMatchObject({ done: 2, failed: 0 })
        expect(yield* withMaintenance((m) => m.plan)).toEqual([])
        const [valid] = yield* db.rows<{ valid: boolean }>(
          "SELECT indisvalid AS valid FROM pg_index WHERE indexrelid = 'maint.dup_code'::regclass"
        )
        expect(valid!.valid).toBe(true)
      }))

    it.scoped("stats: a big table read by sequential scans and a never-used index are recommended; pg_stat_statements says how to enable it", () =>
      Effect.gen(function*() {
        const db = yield* session
        yield* db.run(
          "CREATE TABLE maint.big (id int PRIMARY KEY, v int, w int) WITH (autovacuum_enabled = false)",
          "INSERT INTO maint.big SELECT g, g % 100, g FROM generate_series(1, 12000) g",
          "CREATE INDEX big_w_idx ON maint.big (w)",
          Array.from({ length: 55 }, () => "SELECT count(*) FROM maint.big WHERE v = 7;").join("\n")
        )
        const options = { thresholds: { unusedIndexMinBytes: 100_000 } }
        const report = yield* withMaintenance((m) => m.stats({ limit: 5 }), { options })
        expect(report.topQueries.status).toBe("not installed")
        expect(report.topQueries.detail).toMatch(
          /^pg_stat_statements is not installed: add pg_stat_statements to shared_preload_libraries/
        )
        expect(report.tables).toHaveLength(5)
        expect(report.tables[0]).toMatchObject({
          table: "maint.big",
          liveRows: 12_000,
          seqScans: expect.any(Number),
          indexScans: 0
        })
        expect(report.tables[0]!.seqScans).toBeGreaterThanOrEqual(55)
        expect(report.tables[0]!.totalBytes).toBeGreaterThan(report.tables[0]!.tableBytes)
        expect(report.indexes.map((i) => i.index)).toContain("maint.big_w_idx")
        expect(report.recommendations.map((r) => `${r.kind} ${r.target}`)).toEqual([
          "missing-index maint.big",
          "unused-index maint.big_w_idx"
        ])
        expect(report.recommendations[1]!.detail).toContain("DROP INDEX CONCURRENTLY maint.big_w_idx")

        yield* db.run("CREATE EXTENSION pg_stat_statements")
        const installed = yield* withMaintenance((m) => m.stats({ limit: 1 }))
        expect(installed.topQueries).toMatchObject({ status: "not loaded", queries: [] })
        expect(installed.topQueries.detail).toContain(
          "installed but not loaded: add pg_stat_statements to shared_preload_libraries"
        )
        yield* db.run("DROP EXTENSION pg_stat_statements", "DROP TABLE maint.big")
      }))

    it.scoped("stats: the largest tables and indexes are ranked by their actual size, not by the catalog's stale estimate", () =>
      Effect.gen(function*() {
        const db = yield* session
        yield* Effect.acquireRelease(db.run(...grownPastTheEstimate), () => db.run("DROP SCHEMA ranked CASCADE"))
        const catalog = yield* db.rows<{ name: string; relpages: number; bytes: number }>(rankedCatalog)
        const report = yield* withMaintenance((m) => m.stats({ limit: 3 }))
        expectRankedByActualSize(report, catalog)
      }))

    it.scoped("validate: a NOT VALID check and foreign key, an orphaned audit entry and a cross-tenant invoice, each with sample keys; --tenant narrows", () =>
      Effect.gen(function*() {
        const db = yield* session
        // The test's rows in one transaction the audit triggers skip (as the seeder's do): the
        // audit log then holds exactly the two entries written by hand below.
        yield* db.run("BEGIN", "SELECT set_config('dbkit.audit', 'off', true)")
        const [acme] = yield* db.rows<{ id: string }>(
          "INSERT INTO organizations (slug, name) VALUES ('acme', 'Acme') RETURNING id"
        )
        const [globex] = yield* db.rows<{ id: string }>(
          "INSERT INTO organizations (slug, name) VALUES ('globex', 'Globex') RETURNING id"
        )
        const [ca] = yield* db.rows<{ id: string }>(
          "INSERT INTO customers (tenant_id, name) VALUES ($1, 'A') RETURNING id",
          [acme!.id]
        )
        const [user] = yield* db.rows<{ id: string }>(
          "INSERT INTO users (tenant_id, email, name) VALUES ($1, 'u@acme.test', 'U') RETURNING id",
          [acme!.id]
        )
        const invoice = (tenant: string, customer: string, number: string, total: number) =>
          Effect.map(
            db.rows<{ id: string }>(
              `INSERT INTO invoices (tenant_id, number, customer_id, issue_date, due_date, currency, total)
             VALUES ($1, $2, $3, current_date, current_date, 'EUR', $4) RETURNING id`,
              [tenant, number, customer, total]
            ),
            (rows) => rows[0]!.id
          )
        yield* invoice(acme!.id, ca!.id, "A-1", 10)
        const negative = yield* invoice(acme!.id, ca!.id, "A-2", -5)
        // acme's user given globex's role. The reference schema's keys between tenant tables are
        // composite since 0005 (an acme invoice cannot name globex's customer); user_roles.role_id
        // is the one that cannot be, because a role may be global (tenant_id NULL).
        const [globexRole] = yield* db.rows<{ id: string }>(
          "INSERT INTO roles (tenant_id, name) VALUES ($1, 'clerk') RETURNING id",
          [globex!.id]
        )
        yield* db.run(
          `INSERT INTO user_roles (tenant_id, user_id, role_id) VALUES ('${acme!.id}', '${user!.id}', '${
            globexRole!.id
          }')`
        )
        const crossTenant = `(${user!.id}, ${globexRole!.id})`
        const [orphan] = yield* db.rows<{ id: string }>(
          `INSERT INTO audit_log (tenant_id, actor, action, table_name, row_key)
           VALUES ($1, $2, 'update', 'invoices', 'A-1'), ($1, gen_random_uuid()::text, 'update', 'invoices', 'A-2') RETURNING id::text AS id`,
          [acme!.id, user!.id]
        ).pipe(Effect.map((rows) => rows.slice(1)))
        yield* db.run("COMMIT")
        yield* db.run(
          "ALTER TABLE invoices ADD CONSTRAINT invoices_total_nonnegative CHECK (total >= 0) NOT VALID",
          "CREATE TABLE maint.notes (id int PRIMARY KEY, customer_id uuid)",
          `INSERT INTO maint.notes VALUES (1, gen_random_uuid()), (2, '${ca!.id}'), (3, NULL)`,
          "ALTER TABLE maint.notes ADD CONSTRAINT notes_customer_fk FOREIGN KEY (customer_id) REFERENCES customers (id) NOT VALID"
        )

        const report = yield* withMaintenance((m) => m.validate())
        expect(report.findings.map((f) => [f.kind, f.table, f.name, f.count, f.sample])).toEqual([
          ["not-valid-constraint", "maint.notes", "notes_customer_fk", 1, ["1"]],
          ["not-valid-constraint", "public.invoices", "invoices_total_nonnegative", 1, [negative]],
          ["orphaned-rows", "public.audit_log", "audit_log.actor → users.id", 1, [orphan!.id]],
          ["cross-tenant-reference", "public.user_roles", "user_roles_role_id_roles_id_fk", 1, [crossTenant]]
        ])
        expect(report.findings[1]!.detail).toContain(`VALIDATE CONSTRAINT "invoices_total_nonnegative"`)
        expect(report.checked).toEqual({ constraints: 2, relationships: 1, tenantLinks: 1 })
        expect(report.rowLevelSecurity).toBe(false)

        // globex owns no bad row: only the schema-wide NOT VALID constraints remain (notes has no tenant).
        const forGlobex = yield* withMaintenance((m) => m.validate({ tenant: "globex" }))
        expect(forGlobex.tenant).toEqual({ id: globex!.id, slug: "globex" })
        expect(forGlobex.findings.map((f) => [f.name, f.count])).toEqual([["notes_customer_fk", 1], [
          "invoices_total_nonnegative",
          0
        ]])
        expect(forGlobex.findings[1]!.detail).toContain("every row satisfies it")
        expect((yield* Effect.flip(withMaintenance((m) => m.validate({ tenant: "initech" }))))._tag).toBe(
          "TenantNotFound"
        )

        // Declared relationships that do not fit the database are skipped with the reason, not failed.
        const custom = yield* withMaintenance((m) => m.validate(), {
          options: {
            relationships: [
              { table: "audit_log", column: "actor", references: "users.id", where: "action <> 'update'" },
              { table: "ledger", column: "user_id", references: "users.id" }
            ]
          }
        })
        expect(custom.findings.map((f) => f.kind)).not.toContain("orphaned-rows")
        expect(custom.skipped).toEqual(["ledger.user_id → users.id: no table ledger"])
        yield* db.run(
          "DELETE FROM user_roles WHERE role_id = '" + globexRole!.id + "'",
          "DROP TABLE maint.notes",
          "ALTER TABLE invoices DROP CONSTRAINT invoices_total_nonnegative",
          "DELETE FROM audit_log"
        )
      }))

    it.scoped("cleanup: counts old rows per rule, deletes only those (per tenant when asked) in batches, keeps recent ones", () =>
      Effect.gen(function*() {
        const db = yield* session
        const [a] = yield* db.rows<{ id: string }>(
          "INSERT INTO organizations (slug, name) VALUES ('old_a', 'A') RETURNING id"
        )
        const [b] = yield* db.rows<{ id: string }>(
          "INSERT INTO organizations (slug, name) VALUES ('old_b', 'B') RETURNING id"
        )
        const audit = (tenant: string, n: number, age: string) =>
          db.run(`INSERT INTO audit_log (tenant_id, actor, action, table_name, row_key, at)
                  SELECT '${tenant}', 'system', 'update', 't', g::text, now() - interval '${age}' FROM generate_series(1, ${n}) g`)
        yield* audit(a!.id, 4, "500 days")
        yield* audit(a!.id, 1, "10 days")
        yield* audit(b!.id, 3, "400 days")
        yield* audit(b!.id, 1, "364 days")
        const options = { batchSize: 3 }

        const plan = yield* withMaintenance((m) => m.cleanupPlan(), { options })
        expect(plan.rules.map((r) => [r.rule, r.table, r.rows, r.skipped])).toEqual([[
          "audit log",
          "public.audit_log",
          7,
          null
        ]])
        expect(Date.parse(plan.rules[0]!.cutoff!)).toBeLessThan(Date.now() - 364 * 86_400_000)
        expect((yield* withMaintenance((m) => m.cleanupPlan({ tenant: "old_a" }), { options })).rules[0]!.rows).toBe(4)

        const onlyA = yield* withMaintenance((m) => m.cleanup({ tenant: "old_a" }), { options })
        expect(onlyA.rules.map((r) => [r.status, r.deleted, r.batches])).toEqual([["done", 4, 2]])
        expect(yield* count("audit_log", `tenant_id = '${b!.id}'`)).toBe(4)
        const rest = yield* withMaintenance((m) => m.cleanup(), { options })
        expect(rest).toMatchObject({ deleted: 3, failed: 0 })
        expect(yield* count("audit_log")).toBe(2) // the recent ones
        expect((yield* withMaintenance((m) => m.cleanupPlan(), { options })).rules[0]!.rows).toBe(0)

        // A rule's own filter, and rules that do not apply.
        yield* audit(a!.id, 2, "40 days")
        const custom = yield* withMaintenance((m) => m.cleanup({ tenant: "old_a" }), {
          options: {
            retention: [
              {
                table: "audit_log",
                timestampColumn: "at",
                keep: "30 days",
                tenantScoped: true,
                where: "row_key <> '1'"
              },
              { table: "audit_log", timestampColumn: "at", keep: "1 day" },
              { table: "ledger", timestampColumn: "at", keep: "1 day", tenantScoped: true }
            ]
          }
        })
        expect(custom.rules.map((r) => [r.rule, r.status, r.deleted, r.skipped])).toEqual([
          ["audit_log.at", "done", 1, null],
          ["audit_log.at", "skipped", 0, "not tenant-scoped; runs only without --tenant"],
          ["ledger.at", "skipped", 0, "no table ledger"]
        ])
        yield* db.run("DELETE FROM audit_log")
      }))

    it.scoped("production: maintain, cleanup and load-test are refused without both variables; outside production they just run", () =>
      Effect.gen(function*() {
        const db = yield* session
        yield* db.run(
          "CREATE TABLE maint.prod (id int) WITH (autovacuum_enabled = false)",
          "INSERT INTO maint.prod SELECT g FROM generate_series(1, 1500) g"
        )
        const production = (env: Record<string, string>) => ({ environment: "production" as const, env })
        expect((yield* Effect.flip(withMaintenance((m) => m.maintain(), production({}))))._tag).toBe(
          "ProductionRefused"
        )
        expect((yield* Effect.flip(withMaintenance((m) => m.maintain({ yes: true }), production({}))))._tag).toBe(
          "ProductionRefused"
        )
        const unconfirmed = yield* Effect.flip(
          withMaintenance((m) => m.maintain(), production({ DB_MAINTAIN_ALLOW_PRODUCTION: "1" }))
        )
        expect(unconfirmed._tag).toBe("ConfirmationRequired")
        expect(unconfirmed.message).toContain("DB_MAINTAIN_CONFIRM=1")
        expect((yield* withMaintenance((m) => m.plan)).map((t) => t.target)).toEqual(["maint.prod"]) // nothing ran
        const allowed = yield* withMaintenance(
          (m) => m.maintain(),
          production({ DB_MAINTAIN_ALLOW_PRODUCTION: "1", DB_MAINTAIN_CONFIRM: "1" })
        )
        expect(allowed.tasks.map((t) => `${t.status} ${t.target}`)).toEqual(["done maint.prod"])

        expect((yield* Effect.flip(withMaintenance((m) => m.cleanup({ yes: true }), production({}))))._tag).toBe(
          "ProductionRefused"
        )
        const cleaned = yield* withMaintenance(
          (m) => m.cleanup({ yes: true }),
          production({ DB_CLEANUP_ALLOW_PRODUCTION: "1" })
        )
        expect(cleaned.failed).toBe(0)
        expect(
          (yield* Effect.flip(
            withMaintenance((m) => m.loadTest({ queries: 1, concurrency: 1, type: "read" }), production({}))
          ))._tag
        )
          .toBe("ProductionRefused")
        // The non-interactive guard would refuse if it were asked: in development it is not.
        expect((yield* withMaintenance((m) => m.cleanup(), { environment: "development" })).failed).toBe(0)
        expect((yield* withMaintenance((m) => m.cleanup(), { environment: "staging" })).failed).toBe(0)
      }))
    it.scoped("load-test: runs N queries at concurrency C, reports sane figures, and leaves no data behind", () =>
      Effect.gen(function*() {
        const before = {
          organizations: yield* count("organizations"),
          customers: yield* count("customers"),
          invoices: yield* count("invoices")
        }
        const report = yield* withMaintenance((m) => m.loadTest({ queries: 60, concurrency: 4, type: "mixed" }))
        expect(report).toMatchObject({
          type: "mixed",
          concurrency: 4,
          requested: 60,
          completed: 60,
          errors: 0,
          firstError: null,
          stoppedBy: "count"
        })
        const l = report.latencyMs
        expect(l.p50).toBeGreaterThan(0)
        expect(l.p50 <= l.p90 && l.p90 <= l.p99 && l.p99 <= l.max).toBe(true)
        expect(report.throughput).toBeGreaterThan(0)
        expect(report.fixture.tenants).toBeGreaterThanOrEqual(1)

        const bounded = yield* withMaintenance((m) =>
          m.loadTest({ queries: 10_000_000, concurrency: 2, type: "read", durationSeconds: 0.3 })
        )
        expect(bounded.stoppedBy).toBe("duration")
        expect(bounded.completed).toBeGreaterThan(0)
        expect(bounded.completed).toBeLessThan(10_000_000)

        expect({
          organizations: yield* count("organizations"),
          customers: yield* count("customers"),
          invoices: yield* count("invoices")
        }).toEqual(before)
        expect(yield* count("organizations", "slug LIKE 'dbkit_load_test%'")).toBe(0)
        const bad = yield* Effect.flip(withMaintenance((m) => m.loadTest({ queries: 0, concurrency: 1, type: "read" })))
        expect(bad.message).toBe("--queries must be a whole number of at least 1")
      }))
  })
})

layer(EmbeddedLive, { excludeTestServices: true })("Maintenance on the embedded database", (it) => {
  it.effect("stats, maintain, validate and cleanup work; top statements and the load test are not applicable", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* migrate
      yield* sql.unsafe(`CREATE TABLE stale (id int PRIMARY KEY, code int);
        INSERT INTO stale SELECT g, g % 10 FROM generate_series(1, 1500) g`)
      // The tenant rows without audit entries (skipped for the transaction, as the seeder's are):
      // the audit log holds exactly the five entries by a user id no user has.
      yield* sql.withTransaction(Effect.zipRight(
        sql`SELECT set_config('dbkit.audit', 'off', true)`,
        sql.unsafe(`
        INSERT INTO organizations (id, slug, name) VALUES ('00000000-0000-4000-8000-00000000000a', 'a', 'A'), ('00000000-0000-4000-8000-00000000000b', 'b', 'B');
        INSERT INTO users (id, tenant_id, email, name) VALUES ('00000000-0000-4000-8000-0000000000ca', '00000000-0000-4000-8000-00000000000a', 'u@a.test', 'U');
        INSERT INTO roles (id, tenant_id, name) VALUES ('00000000-0000-4000-8000-0000000000db', '00000000-0000-4000-8000-00000000000b', 'clerk');
        INSERT INTO user_roles (tenant_id, user_id, role_id)
          VALUES ('00000000-0000-4000-8000-00000000000a', '00000000-0000-4000-8000-0000000000ca', '00000000-0000-4000-8000-0000000000db');
        INSERT INTO audit_log (tenant_id, actor, action, table_name, row_key, at)
          SELECT '00000000-0000-4000-8000-00000000000a', '00000000-0000-4000-8000-0000000000ee', 'x', 't', g::text, now() - interval '2 years' FROM generate_series(1, 5) g`)
      ))
      const failed = yield* Effect.either(sql.unsafe("CREATE UNIQUE INDEX CONCURRENTLY stale_code ON stale (code)"))
      expect(failed._tag).toBe("Left")

      const stats = yield* withMaintenance((m) => m.stats())
      expect(stats.topQueries.status).toBe("not applicable")
      expect(stats.topQueries.detail).toContain("not applicable on the embedded database")
      expect(stats.tables.map((t) => t.table)).toContain("public.stale")

      expect((yield* withMaintenance((m) => m.plan)).map((t) => `${t.action} ${t.target}`)).toEqual([
        "reindex public.stale_code",
        "analyze public.stale"
      ])
      yield* sql.unsafe("DELETE FROM stale WHERE id > 10")
      expect((yield* withMaintenance((m) => m.maintain())).failed).toBe(0)
      expect(yield* withMaintenance((m) => m.plan)).toEqual([])

      const report = yield* withMaintenance((m) => m.validate())
      expect(report.findings.map((f) => [f.kind, f.count, f.sample])).toEqual([
        ["orphaned-rows", 5, ["1", "2", "3", "4", "5"]], // actor …ee is no user
        ["cross-tenant-reference", 1, ["(00000000-0000-4000-8000-0000000000ca, 00000000-0000-4000-8000-0000000000db)"]]
      ])

      const cleaned = yield* withMaintenance((m) => m.cleanup(), { options: { batchSize: 2 } })
      expect(cleaned.rules.map((r) => [r.deleted, r.batches])).toEqual([[5, 3]])

      const refused = yield* Effect.flip(
        withMaintenance((m) => m.loadTest({ queries: 1, concurrency: 1, type: "read" }))
      )
      expect(refused._tag).toBe("NotSupportedOnEmbedded")
      expect(refused.message).toContain("needs a PostgreSQL server")
    }))

  it.effect("stats: the largest tables and indexes are ranked by their actual size, not by the catalog's stale estimate", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* Effect.gen(function*() {
        for (const statement of grownPastTheEstimate) yield* sql.unsafe(statement)
        const catalog = yield* sql.unsafe<{ name: string; relpages: number; bytes: number }>(rankedCatalog)
        const report = yield* withMaintenance((m) => m.stats({ limit: 3 }))
        expectRankedByActualSize(report, catalog)
      }).pipe(Effect.ensuring(Effect.orDie(sql.unsafe("DROP SCHEMA IF EXISTS ranked CASCADE"))))
    }))
})
