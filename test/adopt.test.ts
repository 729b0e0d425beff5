// `migrate adopt`: projects that used drizzle's or @effect/sql's migrator switch to dbkit
// without re-running anything. Each test migrates a fresh database with the other tool first.
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as PgMigrator from "@effect/sql-pg/PgMigrator"
import * as Migrator from "@effect/sql/Migrator"
import * as SqlClient from "@effect/sql/SqlClient"
import { describe, expect, it } from "@effect/vitest"
import { PGlite } from "@electric-sql/pglite"
import { drizzle as drizzleNodePg } from "drizzle-orm/node-postgres"
import { migrate as drizzleMigrateNodePg } from "drizzle-orm/node-postgres/migrator"
import { drizzle as drizzlePglite } from "drizzle-orm/pglite"
import { migrate as drizzleMigratePglite } from "drizzle-orm/pglite/migrator"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as path from "node:path"
import pg from "pg"
import { PgliteLive, PgLive } from "../src/Database.js"
import {
  createScratchDatabase,
  dropScratchDatabase,
  pgliteTemplate,
  serverAvailable,
  tempDir
} from "./support/databases.js"
import { referenceMigrationsThrough, withMigrator, writeFolder } from "./support/migrations.js"

const server = await serverAvailable()
const referenceMigrations = path.resolve(import.meta.dirname, "../migrations")
/** What drizzle's migrator can apply: it runs all in one transaction, and 0005 builds indexes CONCURRENTLY. */
const drizzleHistory = referenceMigrationsThrough("0004_audit_triggers")
/** The reference migrations dbkit runs after adopting drizzle's history. */
const addedSinceDrizzle = ["0005_tenant_safe_keys", "0006_tenant_safe_keys_validate", "0007_tenant_transaction_stamp"]

/** A fresh server database for the life of the test. */
const scratchServer = Effect.acquireRelease(
  Effect.promise(() => createScratchDatabase("dbkit_adopt")),
  ({ name }) => Effect.promise(() => dropScratchDatabase(name))
)

describe.skipIf(!server)("adopt on the server", () => {
  it.scoped("imports drizzle's history: nothing re-runs and status is up to date", () =>
    Effect.gen(function*() {
      const db = yield* scratchServer
      yield* Effect.promise(async () => {
        const pool = new pg.Pool({ connectionString: db.url })
        await drizzleMigrateNodePg(drizzleNodePg(pool), { migrationsFolder: drizzleHistory })
        await pool.end()
      })
      const program = Effect.gen(function*() {
        const adopted = yield* withMigrator(referenceMigrations, undefined, (m) => m.adopt)
        expect(adopted.adopted).toEqual([
          { name: "0000_app_role", from: "drizzle" },
          { name: "0001_reference_schema", from: "drizzle" },
          { name: "0002_rls_force_and_grants", from: "drizzle" },
          { name: "0003_customer_contact", from: "drizzle" },
          { name: "0004_audit_triggers", from: "drizzle" }
        ])
        const again = yield* withMigrator(referenceMigrations, undefined, (m) => m.adopt)
        expect(again.adopted).toEqual([])
        const result = yield* withMigrator(referenceMigrations, undefined, (m) => m.migrate())
        expect(result.applied.map((m) => m.name)).toEqual(addedSinceDrizzle)
        expect((yield* withMigrator(referenceMigrations, undefined, (m) => m.status)).pending).toEqual([])
      })
      yield* program.pipe(Effect.provide(PgLive({ url: Redacted.make(db.url) })))
    }))

  it.scoped("imports @effect/sql's history by migration number; only newer migrations run", () =>
    Effect.gen(function*() {
      const db = yield* scratchServer
      const { PgClient } = yield* Effect.promise(() => import("@effect/sql-pg"))
      const client = PgClient.layer({ url: Redacted.make(db.url) })
      yield* PgMigrator.run({
        loader: Migrator.fromRecord({
          "1_users": Effect.flatMap(SqlClient.SqlClient, (sql) => sql`CREATE TABLE users (id int primary key)`),
          "2_orders": Effect.flatMap(SqlClient.SqlClient, (sql) => sql`CREATE TABLE orders (id int primary key)`)
        })
      }).pipe(Effect.provide(Layer.merge(client, NodeContext.layer)))
      const dir = writeFolder({
        "0001_users.sql": "CREATE TABLE users (id int primary key);",
        "0002_orders.sql": "CREATE TABLE orders (id int primary key);",
        "0003_lines.sql": "CREATE TABLE lines (id int primary key);"
      })
      const program = Effect.gen(function*() {
        const adopted = yield* withMigrator(dir, undefined, (m) => m.adopt)
        expect(adopted.adopted).toEqual([
          { name: "0001_users", from: "@effect/sql" },
          { name: "0002_orders", from: "@effect/sql" }
        ])
        const result = yield* withMigrator(dir, undefined, (m) => m.migrate())
        expect(result.applied.map((a) => a.name)).toEqual(["0003_lines"])
      })
      yield* program.pipe(Effect.provide(PgLive({ url: Redacted.make(db.url) })))
    }))
})

describe("adopt on the embedded database", () => {
  it.scoped("imports the history drizzle's PGlite migrator left in a data directory", () =>
    Effect.gen(function*() {
      const dataDir = path.join(tempDir(), "pglite")
      yield* Effect.promise(async () => {
        const pglite = await PGlite.create(dataDir, { loadDataDir: pgliteTemplate() })
        await drizzleMigratePglite(drizzlePglite(pglite), { migrationsFolder: drizzleHistory })
        await pglite.close()
      })
      const program = Effect.gen(function*() {
        const adopted = yield* withMigrator(referenceMigrations, undefined, (m) => m.adopt)
        expect(adopted.adopted.map((a) => a.name)).toEqual([
          "0000_app_role",
          "0001_reference_schema",
          "0002_rls_force_and_grants",
          "0003_customer_contact",
          "0004_audit_triggers"
        ])
        const migrated = yield* withMigrator(referenceMigrations, undefined, (m) => m.migrate())
        expect(migrated.applied.map((m) => m.name)).toEqual(addedSinceDrizzle)
      })
      yield* program.pipe(Effect.provide(PgliteLive({ dataDir })))
    }))
})
