// Tenant isolation under row-level security is proven, not assumed: random concurrent traffic from many tenants over
// one pool never crosses a tenant; a pooled connection keeps nothing of a tenant; the application role with no tenant
// set sees and writes nothing; plain psql as a login member of the role is held to the same policies; hostile slugs and
// ids reach no SQL; and the same core checks hold on the embedded database.
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as SqlClient from "@effect/sql/SqlClient"
import { describe, expect, layer } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import { spawnSync } from "node:child_process"
import * as path from "node:path"
import * as Config from "../src/Config.js"
import { type Database, PgLive } from "../src/Database.js"
import * as Tenancy from "../src/tenancy/Tenancy.js"
import {
  admin,
  EmbeddedLive,
  ScratchDatabase,
  serverAvailable,
  ServerLive,
  serverUrl,
  tempDir
} from "./support/databases.js"
import { withMigrator } from "./support/migrations.js"
import { customersByTenant, type Provisioned } from "./support/tenancy.js"

const server = await serverAvailable()
const referenceMigrations = path.resolve(import.meta.dirname, "../migrations")

/** The application role of the reference schema: NOLOGIN, no BYPASSRLS, the policies are `TO dbkit_app`. */
const APP_ROLE = "dbkit_app"
const tenancyOptions: Tenancy.TenancyOptions = { strategy: "rls", role: APP_ROLE, tenantTable: "organizations" }

const TenancySupport = Layer.merge(
  Config.layerFrom({ environment: "development", backupDir: tempDir("dbkit-isolation-") }),
  NodeContext.layer
)

/** The reference schema migrated, and the Tenancy service over the same SqlClient the tests use. */
const isolated = <R>(base: Layer.Layer<SqlClient.SqlClient | Database | R>) =>
  Layer.mergeAll(
    Tenancy.layer(tenancyOptions),
    Layer.effectDiscard(Effect.orDie(withMigrator(referenceMigrations, undefined, (m) => m.migrate())))
  ).pipe(Layer.provide(TenancySupport), Layer.provideMerge(base))

type TenancyService = Tenancy.Tenancy["Type"]
/** A small, seedable PRNG, so a failing random run can be replayed with TENANCY_SEED. */
const mulberry32 = (seed: number) => {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** Fails an effect on purpose after it wrote, to see the write rolled back. */
class Boom extends Data.TaggedError("Boom")<{ readonly at: number }> {}

/** The SQLSTATE of a driver error (pg and PGlite both put it on the error, under the SqlError's cause). */
const sqlState = (error: unknown): string | undefined => {
  let current: unknown = error
  for (let depth = 0; depth < 4 && current !== undefined && current !== null; depth++) {
    const code = (current as { code?: unknown }).code
    if (typeof code === "string" && /^[0-9A-Z]{5}$/.test(code)) return code
    current = (current as { cause?: unknown }).cause
  }
  return undefined
}
const messageOf = (error: unknown): string => {
  const inner = (error as { cause?: unknown }).cause
  return `${error instanceof Error ? error.message : String(error)} ${inner instanceof Error ? inner.message : ""}`
}

/** The effect must fail with an SQL error saying a new row breaks the customers policy (42501). */
const expectPolicyViolation = <A, E, R>(effect: Effect.Effect<A, E, R>, context: string) =>
  Effect.gen(function*() {
    const exit = yield* Effect.exit(effect)
    if (Exit.isSuccess(exit)) {
      expect.fail(`${context}: expected a row-level security violation, but the statement succeeded`)
    }
    const error = yield* Effect.flip(exit)
    expect((error as { _tag?: string })._tag, context).toBe("SqlError")
    expect(sqlState(error), `${context}: ${messageOf(error)}`).toBe("42501")
    expect(messageOf(error), context).toMatch(/violates row-level security policy for table "customers"/)
  })

const provisionTenants = (tenancy: TenancyService, prefix: string, count: number) =>
  Effect.forEach(
    Array.from({ length: count }, (_, i) => `${prefix}_${i}`),
    (slug) =>
      Effect.map(
        tenancy.provision(slug, { name: `Tenant ${slug}` }),
        ({ tenant }): Provisioned => ({ id: tenant.id, slug: tenant.slug })
      )
  )

/** `count` customers written as the tenant (through withTenant, so through the policy). */
const addCustomers = (tenancy: TenancyService, tenant: Provisioned, count: number) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    tenancy.withTenant(
      tenant.id,
      sql.unsafe<{ id: string }>(
        `INSERT INTO customers (tenant_id, name, email) SELECT $1::uuid, 'seed ' || g, 'seed' || g || '@example.com'
           FROM generate_series(1, $2::int) g RETURNING id::text AS id`,
        [tenant.id, count]
      )
    ))

/** What a tenant transaction runs as. */
const whoAmI = Effect.flatMap(SqlClient.SqlClient, (sql) =>
  Effect.map(
    sql<{ tenant: string | null; role: string; pid: number }>`
      SELECT current_setting('app.tenant_id', true) AS tenant, current_user::text AS role, pg_backend_pid() AS pid`,
    (rows) => rows[0]!
  ))

/**
 * What a session still carries when no tenant transaction runs: the tenant setting, the role, the
 * search_path, and whether a transaction was left open (then now() would predate the statement).
 */
const SESSION_STATE = `
  SELECT pg_backend_pid() AS pid,
         coalesce(current_setting('app.tenant_id', true), '') AS tenant,
         current_user::text AS "currentUser", session_user::text AS "sessionUser",
         current_setting('role') AS role,
         current_setting('search_path') AS "searchPath",
         (SELECT reset_val FROM pg_settings WHERE name = 'search_path') AS "defaultSearchPath",
         now() = statement_timestamp() AS "freshTransaction"`
interface SessionState {
  readonly pid: number
  readonly tenant: string
  readonly currentUser: string
  readonly sessionUser: string
  readonly role: string
  readonly searchPath: string
  readonly defaultSearchPath: string
  readonly freshTransaction: boolean
}
const expectClean = (state: SessionState) => {
  const context = `connection ${state.pid}: ${JSON.stringify(state)}`
  expect(state.tenant, context).toBe("")
  expect(state.currentUser, context).toBe(state.sessionUser)
  expect(state.currentUser, context).not.toBe(APP_ROLE)
  expect(state.role, context).toBe("none")
  expect(state.searchPath, context).toBe(state.defaultSearchPath)
  expect(state.freshTransaction, context).toBe(true)
}

/** Runs `effect` in a plain transaction as the application role, with no tenant set (as an app that forgot). */
const asAppRoleWithoutTenant = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.flatMap(
    SqlClient.SqlClient,
    (sql) => sql.withTransaction(Effect.zipRight(sql.unsafe(`SET LOCAL ROLE ${APP_ROLE}`), effect))
  )

/**
 * A LOGIN role that is a member of the application role (INHERIT: it gets the table grants; the
 * policies `TO dbkit_app` apply to members). Roles are cluster-wide: it is dropped afterwards,
 * with whatever it was granted in the scratch database.
 */
const loginMemberOfAppRole = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const role = `dbkit_test_app_${process.pid}_${Math.random().toString(36).slice(2, 8)}`
  return yield* Effect.acquireRelease(
    Effect.as(Effect.promise(() => admin(`CREATE ROLE "${role}" LOGIN INHERIT IN ROLE ${APP_ROLE}`)), role),
    () =>
      Effect.zipRight(
        Effect.orDie(sql.unsafe(`DROP OWNED BY "${role}"`)),
        Effect.promise(() => admin(`DROP ROLE IF EXISTS "${role}"`))
      )
  )
})

/** The Tenancy service of an application that logs in as `role` itself (so no `role` option), for the scope. */
const tenancyLoggedInAs = (role: string) =>
  Effect.gen(function*() {
    const scratch = yield* ScratchDatabase
    const url = new URL(serverUrl)
    url.username = role
    url.password = ""
    url.pathname = `/${scratch.name}`
    const context = yield* Layer.build(
      Tenancy.layer({ strategy: "rls", tenantTable: "organizations" }).pipe(
        Layer.provideMerge(PgLive({ url: Redacted.make(url.toString()), poolSize: 2 })),
        Layer.provide(TenancySupport)
      )
    )
    return { tenancy: Context.get(context, Tenancy.Tenancy), sql: Context.get(context, SqlClient.SqlClient) }
  })

/** The sequential core: tenants see exactly their rows, write only theirs, and a failure rolls back. */
const coreIsolation = (tenancy: TenancyService, prefix: string) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const tenants = yield* provisionTenants(tenancy, prefix, 3)
    const [a, b, c] = tenants as [Provisioned, Provisioned, Provisioned]
    const model = new Map<string, Array<string>>()
    for (const [tenant, count] of [[a, 4], [b, 2], [c, 0]] as const) {
      model.set(tenant.id, (yield* addCustomers(tenancy, tenant, count)).map((r) => r.id).sort())
    }
    for (const tenant of tenants) {
      for (const ref of [tenant.id, tenant.slug]) {
        const seen = yield* tenancy.withTenant(
          ref,
          Effect.all([
            whoAmI,
            sql<
              { id: string; tenant: string }
            >`SELECT id::text AS id, tenant_id::text AS tenant FROM customers ORDER BY id`
          ])
        )
        expect(seen[0]).toMatchObject({ tenant: tenant.id, role: APP_ROLE })
        expect(seen[1].map((r) => r.id)).toEqual(model.get(tenant.id))
        expect(new Set(seen[1].map((r) => r.tenant))).toEqual(new Set(seen[1].length ? [tenant.id] : []))
        const orgs = yield* tenancy.withTenant(ref, sql<{ id: string }>`SELECT id::text AS id FROM organizations`)
        expect(orgs.map((o) => o.id)).toEqual([tenant.id])
      }
    }
    // Writing for another tenant, or moving a row to one, breaks the policy.
    yield* expectPolicyViolation(
      tenancy.withTenant(a.id, sql`INSERT INTO customers (tenant_id, name) VALUES (${b.id}::uuid, 'stray')`),
      "insert for b as a"
    )
    yield* expectPolicyViolation(
      tenancy.withTenant(a.id, sql`UPDATE customers SET tenant_id = ${b.id}::uuid`),
      "move a's rows to b"
    )
    // Updates and deletes reach only the tenant's own rows.
    const updated = yield* tenancy.withTenant(
      b.slug,
      sql<{ id: string }>`UPDATE customers SET name = 'renamed' WHERE true RETURNING id::text AS id`
    )
    expect(updated.map((r) => r.id).sort()).toEqual(model.get(b.id))
    const deleted = yield* tenancy.withTenant(
      c.id,
      sql<{ id: string }>`DELETE FROM customers WHERE id = ${model.get(a.id)![0]!}::uuid RETURNING id::text AS id`
    )
    expect(deleted).toEqual([])
    const wiped = yield* tenancy.withTenant(
      c.id,
      sql<{ id: string }>`DELETE FROM customers WHERE true RETURNING id::text AS id`
    )
    expect(wiped).toEqual([])
    // A failure after a write rolls the write back.
    const failed = yield* Effect.flip(
      tenancy.withTenant(
        a.id,
        Effect.zipRight(
          sql`INSERT INTO customers (tenant_id, name) VALUES (${a.id}::uuid, 'rolled back')`,
          Effect.fail(new Boom({ at: 0 }))
        )
      )
    )
    expect(failed._tag).toBe("Boom")
    const seen = yield* customersByTenant(tenants)
    expect(seen).toEqual(model)
    const renamed = yield* sql<{ name: string }>`SELECT DISTINCT name FROM customers WHERE tenant_id = ${b.id}::uuid`
    expect(renamed).toEqual([{ name: "renamed" }])
    return { tenants, model }
  })

describe.skipIf(!server)("Tenant isolation (rls) on the server", () => {
  layer(isolated(ServerLive), { excludeTestServices: true })("one pool, many tenants", (it) => {
    it.effect("300 random reads, writes, updates and deletes from 6 tenants at once over one pool never cross a tenant", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const tenancy = yield* Tenancy.Tenancy
        const seed = Number(process.env.TENANCY_SEED ?? Math.floor(Math.random() * 2 ** 32))
        console.log(`tenant isolation: random plan seed ${seed} (TENANCY_SEED=${seed} replays it)`)
        const random = mulberry32(seed)
        const pick = <A>(items: ReadonlyArray<A>): A => items[Math.floor(random() * items.length)]!
        const tenants = yield* provisionTenants(tenancy, "prop", 6)
        // The model: each tenant's customers, changed only by operations that committed. One
        // operation per tenant at a time (a lock per tenant) keeps it exact while different
        // tenants' transactions interleave freely on the pool.
        const model = new Map(tenants.map((t) => [t.id, new Set<string>()]))
        const locks = new Map<string, Effect.Semaphore>()
        for (const t of tenants) locks.set(t.id, yield* Effect.makeSemaphore(1))
        const kinds = [
          "read",
          "read",
          "insert",
          "insert",
          "insert",
          "crossInsert",
          "update",
          "deleteOther",
          "deleteOwn",
          "moveRow",
          "failAfterWrite"
        ] as const
        type Kind = typeof kinds[number]
        const plan = Array.from({ length: 300 }, (_, index) => {
          const tenant = pick(tenants)
          return {
            index,
            tenant,
            other: pick(tenants.filter((t) => t !== tenant)),
            kind: pick(kinds),
            byId: random() < 0.5,
            choice: random()
          }
        })
        const done = new Map<Kind, number>()
        const pids = new Set<number>()

        const run = (op: typeof plan[number]): Effect.Effect<void, unknown, SqlClient.SqlClient> =>
          Effect.gen(function*() {
            const { tenant, other } = op
            const context = `seed ${seed}, op ${op.index} (${op.kind} as ${tenant.slug}, other ${other.slug})`
            const ref = op.byId ? tenant.id : tenant.slug
            const own = model.get(tenant.id)!
            const theirs = model.get(other.id)!
            const as = <A, E, R>(effect: Effect.Effect<A, E, R>) => tenancy.withTenant(ref, effect)
            switch (op.kind) {
              case "read": {
                const [me, rows] = yield* as(
                  Effect.all([
                    whoAmI,
                    sql<{ id: string; tenant: string }>`SELECT id::text AS id, tenant_id::text AS tenant FROM customers`
                  ])
                )
                pids.add(me.pid)
                expect(me, context).toMatchObject({ tenant: tenant.id, role: APP_ROLE })
                for (const row of rows) expect(row.tenant, context).toBe(tenant.id)
                expect(rows.map((r) => r.id).sort(), context).toEqual([...own].sort())
                break
              }
              case "insert": {
                const rows = yield* as(sql<{ id: string; tenant: string }>`
                  INSERT INTO customers (tenant_id, name, email) VALUES (${tenant.id}::uuid, ${`c${op.index}`}, ${`c${op.index}@example.com`})
                  RETURNING id::text AS id, tenant_id::text AS tenant`)
                expect(rows.map((r) => r.tenant), context).toEqual([tenant.id])
                own.add(rows[0]!.id)
                break
              }
              case "crossInsert": {
                yield* expectPolicyViolation(
                  as(sql`INSERT INTO customers (tenant_id, name) VALUES (${other.id}::uuid, ${`stray ${op.index}`})`),
                  context
                )
                break
              }
              case "update": {
                const rows = yield* as(
                  sql<
                    { id: string; tenant: string }
                  >`UPDATE customers SET name = ${`renamed ${op.index}`} WHERE true RETURNING id::text AS id, tenant_id::text AS tenant`
                )
                expect(rows.length, context).toBe(own.size)
                expect(rows.map((r) => r.id).sort(), context).toEqual([...own].sort())
                break
              }
              case "deleteOther": {
                // Another tenant's row, by its id: invisible, so nothing is deleted.
                const target = [...theirs][Math.floor(op.choice * theirs.size)] ?? tenants[0]!.id
                const rows = yield* as(
                  sql<{ id: string }>`DELETE FROM customers WHERE id = ${target}::uuid RETURNING id::text AS id`
                )
                expect(rows, context).toEqual([])
                break
              }
              case "deleteOwn": {
                const target = [...own][Math.floor(op.choice * own.size)]
                if (target === undefined) return yield* run({ ...op, kind: "insert" })
                const rows = yield* as(
                  sql<{ id: string }>`DELETE FROM customers WHERE id = ${target}::uuid RETURNING id::text AS id`
                )
                expect(rows, context).toEqual([{ id: target }])
                own.delete(target)
                break
              }
              case "moveRow": {
                const target = [...own][Math.floor(op.choice * own.size)]
                if (target === undefined) return yield* run({ ...op, kind: "insert" })
                yield* expectPolicyViolation(
                  as(sql`UPDATE customers SET tenant_id = ${other.id}::uuid WHERE id = ${target}::uuid`),
                  context
                )
                break
              }
              case "failAfterWrite": {
                let written: string | undefined
                const error = yield* Effect.flip(as(
                  Effect.gen(function*() {
                    const [row] = yield* sql<
                      { id: string }
                    >`INSERT INTO customers (tenant_id, name) VALUES (${tenant.id}::uuid, 'never') RETURNING id::text AS id`
                    written = row!.id
                    return yield* new Boom({ at: op.index })
                  })
                ))
                expect(error, context).toEqual(new Boom({ at: op.index }))
                expect(written, context).toBeDefined()
                const [left] = yield* sql<
                  { n: number }
                >`SELECT count(*)::int AS n FROM customers WHERE id = ${written!}::uuid`
                expect(left!.n, context).toBe(0)
                break
              }
            }
            done.set(op.kind, (done.get(op.kind) ?? 0) + 1)
          })

        yield* Effect.forEach(plan, (op) => locks.get(op.tenant.id)!.withPermits(1)(run(op)), {
          concurrency: 8,
          discard: true
        })

        // Every kind ran, the pool was shared, and the superuser sees exactly the model.
        for (const kind of new Set(kinds)) expect(done.get(kind) ?? 0, `seed ${seed}: ${kind}`).toBeGreaterThan(0)
        expect(pids.size, `seed ${seed}`).toBeGreaterThan(1)
        const seen = yield* customersByTenant(tenants)
        expect(seen, `seed ${seed}`).toEqual(new Map(tenants.map((t) => [t.id, [...model.get(t.id)!].sort()])))
        const [strays] = yield* sql<
          { n: number }
        >`SELECT count(*)::int AS n FROM customers WHERE name LIKE 'stray%' OR name = 'never'`
        expect(strays!.n, `seed ${seed}`).toBe(0)
      }))

    it.effect("no connection of the pool keeps a tenant, the role or a search_path — after success, failure, Effect.interrupt, a timeout inside and an interruption from outside", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const tenancy = yield* Tenancy.Tenancy
        const tenants = yield* provisionTenants(tenancy, "conn", 3)
        const a = tenants[0]!
        const pids = new Set<number>()
        yield* Effect.forEach(
          Array.from({ length: 60 }, (_, i) => tenants[i % tenants.length]!),
          (tenant) =>
            Effect.map(tenancy.withTenant(tenant.slug, whoAmI), (me) => {
              expect(me).toMatchObject({ tenant: tenant.id, role: APP_ROLE })
              pids.add(me.pid)
            }),
          { concurrency: 8, discard: true }
        )
        const write = (label: string) => sql`INSERT INTO customers (tenant_id, name) VALUES (${a.id}::uuid, ${label})`
        // Fails after writing.
        const failed = yield* Effect.flip(
          tenancy.withTenant(a.id, Effect.zipRight(write("failed"), Effect.fail(new Boom({ at: 1 }))))
        )
        expect(failed._tag).toBe("Boom")
        // Interrupts itself after writing.
        const interrupted = yield* Effect.exit(
          tenancy.withTenant(a.id, Effect.zipRight(write("interrupted"), Effect.interrupt))
        )
        expect(Exit.isInterrupted(interrupted)).toBe(true)
        // A timeout inside: the running statement is cancelled, the transaction rolled back.
        const timedOut = yield* Effect.flip(
          tenancy.withTenant(
            a.id,
            Effect.zipRight(write("timed out"), sql`SELECT pg_sleep(10)`.pipe(Effect.timeout("150 millis")))
          )
        )
        expect(timedOut._tag).toBe("TimeoutException")
        // Interrupted from outside while a statement runs: by Fiber.interrupt and by an outer timeout.
        const fiber = yield* Effect.fork(
          tenancy.withTenant(a.id, Effect.zipRight(write("killed"), sql`SELECT pg_sleep(10)`))
        )
        yield* Effect.sleep("200 millis")
        expect(Exit.isInterrupted(yield* Fiber.interrupt(fiber))).toBe(true)
        const outer = yield* Effect.exit(
          tenancy.withTenant(a.id, Effect.zipRight(write("outer timeout"), sql`SELECT pg_sleep(10)`)).pipe(
            Effect.timeout("150 millis")
          )
        )
        expect(Exit.isFailure(outer)).toBe(true)
        // None of those writes stayed.
        const [written] = yield* sql<
          { n: number }
        >`SELECT count(*)::int AS n FROM customers WHERE tenant_id = ${a.id}::uuid`
        expect(written!.n).toBe(0)
        // Every connection of the pool at once (it has 5): each is clean and out of any transaction.
        const states = yield* Effect.scoped(
          Effect.forEach(
            Array.from({ length: 5 }),
            () =>
              Effect.flatMap(
                sql.reserve,
                (conn) =>
                  Effect.map(conn.executeUnprepared(SESSION_STATE, [], undefined), (rows) => rows[0] as SessionState)
              ),
            { concurrency: 5 }
          )
        )
        const reserved = new Set(states.map((s) => s.pid))
        expect(reserved.size).toBe(5)
        for (const pid of pids) {
          expect(reserved.has(pid), `connection ${pid} used by withTenant is still in the pool`).toBe(true)
        }
        states.forEach(expectClean)
      }))

    it.effect("without withTenant the application role sees no tenant's rows and can write none", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const tenancy = yield* Tenancy.Tenancy
        const [a, b] = (yield* provisionTenants(tenancy, "unset", 2)) as [Provisioned, Provisioned]
        yield* addCustomers(tenancy, a, 3)
        yield* addCustomers(tenancy, b, 2)
        const before = yield* customersByTenant([a, b])
        expect([before.get(a.id)!.length, before.get(b.id)!.length]).toEqual([3, 2])
        const [me] = yield* asAppRoleWithoutTenant(
          sql<
            { role: string; tenant: string | null }
          >`SELECT current_user::text AS role, current_setting('app.tenant_id', true) AS tenant`
        )
        expect(me!.role).toBe(APP_ROLE)
        expect(me!.tenant ?? "").toBe("")
        for (const table of ["customers", "organizations", "accounts", "invoices", "users", "audit_log"]) {
          const [seen] = yield* asAppRoleWithoutTenant(
            sql.unsafe<{ n: number }>(`SELECT count(*)::int AS n FROM ${table}`)
          )
          expect(seen!.n, table).toBe(0)
        }
        // An empty setting is no tenant either (the policies read nullif(…, '')).
        const [empty] = yield* asAppRoleWithoutTenant(
          Effect.zipRight(
            sql`SELECT set_config('app.tenant_id', '', true)`,
            sql<{ n: number }>`SELECT count(*)::int AS n FROM customers`
          )
        )
        expect(empty!.n).toBe(0)
        yield* expectPolicyViolation(
          asAppRoleWithoutTenant(sql`INSERT INTO customers (tenant_id, name) VALUES (${a.id}::uuid, 'stray')`),
          "insert with no tenant"
        )
        const touched = yield* asAppRoleWithoutTenant(Effect.all([
          sql<{ id: string }>`UPDATE customers SET name = 'hijacked' WHERE true RETURNING id`,
          sql<{ id: string }>`DELETE FROM customers WHERE true RETURNING id`
        ]))
        expect(touched).toEqual([[], []])
        // Turning row security off does not lift the policies: the query is refused.
        const refused = yield* Effect.flip(
          asAppRoleWithoutTenant(
            Effect.zipRight(sql`SET LOCAL row_security = off`, sql`SELECT count(*) FROM customers`)
          )
        )
        expect(sqlState(refused), messageOf(refused)).toBe("42501")
        expect(messageOf(refused)).toMatch(/query would be affected by row-level security policy for table "customers"/)
        expect(yield* customersByTenant([a, b])).toEqual(before)
        const [names] = yield* sql<
          { n: number }
        >`SELECT count(*)::int AS n FROM customers WHERE name IN ('stray', 'hijacked')`
        expect(names!.n).toBe(0)
      }))

    it.effect("plain psql as a login member of the application role: no tenant, no rows; a tenant, only its rows; another tenant's row, refused", () =>
      Effect.gen(function*() {
        const scratch = yield* ScratchDatabase
        const tenancy = yield* Tenancy.Tenancy
        const [a, b] = (yield* provisionTenants(tenancy, "psql", 2)) as [Provisioned, Provisioned]
        const aRows = (yield* addCustomers(tenancy, a, 4)).map((r) => r.id).sort()
        yield* addCustomers(tenancy, b, 3)
        const before = yield* customersByTenant([a, b])
        const role = yield* loginMemberOfAppRole
        const url = new URL(serverUrl)
        /** psql with -c commands in one session, as the test role; credentials in PG* variables, not argv. */
        const psql = (...commands: Array<string>) =>
          Effect.sync(() => {
            const result = spawnSync("psql", [
              "-X",
              "-q",
              "-A",
              "-t",
              "-v",
              "ON_ERROR_STOP=1",
              "-1", // the commands run as one transaction, as an application's would
              ...commands.flatMap((c) => ["-c", c])
            ], {
              encoding: "utf8",
              timeout: 20_000,
              env: {
                ...process.env,
                PGHOST: url.hostname,
                PGPORT: url.port || "5432",
                PGUSER: role,
                PGDATABASE: scratch.name,
                PGPASSWORD: "",
                PGAPPNAME: "dbkit-isolation-test"
              }
            })
            return { status: result.status, stdout: result.stdout.trim(), stderr: result.stderr.trim() }
          })
        const lines = (out: { stdout: string }) => out.stdout.split("\n").filter((l) => l.length > 0)
        // What withTenant does, by hand: the tenant and its transaction stamp, both transaction-local.
        const enter = (tenant: string) =>
          `DO $$ BEGIN PERFORM set_config('app.tenant_id', '${tenant}', true); ` +
          `PERFORM set_config('app.tenant_id_xact', (EXTRACT(epoch FROM now()))::text, true); END $$`

        const who = yield* psql("SELECT current_user, coalesce(current_setting('app.tenant_id', true), '') = ''")
        expect(who).toMatchObject({ status: 0, stdout: `${role}|t` })
        const unset = yield* psql("SELECT count(*) FROM customers", "SELECT count(*) FROM organizations")
        expect(unset).toMatchObject({ status: 0 })
        expect(lines(unset)).toEqual(["0", "0"])
        // A plain session-level SET is not a tenant: no transaction stamped it (it could be a leftover on a
        // pooled connection), so the policies see no tenant.
        const sessionOnly = yield* psql(`SET app.tenant_id = '${a.id}'`, "SELECT count(*) FROM customers")
        expect(sessionOnly).toMatchObject({ status: 0 })
        expect(lines(sessionOnly)).toEqual(["0"])
        const asA = yield* psql(
          enter(a.id),
          "SELECT id || '|' || tenant_id FROM customers ORDER BY id"
        )
        expect(asA.status, asA.stderr).toBe(0)
        expect(lines(asA)).toEqual(aRows.map((id) => `${id}|${a.id}`))
        const orgs = yield* psql(enter(a.id), "SELECT id FROM organizations")
        expect(lines(orgs)).toEqual([a.id])
        const stray = yield* psql(
          enter(a.id),
          `INSERT INTO customers (tenant_id, name) VALUES ('${b.id}', 'stray')`
        )
        expect(stray.status).not.toBe(0)
        expect(stray.stderr).toMatch(/new row violates row-level security policy for table "customers"/)
        const moved = yield* psql(enter(a.id), `UPDATE customers SET tenant_id = '${b.id}'`)
        expect(moved.stderr).toMatch(/new row violates row-level security policy/)
        const reached = yield* psql(
          enter(a.id),
          `WITH gone AS (DELETE FROM customers WHERE tenant_id = '${b.id}' RETURNING 1) SELECT count(*) FROM gone`,
          `WITH changed AS (UPDATE customers SET name = 'hijacked' WHERE tenant_id = '${b.id}' RETURNING 1) SELECT count(*) FROM changed`
        )
        expect(reached).toMatchObject({ status: 0 })
        expect(lines(reached)).toEqual(["0", "0"])
        const bypass = yield* psql("SET row_security = off", "SELECT count(*) FROM customers")
        expect(bypass.stderr).toMatch(/query would be affected by row-level security policy/)
        expect(yield* customersByTenant([a, b])).toEqual(before)
      }).pipe(Effect.scoped))

    it.effect("hostile slugs and ids are refused before any SQL: provision says InvalidTenantSlug, withTenant TenantNotFound, and nothing changes", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const tenancy = yield* Tenancy.Tenancy
        const [a] = (yield* provisionTenants(tenancy, "victim", 1)) as [Provisioned]
        yield* addCustomers(tenancy, a, 2)
        /** The registry, the application's tenants, the tables and every customer row. */
        const snapshot = Effect.all({
          registry: Effect.map(tenancy.list, (tenants) => tenants.map((t) => `${t.id} ${t.slug} ${t.status}`)),
          organizations: sql<{ id: string; slug: string }>`SELECT id::text AS id, slug FROM organizations ORDER BY id`,
          relations: sql<
            { name: string }
          >`SELECT n.nspname || '.' || c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                                            WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast') ORDER BY 1`,
          customers: sql<
            { id: string; tenant: string; name: string }
          >`SELECT id::text AS id, tenant_id::text AS tenant, name FROM customers ORDER BY id`
        })
        const before = yield* snapshot
        expect(before.relations.map((r) => r.name)).toContain("public.customers")
        const hostile = [
          "x'; DROP TABLE customers; --",
          "a\"b",
          "Robert'); DROP SCHEMA public CASCADE;--",
          "tenant_$1",
          "$1",
          "victim_0' OR '1'='1",
          "victim_0; RESET ROLE",
          "victim_0\n",
          " victim_0",
          "аcme", // Cyrillic а
          "ａcme", // full-width a
          "acme\u200b", // zero-width space
          "acmé",
          "ACME",
          "Victim_0",
          "a".repeat(41),
          "",
          "1abc",
          "_abc",
          "a--b", // `-` is allowed (fortium-demo), but not doubled, leading or trailing, or beside `_`
          "-ab",
          "ab-",
          "a-_b",
          "a b",
          "a.b",
          "pg_x",
          "pg_catalog",
          "public",
          "dbkit",
          "information_schema"
        ]
        for (const slug of hostile) {
          const refused = yield* Effect.flip(tenancy.provision(slug, { name: "Hostile" }))
          expect(refused._tag, JSON.stringify(slug)).toBe("InvalidTenantSlug")
          const notFound = yield* Effect.flip(tenancy.withTenant(slug, sql`SELECT 1`))
          expect(notFound._tag, JSON.stringify(slug)).toBe("TenantNotFound")
        }
        // Ids: only a well-formed uuid is looked up; anything else never reaches the ::uuid cast.
        const badIds = [
          `${a.id}'; DROP TABLE customers; --`,
          `${a.id} `,
          ` ${a.id}`,
          `{${a.id}}`,
          a.id.replace(/-/g, ""),
          `${a.id.slice(0, -1)}g`,
          `${a.id}\n`,
          "00000000-0000-0000-0000-00000000000",
          "' OR 1=1 --"
        ]
        for (const id of badIds) {
          const notFound = yield* Effect.flip(tenancy.withTenant(id, sql`SELECT 1`))
          expect(notFound._tag, JSON.stringify(id)).toBe("TenantNotFound")
          const refused = yield* Effect.flip(tenancy.provision("not_created", { name: "Hostile", id }))
          expect(refused._tag, JSON.stringify(id)).toBe("InvalidTenantAttribute") // the id, not the slug, is bad
          expect(refused.message, JSON.stringify(id)).toContain("not a uuid")
        }
        // A well-formed uuid of no tenant: not found; the tenant's own id in capitals: the tenant.
        expect((yield* Effect.flip(tenancy.withTenant("00000000-0000-4000-8000-000000000000", sql`SELECT 1`)))._tag)
          .toBe("TenantNotFound")
        const upper = yield* tenancy.withTenant(a.id.toUpperCase(), whoAmI)
        expect(upper.tenant).toBe(a.id)
        expect(yield* snapshot).toEqual(before)
        // The boundary: 40 characters is a slug; the tenant works like any other.
        const longest = "l".repeat(40)
        const made = yield* tenancy.provision(longest)
        expect(made.created).toBe(true)
        expect((yield* tenancy.withTenant(longest, whoAmI)).tenant).toBe(made.tenant.id)
      }))

    it.effect("a withTenant nested in another tenant's withTenant cannot switch the outer transaction to that tenant", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const tenancy = yield* Tenancy.Tenancy
        const [a, b] = (yield* provisionTenants(tenancy, "nested", 2)) as [Provisioned, Provisioned]
        const aRows = (yield* addCustomers(tenancy, a, 2)).map((r) => r.id).sort()
        yield* addCustomers(tenancy, b, 2)
        const customers = sql<
          { id: string; tenant: string }
        >`SELECT id::text AS id, tenant_id::text AS tenant FROM customers ORDER BY id`
        const { after, inner, rows } = yield* tenancy.withTenant(
          a.id,
          Effect.gen(function*() {
            const inner = yield* Effect.either(tenancy.withTenant(b.id, customers))
            return { inner, after: yield* whoAmI, rows: yield* customers }
          })
        )
        // Today the nested lookup is refused (the application role cannot read dbkit.tenants); if it
        // ever runs, it may see b's rows, but a's transaction must go on as a.
        if (Either.isRight(inner)) expect(new Set(inner.right.map((r) => r.tenant))).toEqual(new Set([b.id]))
        expect(after).toMatchObject({ tenant: a.id, role: APP_ROLE })
        expect(rows.map((r) => r.id)).toEqual(aRows)
      }))

    // The registry is read through dbkit.tenant_lookup (SECURITY DEFINER): an application that logs in as
    // a member of the application role enters its tenants with no privilege on dbkit.tenants.
    it.effect("an application that logs in as a member of the application role (no role option) enters its tenants", () =>
      Effect.gen(function*() {
        const tenancy = yield* Tenancy.Tenancy
        const [a, b] = (yield* provisionTenants(tenancy, "login", 2)) as [Provisioned, Provisioned]
        const aRows = (yield* addCustomers(tenancy, a, 3)).map((r) => r.id).sort()
        yield* addCustomers(tenancy, b, 1)
        const app = yield* tenancyLoggedInAs(yield* loginMemberOfAppRole)
        const seen = yield* app.tenancy.withTenant(
          a.slug,
          app.sql<{ id: string }>`SELECT id::text AS id FROM customers ORDER BY id`
        )
        expect(seen.map((r) => r.id)).toEqual(aRows)
        // It still cannot list the registry.
        const listed = yield* Effect.flip(app.tenancy.list)
        expect(listed._tag).toBe("SqlError")
      }).pipe(Effect.scoped))

    // A nested withTenant would be only a SAVEPOINT, and set_config(…, true) lasts to the end of the top
    // transaction: the inner tenant would outlive it. So another tenant inside is refused; the same one runs.
    it.effect("a nested withTenant for another tenant is refused; for the same tenant it just runs", () =>
      Effect.gen(function*() {
        const tenancy = yield* Tenancy.Tenancy
        const [a, b] = (yield* provisionTenants(tenancy, "leak", 2)) as [Provisioned, Provisioned]
        const aRows = (yield* addCustomers(tenancy, a, 2)).map((r) => r.id).sort()
        yield* addCustomers(tenancy, b, 2)
        const app = yield* tenancyLoggedInAs(yield* loginMemberOfAppRole)
        const customers = app.sql<{ id: string }>`SELECT id::text AS id FROM customers ORDER BY id`
        const refused = yield* Effect.flip(
          app.tenancy.withTenant(a.id, Effect.zipRight(app.tenancy.withTenant(b.id, customers), customers))
        )
        expect(refused._tag).toBe("TenantNestingRefused")
        const same = yield* app.tenancy.withTenant(a.id, app.tenancy.withTenant(a.slug, customers))
        expect(same.map((r) => r.id)).toEqual(aRows)
      }).pipe(Effect.scoped))
  })
})

describe("Tenant isolation (rls) on the embedded database", () => {
  layer(isolated(EmbeddedLive), { excludeTestServices: true })("PGlite, one session", (it) => {
    it.effect("tenants see and write only their own rows; the session keeps nothing of a tenant; no tenant set sees nothing", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const tenancy = yield* Tenancy.Tenancy
        const { tenants } = yield* coreIsolation(tenancy, "embedded")
        const a = tenants[0]!
        const before = yield* customersByTenant(tenants)
        // After success, failure, Effect.interrupt and a timeout inside, the one session is clean.
        yield* tenancy.withTenant(a.slug, whoAmI)
        yield* Effect.flip(
          tenancy.withTenant(
            a.id,
            Effect.zipRight(
              sql`INSERT INTO customers (tenant_id, name) VALUES (${a.id}::uuid, 'failed')`,
              Effect.fail(new Boom({ at: 2 }))
            )
          )
        )
        const interrupted = yield* Effect.exit(
          tenancy.withTenant(
            a.id,
            Effect.zipRight(
              sql`INSERT INTO customers (tenant_id, name) VALUES (${a.id}::uuid, 'interrupted')`,
              Effect.interrupt
            )
          )
        )
        expect(Exit.isInterrupted(interrupted)).toBe(true)
        const timedOut = yield* Effect.flip(
          tenancy.withTenant(
            a.id,
            Effect.zipRight(
              sql`INSERT INTO customers (tenant_id, name) VALUES (${a.id}::uuid, 'timed out')`,
              Effect.sleep("5 seconds").pipe(Effect.timeout("50 millis"))
            )
          )
        )
        expect(timedOut._tag).toBe("TimeoutException")
        const fiber = yield* Effect.fork(
          tenancy.withTenant(
            a.id,
            Effect.zipRight(sql`INSERT INTO customers (tenant_id, name) VALUES (${a.id}::uuid, 'killed')`, Effect.never)
          )
        )
        yield* Effect.sleep("100 millis")
        expect(Exit.isInterrupted(yield* Fiber.interrupt(fiber))).toBe(true)
        expect(yield* customersByTenant(tenants)).toEqual(before)
        const [state] = yield* sql.unsafe<SessionState>(SESSION_STATE)
        expectClean(state!)
        // No tenant set: the application role sees nothing and writes nothing.
        const me = yield* asAppRoleWithoutTenant(whoAmI)
        expect(me).toMatchObject({ role: APP_ROLE })
        const [seen] = yield* asAppRoleWithoutTenant(sql<{ n: number }>`SELECT count(*)::int AS n FROM customers`)
        expect(seen!.n).toBe(0)
        yield* expectPolicyViolation(
          asAppRoleWithoutTenant(sql`INSERT INTO customers (tenant_id, name) VALUES (${a.id}::uuid, 'stray')`),
          "insert with no tenant"
        )
        expect(yield* customersByTenant(tenants)).toEqual(before)
        expectClean((yield* sql.unsafe<SessionState>(SESSION_STATE))[0]!)
      }))
  })
})
