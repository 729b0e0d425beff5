// Reset, hard and soft, on both databases; the cache flush against the real Redis.
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as SqlClient from "@effect/sql/SqlClient"
import { expect, layer } from "@effect/vitest"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { Redis } from "ioredis"
import * as fs from "node:fs"
import * as path from "node:path"
import { layer as backupLayer } from "../src/backup/Backup.js"
import * as Config from "../src/Config.js"
import { referenceSeeds } from "../src/example/seeds/index.js"
import * as Migrator from "../src/migrator/Migrator.js"
import { fromDirectory } from "../src/migrator/source.js"
import { layer as resetLayer, Reset, type ResetOptions } from "../src/reset/Reset.js"
import * as Seeder from "../src/seeder/Seeder.js"
import { backends, tempDir } from "./support/databases.js"
import { NonInteractiveGuard } from "./support/terminal.js"

const referenceMigrations = path.resolve(import.meta.dirname, "../migrations")
const redisUrl = "redis://127.0.0.1:6379/0"

const reset = (
  options: ResetOptions,
  settings: { environment?: Config.Environment; backupDir?: string; env?: Record<string, string> } = {}
) => {
  const config = Config.layerFrom({
    environment: settings.environment ?? "development",
    backupDir: settings.backupDir ?? tempDir("dbkit-reset-")
  })
  const services = resetLayer.pipe(
    Layer.provideMerge(Migrator.layer({ source: fromDirectory(referenceMigrations) })),
    Layer.provideMerge(Seeder.layer({ seeds: referenceSeeds })),
    Layer.provideMerge(backupLayer),
    Layer.provide(Layer.merge(config, NodeContext.layer))
  )
  return Effect.flatMap(Reset, (r) => r.reset(options)).pipe(
    Effect.provide(services),
    Effect.provide(NonInteractiveGuard(settings.environment ?? "development")),
    Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(settings.env ?? {}))))
  )
}

const count = (table: string) =>
  Effect.flatMap(
    SqlClient.SqlClient,
    (sql) => Effect.map(sql.unsafe<{ n: number }>(`SELECT count(*)::int AS n FROM ${table}`), (r) => r[0]!.n)
  )

for (const backend of await backends()) {
  layer(backend.layer, { excludeTestServices: true })(`Reset on the ${backend.name} database`, (it) => {
    it.effect("refuses without confirmation, and checks --with-cache's settings before changing anything", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        yield* Effect.flatMap(Migrator.Migrator, (m) => m.migrate()).pipe(
          Effect.provide(Migrator.layer({ source: fromDirectory(referenceMigrations) }))
        )
        yield* sql`INSERT INTO organizations (slug, name) VALUES ('keep', 'Keep')`
        expect((yield* Effect.flip(reset({ mode: "hard" })))._tag).toBe("ConfirmationRequired")
        expect((yield* Effect.flip(reset({ mode: "hard", yes: true }, { environment: "production" })))._tag).toBe(
          "ProductionRefused"
        )
        const noRedis = yield* Effect.flip(reset({ mode: "soft", yes: true, withCache: true }))
        expect(noRedis._tag).toBe("InvalidBackupOptions")
        expect(yield* count("organizations")).toBe(1)
      }))

    it.effect("soft: empties every application table, restarts identities, keeps migrations, forgets seeds; --seed reseeds", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const first = yield* reset({ mode: "soft", yes: true, seed: { seed: 3 } })
        expect(first.seeded).toBeGreaterThan(0)
        const invoices = yield* count("invoices")
        expect(invoices).toBeGreaterThan(0)
        const [org] = yield* sql<{ id: string }>`SELECT id FROM organizations LIMIT 1`
        yield* sql`INSERT INTO audit_log (tenant_id, actor, action, table_name, row_key) VALUES (${
          org!.id
        }, 'a', 'x', 't', 'k')`
        const result = yield* reset({ mode: "soft", yes: true })
        expect(result.cleared).toContain("public.invoices")
        expect(result.migrated).toEqual([])
        expect(yield* count("invoices")).toBe(0)
        expect(yield* count("dbkit.migrations")).toBe(8)
        expect(yield* count("dbkit.seeds")).toBe(0)
        const again = yield* reset({ mode: "soft", yes: true, seed: { seed: 3 } })
        expect(again.seeded).toBe(first.seeded) // forgotten, so all ran again
        expect(yield* count("invoices")).toBe(invoices)
        const [orgAgain] = yield* sql<{ id: string }>`SELECT id FROM organizations LIMIT 1`
        yield* sql`INSERT INTO audit_log (tenant_id, actor, action, table_name, row_key) VALUES (${
          orgAgain!.id
        }, 'a', 'x', 't', 'k')`
        const ids = yield* sql<{ id: string }>`SELECT id::text FROM audit_log`
        expect(ids.map((r) => r.id)).toEqual(["1"]) // identity restarted
      }))

    it.effect("hard: drops what migrations did not create, re-migrates from scratch; outside development it backs up first", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        yield* sql.unsafe(
          `CREATE TABLE public.handmade (x int); CREATE SCHEMA scratchpad; CREATE TABLE scratchpad.t (x int)`
        )
        const backupDir = tempDir("dbkit-reset-")
        const result = yield* reset({ mode: "hard", yes: true }, { environment: "staging", backupDir })
        expect(result.cleared).toEqual(expect.arrayContaining(["public", "dbkit", "scratchpad"]))
        expect(result.migrated).toEqual([
          "0000_app_role",
          "0001_reference_schema",
          "0002_rls_force_and_grants",
          "0003_customer_contact",
          "0004_audit_triggers",
          "0005_tenant_safe_keys",
          "0006_tenant_safe_keys_validate",
          "0007_tenant_transaction_stamp"
        ])
        expect(result.safetyBackup).not.toBeNull()
        expect(fs.existsSync(result.safetyBackup!)).toBe(true)
        const gone = yield* sql<{ h: boolean; s: boolean }>`
          SELECT to_regclass('public.handmade') IS NULL AS h, NOT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = 'scratchpad') AS s`
        expect(gone[0]).toEqual({ h: true, s: true })
        expect(yield* count("organizations")).toBe(0)
      }))

    it.effect("--with-cache deletes the application's keys with SCAN + UNLINK and leaves every other key", () =>
      Effect.gen(function*() {
        const prefix = `dbkit-test:${backend.name}:${process.pid}:${Date.now()}:`
        const redis = new Redis(redisUrl)
        yield* Effect.promise(async () => {
          const pipeline = redis.pipeline()
          for (let i = 0; i < 1200; i++) pipeline.set(`${prefix}${i}`, "cached")
          pipeline.set(`${prefix.slice(0, -1)}-other:keep`, "not ours")
          await pipeline.exec()
        })
        const result = yield* reset({ mode: "soft", yes: true, withCache: true }, {
          env: { REDIS_URL: redisUrl, DB_CACHE_PREFIX: prefix }
        }).pipe(Effect.ensuring(Effect.void))
        expect(result.cacheKeysDeleted).toBe(1200)
        const left = yield* Effect.promise(async () => {
          const ours = await redis.keys(`${prefix}*`)
          const other = await redis.get(`${prefix.slice(0, -1)}-other:keep`)
          await redis.del(`${prefix.slice(0, -1)}-other:keep`)
          redis.disconnect()
          return { ours: ours.length, other }
        })
        expect(left).toEqual({ ours: 0, other: "not ours" })
      }))
  })
}
