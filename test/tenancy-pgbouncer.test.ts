// Tenant isolation behind a transaction-pooling PgBouncer, where most production applications connect: many clients
// share a few server connections, and withTenant's transaction-local setting is what keeps tenants apart. A
// session-level `SET app.tenant_id` by a misbehaving client does outlive its transaction on the server connection (the
// truth of transaction pooling, shown here), but it reaches no one: the reference schema's policies read the tenant
// through app_current_tenant(), which honours only a tenant stamped by the current transaction (withTenant's), so a
// bare query as the application role on that connection sees and writes nothing.
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as SqlClient from "@effect/sql/SqlClient"
import { describe, expect, layer } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as path from "node:path"
import * as Config from "../src/Config.js"
import { PgLive } from "../src/Database.js"
import * as Tenancy from "../src/tenancy/Tenancy.js"
import { ScratchDatabase, serverAvailable, ServerLive, tempDir } from "./support/databases.js"
import { withMigrator } from "./support/migrations.js"
import { pgbouncerBinary, startPgBouncer } from "./support/pgbouncer.js"
import {
  customersByTenant,
  loginMemberOfAppRole,
  type Provisioned,
  provisionTenants,
  query,
  rawClient,
  seedCustomers
} from "./support/tenancy.js"

const server = await serverAvailable()
const binary = server ? pgbouncerBinary() : undefined
const referenceMigrations = path.resolve(import.meta.dirname, "../migrations")
const APP_ROLE = "dbkit_app"

const TenancySupport = Layer.merge(
  Config.layerFrom({ environment: "development", backupDir: tempDir("dbkit-pgb-test-") }),
  NodeContext.layer
)

/** The reference schema migrated on the scratch database; Tenancy over a direct connection, for provisioning. */
const Direct = Layer.mergeAll(
  Tenancy.layer({ strategy: "rls", role: APP_ROLE, tenantTable: "organizations" }),
  Layer.effectDiscard(Effect.orDie(withMigrator(referenceMigrations, undefined, (m) => m.migrate())))
).pipe(Layer.provide(TenancySupport), Layer.provideMerge(ServerLive))

class Boom extends Data.TaggedError("Boom")<{ readonly at: number }> {}

/** The tenant, role and server backend of the current transaction, and the customers it sees. */
const whoAndWhat = (sql: SqlClient.SqlClient) =>
  Effect.all({
    me: Effect.map(
      sql<{ tenant: string | null; role: string; pid: number }>`
        SELECT current_setting('app.tenant_id', true) AS tenant, current_user::text AS role, pg_backend_pid() AS pid`,
      (rows) => rows[0]!
    ),
    rows: sql<{ id: string; tenant: string }>`SELECT id::text AS id, tenant_id::text AS tenant FROM customers`
  })

/** Tenancy and its SqlClient over PgBouncer's URL, with `poolSize` client connections, for the scope. */
const tenancyThrough = (url: string, poolSize: number, options: Tenancy.TenancyOptions) =>
  Effect.map(
    Layer.build(
      Tenancy.layer(options).pipe(
        Layer.provideMerge(Layer.orDie(PgLive({ url: Redacted.make(url), poolSize }))),
        Layer.provide(TenancySupport)
      )
    ),
    (context) => ({ tenancy: Context.get(context, Tenancy.Tenancy), sql: Context.get(context, SqlClient.SqlClient) })
  )

const SETTING_AND_ROWS =
  `SELECT pg_backend_pid() AS pid, coalesce(current_setting('app.tenant_id', true), '') AS tenant,
  (SELECT coalesce(array_agg(id::text ORDER BY id::text COLLATE "C"), '{}') FROM customers) AS ids`
interface SettingAndRows {
  readonly pid: number
  readonly tenant: string
  readonly ids: Array<string>
}

const skipped = !server ? " (skipped: no PostgreSQL server)" : !binary ? " (skipped: pgbouncer is not installed)" : ""

describe.skipIf(!server || !binary)(`Tenant isolation behind PgBouncer in transaction pooling mode${skipped}`, () => {
  layer(Direct, { excludeTestServices: true })("one scratch database, a private PgBouncer per test", (it) => {
    it.effect(
      "400 withTenant reads and writes from 6 tenants, 40 fibers over a pool of 20 client connections sharing 3 server connections: 0 cross-tenant rows",
      () =>
        Effect.gen(function*() {
          const scratch = yield* ScratchDatabase
          const tenants = yield* provisionTenants("pool", 6)
          const bouncer = yield* startPgBouncer(binary!, { database: scratch.name, users: [], poolSize: 3 })
          const app = yield* tenancyThrough(bouncer.url(), 20, { strategy: "rls", role: APP_ROLE })
          const { sql, tenancy } = app
          const model = new Map(tenants.map((t) => [t.id, new Set<string>()]))
          const locks = new Map<string, Effect.Semaphore>()
          const READERS = 10
          for (const t of tenants) locks.set(t.id, yield* Effect.makeSemaphore(READERS))
          const kinds = ["read", "read", "read", "read", "insert", "insert", "crossInsert", "failAfterWrite"] as const
          const kindOf = (index: number) =>
            (index * 7 + 1) % tenants.length === index % tenants.length
              ? "read"
              : kinds[(index * 5 + Math.floor(index / 6)) % kinds.length]!
          const pids = new Set<number>()
          const done = new Map<string, number>()
          const run = (index: number) =>
            Effect.gen(function*() {
              const tenant = tenants[index % tenants.length]!
              const other = tenants[(index * 7 + 1) % tenants.length]!
              const kind = kindOf(index)
              const context = `op ${index} (${kind} as ${tenant.slug})`
              const own = model.get(tenant.id)!
              const as = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
                tenancy.withTenant(index % 2 ? tenant.id : tenant.slug, effect)
              if (kind === "read") {
                const { me, rows } = yield* as(whoAndWhat(sql))
                pids.add(me.pid)
                expect(me, context).toMatchObject({ tenant: tenant.id, role: APP_ROLE })
                for (const row of rows) expect(row.tenant, context).toBe(tenant.id)
                expect(rows.map((r) => r.id).sort(), context).toEqual([...own].sort())
              } else if (kind === "insert") {
                const rows = yield* as(sql<{ id: string; tenant: string }>`
                INSERT INTO customers (tenant_id, name) VALUES (${tenant.id}::uuid, ${`c${index}`})
                RETURNING id::text AS id, tenant_id::text AS tenant`)
                expect(rows.map((r) => r.tenant), context).toEqual([tenant.id])
                own.add(rows[0]!.id)
              } else if (kind === "crossInsert") {
                const error = yield* Effect.flip(
                  as(sql`INSERT INTO customers (tenant_id, name) VALUES (${other.id}::uuid, ${`stray ${index}`})`)
                )
                expect(String((error as { cause?: unknown }).cause), context).toMatch(
                  /violates row-level security policy for table "customers"/
                )
              } else {
                const error = yield* Effect.flip(as(
                  Effect.zipRight(
                    sql`INSERT INTO customers (tenant_id, name) VALUES (${tenant.id}::uuid, 'never')`,
                    Effect.fail(new Boom({ at: index }))
                  )
                ))
                expect(error, context).toEqual(new Boom({ at: index }))
              }
              done.set(kind, (done.get(kind) ?? 0) + 1)
            })
          yield* Effect.forEach(
            Array.from({ length: 400 }, (_, i) => i),
            // Reads of a tenant share its lock, a write holds all of it: the model stays exact, and reads pile up.
            (i) => locks.get(tenants[i % tenants.length]!.id)!.withPermits(kindOf(i) === "read" ? 1 : READERS)(run(i)),
            { concurrency: 40, discard: true }
          )

          for (const kind of new Set(kinds)) expect(done.get(kind) ?? 0, kind).toBeGreaterThan(0)
          // Connections were shared: up to 20 clients (and twice as many fibers) on at most 3 server backends.
          const clients = (yield* Effect.promise(() => bouncer.show<{ database: string }>("SHOW CLIENTS")))
            .filter((c) => c.database === scratch.name)
          const servers = (yield* Effect.promise(() => bouncer.show<{ database: string }>("SHOW SERVERS")))
            .filter((s) => s.database === scratch.name)
          const pools = (yield* Effect.promise(() =>
            bouncer.show<{ database: string; pool_mode: string }>("SHOW POOLS")
          ))
            .filter((p) => p.database === scratch.name)
          console.log(
            `pgbouncer: ${clients.length} client connections, ${servers.length} server connections, ${pids.size} server backends seen by withTenant`
          )
          expect(pools.map((p) => p.pool_mode)).toEqual(["transaction"])
          expect(servers.length).toBeLessThanOrEqual(3)
          expect(pids.size).toBeGreaterThan(0)
          expect(pids.size).toBeLessThanOrEqual(3)
          expect(clients.length).toBeGreaterThanOrEqual(10)
          expect(clients.length).toBeGreaterThan(servers.length)
          expect(clients.length).toBeGreaterThan(pids.size)
          // The superuser, directly: exactly the committed writes, nothing stray, nothing rolled back.
          const direct = yield* SqlClient.SqlClient
          expect(yield* customersByTenant(tenants)).toEqual(
            new Map(tenants.map((t) => [t.id, [...model.get(t.id)!].sort()]))
          )
          const [strays] = yield* direct<
            { n: number }
          >`SELECT count(*)::int AS n FROM customers WHERE name LIKE 'stray%' OR name = 'never'`
          expect(strays!.n).toBe(0)
        }).pipe(Effect.scoped),
      { timeout: 120_000 }
    )

    it.effect(
      "a misbehaving client's session-level SET app.tenant_id stays on the shared server connection but reaches no one: a bare query there sees and writes nothing, withTenant sees only its own tenant",
      () =>
        Effect.gen(function*() {
          const scratch = yield* ScratchDatabase
          const [a, b, c] = (yield* provisionTenants("leak", 3)) as [Provisioned, Provisioned, Provisioned]
          const aRows = yield* seedCustomers(a, 3)
          const bRows = yield* seedCustomers(b, 2)
          const cRows = yield* seedCustomers(c, 1)
          const role = yield* loginMemberOfAppRole(APP_ROLE)
          // One server connection for the application's login: every client is served by it.
          const bouncer = yield* startPgBouncer(binary!, { database: scratch.name, users: [role], poolSize: 1 })
          const misbehaving = yield* rawClient(bouncer.url(role))
          yield* query(misbehaving, `SET app.tenant_id = '${a.id}'`) // outside any transaction: session-level
          const others = yield* Effect.forEach(Array.from({ length: 5 }), () => rawClient(bouncer.url(role)))
          const bare = yield* Effect.forEach(others, (client) => query<SettingAndRows>(client, SETTING_AND_ROWS))
          const serverPid = bare[0]![0]!.pid
          // The truth of transaction pooling: the setting outlived the misbehaver's transaction and is on the
          // server connection every client shares; but no transaction stamped it, so another client's bare query
          // (no withTenant) sees none of a's rows, and cannot write as a either.
          for (const [row] of bare) expect(row).toEqual({ pid: serverPid, tenant: a.id, ids: [] })
          const bareWrite = yield* Effect.exit(
            query(others[1]!, `INSERT INTO customers (tenant_id, name) VALUES ('${a.id}', 'leaked write')`)
          )
          expect(Exit.isFailure(bareWrite)).toBe(true)

          // withTenant sets the tenant inside its own transaction: on the very same server connection, 10 clients'
          // interleaved calls for b and c see only their own tenant, never a, and cannot write for a.
          const app = yield* tenancyThrough(bouncer.url(role), 10, { strategy: "rls", tenantTable: "organizations" })
          const seen = yield* Effect.forEach(
            Array.from({ length: 60 }, (_, i) => (i % 2 ? b : c)),
            (tenant) => Effect.map(app.tenancy.withTenant(tenant.slug, whoAndWhat(app.sql)), (r) => ({ tenant, ...r })),
            { concurrency: 10 }
          )
          for (const { me, rows, tenant } of seen) {
            expect(me).toMatchObject({ tenant: tenant.id, pid: serverPid })
            expect(rows.map((r) => r.id).sort()).toEqual(tenant === b ? bRows : cRows)
          }
          const stray = yield* Effect.exit(
            app.tenancy.withTenant(
              b.id,
              app.sql`INSERT INTO customers (tenant_id, name) VALUES (${a.id}::uuid, 'stray')`
            )
          )
          expect(Exit.isFailure(stray)).toBe(true)
          // After them the server connection still carries a's session setting: withTenant neither relied on
          // nor cleared it, it only overrode it for its own transactions; and it still opens nothing.
          const [after] = yield* query<SettingAndRows>(others[0]!, SETTING_AND_ROWS)
          expect(after).toEqual({ pid: serverPid, tenant: a.id, ids: [] })
          expect(yield* customersByTenant([a, b, c])).toEqual(new Map([[a.id, aRows], [b.id, bRows], [c.id, cRows]]))
        }).pipe(Effect.scoped),
      { timeout: 60_000 }
    )

    it.effect(
      "with server_reset_query_always (DISCARD ALL), a session-level SET app.tenant_id never reaches another client, and withTenant works as before",
      () =>
        Effect.gen(function*() {
          const scratch = yield* ScratchDatabase
          const [a, b] = (yield* provisionTenants("reset", 2)) as [Provisioned, Provisioned]
          yield* seedCustomers(a, 3)
          const bRows = yield* seedCustomers(b, 2)
          const role = yield* loginMemberOfAppRole(APP_ROLE)
          const bouncer = yield* startPgBouncer(binary!, {
            database: scratch.name,
            users: [role],
            poolSize: 1,
            resetAfterEveryTransaction: true
          })
          const misbehaving = yield* rawClient(bouncer.url(role))
          yield* query(misbehaving, `SET app.tenant_id = '${a.id}'`)
          const others = yield* Effect.forEach(Array.from({ length: 5 }), () => rawClient(bouncer.url(role)))
          const bare = yield* Effect.forEach([misbehaving, ...others], (client) =>
            query<SettingAndRows>(client, SETTING_AND_ROWS))
          // Not even the misbehaving client keeps it: session state ends with the transaction, as pooling implies.
          for (const [row] of bare) {
            expect(row).toMatchObject({ tenant: "", ids: [] })
          }
          const app = yield* tenancyThrough(bouncer.url(role), 5, { strategy: "rls", tenantTable: "organizations" })
          const seen = yield* Effect.forEach(
            Array.from({ length: 20 }),
            () =>
              app.tenancy.withTenant(b.id, whoAndWhat(app.sql)),
            { concurrency: 5 }
          )
          for (const { me, rows } of seen) {
            expect(me.tenant).toBe(b.id)
            expect(rows.map((r) => r.id).sort()).toEqual(bRows)
          }
        }).pipe(Effect.scoped),
      { timeout: 60_000 }
    )

    // Behind PgBouncer the driver's cancel (pg_cancel_backend of the pid the server reported) names no backend:
    // PgBouncer hands out made-up pids. The interrupted statement runs to its end, then the ROLLBACK follows it.
    it.effect(
      "a withTenant interrupted mid-statement through PgBouncer commits nothing, and the shared server connection keeps no tenant and no open transaction",
      () =>
        Effect.gen(function*() {
          const scratch = yield* ScratchDatabase
          const [a] = (yield* provisionTenants("interrupt", 1)) as [Provisioned]
          const bouncer = yield* startPgBouncer(binary!, { database: scratch.name, users: [], poolSize: 1 })
          const app = yield* tenancyThrough(bouncer.url(), 3, { strategy: "rls", role: APP_ROLE })
          const timedOut = yield* Effect.flip(
            app.tenancy.withTenant(
              a.id,
              Effect.zipRight(
                app.sql`INSERT INTO customers (tenant_id, name) VALUES (${a.id}::uuid, 'interrupted')`,
                app.sql`SELECT pg_sleep(1)`
              )
            ).pipe(Effect.timeout("200 millis"))
          )
          expect(timedOut._tag).toBe("TimeoutException")
          const client = yield* rawClient(bouncer.url())
          const [state] = yield* query<{ tenant: string; role: string; fresh: boolean; pid: number }>(
            client,
            `SELECT coalesce(current_setting('app.tenant_id', true), '') AS tenant, current_user::text AS role,
                    now() = statement_timestamp() AS fresh, pg_backend_pid() AS pid`
          )
          expect(state).toMatchObject({ tenant: "", fresh: true })
          expect(state!.role).not.toBe(APP_ROLE)
          const direct = yield* SqlClient.SqlClient
          const [left] = yield* direct<
            { n: number }
          >`SELECT count(*)::int AS n FROM customers WHERE name = 'interrupted'`
          expect(left!.n).toBe(0)
          const [after] = yield* app.tenancy.withTenant(a.slug, whoAndWhat(app.sql)).pipe(Effect.map((r) => [r.me]))
          expect(after).toMatchObject({ tenant: a.id, role: APP_ROLE, pid: state!.pid })
        }).pipe(Effect.scoped),
      { timeout: 60_000 }
    )
  })
})
