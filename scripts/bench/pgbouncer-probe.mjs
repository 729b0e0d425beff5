// withTenant through PgBouncer probe for rows/10-tenancy-pgbouncer.mjs, in-process through the built library
// (dist/index.js). DATABASE_URL is the database directly, BOUNCER_URL the same database through a transaction-pooling
// PgBouncer; the database has the reference schema and the rls tenant BENCH_TENANT. Four kinds of transaction, each
// on ONE connection (strictly serial) and each running `SELECT count(*)::int AS n FROM customers` as the tenant:
//   withTenantBouncer  Tenancy.withTenant(BENCH_TENANT, …) (rls, role dbkit_app) over PgLive(BOUNCER_URL, poolSize 1)
//   handBouncer        node-postgres by hand over BOUNCER_URL, the tenant's id known: BEGIN;
//                      SELECT set_config('app.tenant_id', $1, true), set_config('app.tenant_id_xact', (EXTRACT(epoch FROM now()))::text, true), set_config('role', 'dbkit_app', true);
//                      SELECT count(*) …; COMMIT
//   withTenantDirect   the first, over PgLive(DATABASE_URL)
//   handDirect         the second, over DATABASE_URL
// Blocks of BENCH_BLOCK transactions, BENCH_BLOCKS blocks per kind after one warmup block each, interleaved and
// rotated. Prints JSON { block, blocks, kinds: { <kind>: { blockMs: [...], n } } } (n: the count the kind saw).
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Redacted from "effect/Redacted"
import pg from "pg"
import { DbConfig, PgLive, Tenancy } from "../../dist/index.js"

const direct = process.env.DATABASE_URL
const bouncer = process.env.BOUNCER_URL
const slug = process.env.BENCH_TENANT ?? "acme"
const block = Number(process.env.BENCH_BLOCK ?? 200)
const blocks = Number(process.env.BENCH_BLOCKS ?? 10)
if (!direct || !bouncer || !Number.isInteger(block) || block < 1 || !Number.isInteger(blocks) || blocks < 1) {
  console.error("pgbouncer-probe: needs DATABASE_URL, BOUNCER_URL, BENCH_BLOCK and BENCH_BLOCKS (positive integers)")
  process.exit(1)
}

const COUNT = "SELECT count(*)::int AS n FROM customers"

/** A runtime with Tenancy over one pooled connection to `url`, and a block runner of withTenant transactions. */
const viaWithTenant = async (url) => {
  const runtime = ManagedRuntime.make(
    Tenancy.layer({ strategy: "rls", role: "dbkit_app" }).pipe(
      Layer.provideMerge(PgLive({ url: Redacted.make(url), poolSize: 1 })),
      Layer.provide(DbConfig.layerFrom({ environment: "development" })),
      Layer.provide(NodeContext.layer)
    )
  )
  const program = Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const tenancy = yield* Tenancy
    const one = tenancy.withTenant(slug, Effect.map(sql.unsafe(COUNT), (rows) => rows[0].n))
    return Effect.gen(function*() {
      let n
      for (let i = 0; i < block; i++) n = yield* one
      return n
    })
  })
  const runBlock = await runtime.runPromise(program)
  return { run: () => runtime.runPromise(runBlock), close: () => runtime.dispose() }
}

/** The same transaction written by hand with node-postgres over one connection to `url`. */
const byHand = async (url, tenantId) => {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  return {
    run: async () => {
      let n
      for (let i = 0; i < block; i++) {
        await client.query("BEGIN")
        await client.query("SELECT set_config('app.tenant_id', $1, true), set_config('app.tenant_id_xact', (EXTRACT(epoch FROM now()))::text, true), set_config('role', 'dbkit_app', true)", [
          tenantId
        ])
        n = (await client.query(COUNT)).rows[0].n
        await client.query("COMMIT")
      }
      return n
    },
    close: () => client.end()
  }
}

const tenantId = await (async () => {
  const client = new pg.Client({ connectionString: direct })
  await client.connect()
  try {
    const rows = (await client.query("SELECT id::text AS id FROM dbkit.tenants WHERE slug = $1", [slug])).rows
    if (rows.length !== 1) throw new Error(`pgbouncer-probe: no tenant ${slug}`)
    return rows[0].id
  } finally {
    await client.end()
  }
})()

const sides = {
  withTenantBouncer: await viaWithTenant(bouncer),
  handBouncer: await byHand(bouncer, tenantId),
  withTenantDirect: await viaWithTenant(direct),
  handDirect: await byHand(direct, tenantId)
}
const names = Object.keys(sides)
const out = Object.fromEntries(names.map((k) => [k, { blockMs: [], n: undefined }]))
try {
  for (let round = 0; round <= blocks; round++) {
    for (let j = 0; j < names.length; j++) {
      const k = names[(round + j) % names.length]
      const t0 = performance.now()
      const n = await sides[k].run()
      if (round > 0) out[k].blockMs.push(performance.now() - t0) // round 0 is the warmup
      out[k].n = n
    }
  }
  console.log(JSON.stringify({ block, blocks, tenant: { slug, id: tenantId }, kinds: out }))
} finally {
  for (const side of Object.values(sides)) await side.close()
}
