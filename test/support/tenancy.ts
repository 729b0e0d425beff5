/**
 * Tenancy helpers for tests on the server: tenants provisioned through the Tenancy service, rows
 * seeded and read as the superuser, a LOGIN member of the application role (dropped afterwards),
 * and plain node-postgres clients for the scope.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"
import pg from "pg"
import * as Tenancy from "../../src/tenancy/Tenancy.js"
import { admin, uniqueName } from "./databases.js"

export interface Provisioned {
  readonly id: string
  readonly slug: string
}

/** `count` tenants `<prefix>_0…`, provisioned through the Tenancy service in scope. */
export const provisionTenants = (prefix: string, count: number) =>
  Effect.flatMap(
    Tenancy.Tenancy,
    (tenancy) =>
      Effect.forEach(Array.from({ length: count }, (_, i) => `${prefix}_${i}`), (slug) =>
        Effect.map(tenancy.provision(slug), ({ tenant }): Provisioned => ({ id: tenant.id, slug: tenant.slug })))
  )

/** `count` customers of the tenant, written directly as the superuser (RLS does not apply to it). */
export const seedCustomers = (tenant: Provisioned, count: number) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    Effect.map(
      sql.unsafe<{ id: string }>(
        `INSERT INTO customers (tenant_id, name) SELECT $1::uuid, 'seed ' || g FROM generate_series(1, $2::int) g
         RETURNING id::text AS id`,
        [tenant.id, count]
      ),
      (rows) => rows.map((r) => r.id).sort()
    ))

/** Customers per tenant as the superuser sees them over the direct connection. */
export const customersByTenant = (tenants: ReadonlyArray<Provisioned>) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    Effect.map(
      sql.unsafe<{ tenant: string; id: string }>(
        `SELECT tenant_id::text AS tenant, id::text AS id FROM customers WHERE tenant_id = ANY($1::uuid[]) ORDER BY id`,
        [tenants.map((t) => t.id)]
      ),
      (rows) => new Map(tenants.map((t) => [t.id, rows.filter((r) => r.tenant === t.id).map((r) => r.id).sort()]))
    ))

/** A LOGIN member of the application role (the policies apply to it), dropped with what it owns afterwards. */
export const loginMemberOfAppRole = (appRole: string) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const role = uniqueName("dbkit_pgb")
    return yield* Effect.acquireRelease(
      Effect.as(Effect.promise(() => admin(`CREATE ROLE "${role}" LOGIN INHERIT IN ROLE ${appRole}`)), role),
      () =>
        Effect.zipRight(
          Effect.orDie(sql.unsafe(`DROP OWNED BY "${role}"`)),
          Effect.promise(() => admin(`DROP ROLE IF EXISTS "${role}"`))
        )
    )
  })

/** A plain node-postgres client for the scope (a misbehaving application, or one that forgot withTenant). */
export const rawClient = (url: string) =>
  Effect.acquireRelease(
    Effect.promise(async () => {
      const client = new pg.Client({ connectionString: url })
      await client.connect()
      return client
    }),
    (client) => Effect.promise(() => client.end().catch(() => undefined))
  )

/** One statement on a plain client, its rows. */
export const query = <A>(client: pg.Client, text: string) =>
  Effect.promise(() => client.query(text).then((r) => r.rows as Array<A>))
