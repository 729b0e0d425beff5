// The README's library example, run as written (on the embedded database, in memory).
import * as NodeContext from "@effect/platform-node/NodeContext"
import { expect, it } from "@effect/vitest"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { Database, DbConfig, Maintenance, MigrationSource, Migrator, Seeder, Tenancy } from "../src/index.js"

it.live("README: `yield* Migrator` in an Effect program", () => {
  // --- README example start ---
  const program = Effect.gen(function*() {
    const migrator = yield* Migrator
    const result = yield* migrator.migrate({ to: "0002_rls_force_and_grants" })
    const status = yield* migrator.status
    return { applied: result.applied.map((m) => m.name), pending: status.pending }
  })

  const MainLive = Migrator.layer({ source: MigrationSource.fromDirectory("migrations") }).pipe(
    Layer.provideMerge(Database.layerPglite({ dataDir: "memory://" })) // or Database.layerPg({ url }) / Database.layerConfig
  )
  // --- README example end ---
  return Effect.gen(function*() {
    const { applied, pending } = yield* program.pipe(Effect.provide(MainLive))
    expect(applied).toEqual(["0000_app_role", "0001_reference_schema", "0002_rls_force_and_grants"])
    expect(pending).toEqual([
      "0003_customer_contact",
      "0004_audit_triggers",
      "0005_tenant_safe_keys",
      "0006_tenant_safe_keys_validate",
      "0007_tenant_transaction_stamp"
    ]) // after `to`, the later ones wait
  })
})

it.live("README: every service's layerConfig reads the project's dbkit.config.ts, as the commands do", () => {
  // The repository's own dbkit.config.ts (the example project), on an in-memory embedded database.
  const ProjectLive = Layer.mergeAll(
    Migrator.layerConfig(),
    Seeder.layerConfig(),
    Maintenance.layerConfig(),
    Tenancy.layerConfig()
  ).pipe(Layer.provideMerge(Database.layerConfig), Layer.provideMerge(DbConfig.layer), Layer.provide(NodeContext.layer))
  return Effect.gen(function*() {
    const migrated = yield* Effect.flatMap(Migrator, (m) => m.migrate())
    expect(migrated.applied.map((m) => m.name)).toContain("0007_tenant_transaction_stamp")
    const seeded = yield* Effect.flatMap(Seeder, (s) => s.run({ profile: "reference" }))
    expect(seeded.map((r) => r.seed).sort()).toEqual(["chart_of_accounts", "permissions", "roles"])
    const integrity = yield* Effect.flatMap(Maintenance, (m) => m.validate())
    expect(integrity.checked.relationships).toBe(1) // audit_log.actor → users.id, declared in src/example/rules.ts
    const cleanup = yield* Effect.flatMap(Maintenance, (m) => m.cleanupPlan())
    expect(cleanup.rules.map((r) => r.rule)).toEqual(["audit log"])
    const tenants = yield* Effect.flatMap(Tenancy, (t) => t.list)
    expect(tenants).toEqual([])
  }).pipe(
    Effect.provide(ProjectLive),
    Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["DBKIT_DATA_DIR", "memory://"]])))
  )
})
