// withTenant overhead probe for the tenancy bench row (rows/06-tenancy.mjs), in-process through the built library
// (dist/index.js), as an application would use it. DATABASE_URL must point at a database with the reference schema
// migrated and two rls tenants provisioned (BENCH_TENANT, whose customers are BENCH_TENANT_ROWS of the table, and
// another). One pool of ONE connection (transactions strictly serial), three kinds of transaction, each running the
// same `SELECT count(*)::int AS n FROM customers`:
//   withTenant  Tenancy.withTenant(BENCH_TENANT, …) with strategy rls and role dbkit_app (BEGIN, the one statement
//               that looks the tenant up and sets app.tenant_id and the role, the query under RLS, COMMIT)
//   manual      what one writes by hand knowing the tenant's id: sql.withTransaction with
//               `SELECT set_config('app.tenant_id', $1, true), set_config('app.tenant_id_xact', (EXTRACT(epoch FROM now()))::text, true), set_config('role', 'dbkit_app', true)` then the query
//   bare        sql.withTransaction around the query alone (no tenant, no role: the bench's superuser sees every row)
// Measured in blocks of BENCH_BLOCK transactions, BENCH_BLOCKS blocks per kind after one warmup block each,
// interleaved and rotated (withTenant manual bare, manual bare withTenant, …) so drift hits all alike. Prints JSON:
// { block, blocks, kinds: { withTenant: { blockMs: [...] , n }, manual: …, bare: … } } where n is the count each saw
// (withTenant and manual must see only the tenant's rows, bare all of them; checked by the row).
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import { DbConfig, PgLive, Tenancy } from "../../dist/index.js"

const url = process.env.DATABASE_URL
const slug = process.env.BENCH_TENANT ?? "acme"
const block = Number(process.env.BENCH_BLOCK ?? 200)
const blocks = Number(process.env.BENCH_BLOCKS ?? 10)
if (!url || !Number.isInteger(block) || block < 1 || !Number.isInteger(blocks) || blocks < 1) {
  console.error("tenancy-probe: needs DATABASE_URL, BENCH_BLOCK and BENCH_BLOCKS (positive integers)")
  process.exit(1)
}

const program = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const tenancy = yield* Tenancy
  const tenant = yield* tenancy.get(slug)
  const query = sql`SELECT count(*)::int AS n FROM customers`.pipe(Effect.map((rows) => rows[0].n))
  const kinds = {
    withTenant: tenancy.withTenant(slug, query),
    manual: sql.withTransaction(
      sql`SELECT set_config('app.tenant_id', ${tenant.id}, true), set_config('app.tenant_id_xact', (EXTRACT(epoch FROM now()))::text, true), set_config('role', 'dbkit_app', true)`.pipe(Effect.zipRight(query))
    ),
    bare: sql.withTransaction(query)
  }
  const names = Object.keys(kinds)
  const out = Object.fromEntries(names.map((k) => [k, { blockMs: [], n: undefined }]))
  const runBlock = (k) =>
    Effect.gen(function*() {
      const t0 = performance.now()
      let n
      for (let i = 0; i < block; i++) n = yield* kinds[k]
      return { ms: performance.now() - t0, n }
    })
  for (let round = 0; round <= blocks; round++) {
    for (let j = 0; j < names.length; j++) {
      const k = names[(round + j) % names.length]
      const r = yield* runBlock(k)
      if (round > 0) out[k].blockMs.push(r.ms) // round 0 is the warmup
      out[k].n = r.n
    }
  }
  return { block, blocks, tenant: { slug, id: tenant.id }, kinds: out }
})

const live = Tenancy.layer({ strategy: "rls", role: "dbkit_app" }).pipe(
  Layer.provideMerge(PgLive({ url: Redacted.make(url), poolSize: 1 })),
  Layer.provide(DbConfig.layerFrom({ environment: "development" })),
  Layer.provide(NodeContext.layer)
)

Effect.runPromise(Effect.provide(program, live)).then(
  (r) => console.log(JSON.stringify(r)),
  (e) => {
    console.error(e)
    process.exitCode = 1
  }
)
