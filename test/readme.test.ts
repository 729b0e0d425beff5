// The README's library example, run as written (on the embedded database, in memory).
import { expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { Migrator, MigrationSource, PgliteLive } from "../src/index.js"
import * as Layer from "effect/Layer"

it.live("README: `yield* Migrator` in an Effect program", () => {
  // --- README example start ---
  const program = Effect.gen(function*() {
    const migrator = yield* Migrator
    const result = yield* migrator.migrate({ to: "0002_rls_force_and_grants" })
    const status = yield* migrator.status
    return { applied: result.applied.map((m) => m.name), pending: status.pending }
  })

  const MainLive = Migrator.layer({ source: MigrationSource.fromDirectory("migrations") }).pipe(
    Layer.provideMerge(PgliteLive({ dataDir: "memory://" })) // or PgLive({ url }) / DatabaseLive
  )
  // --- README example end ---
  return Effect.gen(function*() {
    const { applied, pending } = yield* program.pipe(Effect.provide(MainLive))
    expect(applied).toEqual(["0000_app_role", "0001_reference_schema", "0002_rls_force_and_grants"])
    expect(pending).toEqual(["0003_customer_contact", "0004_audit_triggers"]) // after `to`, the later ones wait
  })
}, 120_000)
