// Tenancy on the server: schema-per-tenant migrations over many tenants, and the per-transaction cost of withTenant.
//
// A. migrate-all: 200 schema tenants × 10 tenant migrations (generated into a temp folder 0001_customers.sql …
//    0010_audit_log.sql: tables with primary keys, foreign keys, checks and indexes — partial, expression, GIN —,
//    ALTER TABLE ADD COLUMN, a view, a plpgsql trigger function and its trigger), whole process on every side:
//      dbkit tenant migrate-all --concurrency C --json   (DBKIT_TENANCY=schema, DBKIT_TENANT_MIGRATIONS_DIR) for
//                                                         C = 1, 2, 4: per tenant, the Migrator on a pooled
//                                                         connection (advisory lock, history table in the tenant's
//                                                         schema, each migration its own transaction, one round
//                                                         trip each) and the registry's migration_state updated
//      sh: psql -1 per tenant (the loop one writes today): the slugs from the registry, then for each
//            PGOPTIONS="-c search_path=tenant_<slug>,public" psql -1 -q -X -v ON_ERROR_STOP=1 -f all.sql
//          all.sql = the 10 migrations concatenated, one transaction per tenant, no history, no lock, serial.
//          Its cost is a process and a connection per tenant, linear in the tenants: to keep the row's time
//          reasonable it migrates the first 50 slugs of the same 200-tenant database (BENCH_TENANCY_LOOP_TENANTS;
//          the slug query is the loop's only fixed cost) and the rows compare tenants/s.
//    Every timed run starts from the same database: a template built once (untimed: `dbkit tenant provision` of one
//    tenant with an empty migrations folder creates the registry exactly as dbkit does, then 199 more registry rows
//    — status active, strategy schema, tenant_<slug> — and all 200 schemas empty) is copied into a fresh scratch
//    database (CREATE DATABASE … TEMPLATE, then CHECKPOINT; untimed) and dropped after the run (untimed). The four
//    sides run interleaved in one compare, so the concurrency curve and the loop share the same conditions; 3 runs
//    and no warmup round by default (a round takes about a minute; the CLI is already warm from the setup, which
//    runs it), --runs N gives N runs and the usual warmup.
//    Checks after every run (untimed; a failure fails the bench): every tenant schema a side migrated holds exactly
//    the objects (tables, views, columns with types and NOT NULL, constraints, functions, triggers) the 10
//    migrations create in a reference schema built once with psql (md5 of their catalog), and the others are still
//    empty; for dbkit (all 200) also: its JSON reports 200 tenants, all "applied" with 10 migrations each, every
//    schema's dbkit_migrations has 10 applied rows, and the registry says "applied" for all 200.
//    Rows: one per concurrency beside the loop; the rows/s columns are tenants/s and the ratio compares time per
//    tenant (their tenants/s / dbkit's). The log and the JSON (`tenancy`) give tenants/s per concurrency, the
//    speed-up over --concurrency 1, the server's cores (this machine's CPUs when the server is on
//    127.0.0.1 / localhost, as by default; null otherwise) and dbkit's
//    per-tenant durations from its JSON.
// B. withTenant overhead, in-process (scripts/bench/tenancy-probe.mjs through dist/index.js, one pool of ONE
//    connection, so transactions are strictly serial): on a scratch database with the reference schema migrated
//    (`dbkit migrate`) and two rls tenants provisioned (DBKIT_TENANT_TABLE=organizations `dbkit tenant provision`),
//    customers rows for both, the same `SELECT count(*) FROM customers` in
//      Tenancy.withTenant("acme", …) (strategy rls, role dbkit_app)   vs   a bare sql.withTransaction   and vs
//      the hand-written equivalent (sql.withTransaction + set_config of app.tenant_id and role, the id known)
//    in blocks of BLOCK transactions, interleaved and rotated; one sample = one block (the table shows ms per
//    BLOCK transactions; rows/s = transactions/s). Checked: withTenant and the hand-written one see only acme's
//    rows, the bare one all of them. Logged: per-transaction medians (µs) and the ratios.
import { mkdirSync, writeFileSync } from "node:fs"
import { cpus } from "node:os"
import { join } from "node:path"
import { fmt, median, pgEnvOf, q, withClient } from "../harness.mjs"

const TENANTS = 200
const CONCURRENCY = [1, 2, 4]
const DEFAULT_RUNS = 3 // one round of the four sides takes ~60 s on 2 cores; --runs overrides
// The loop pays a psql process and a connection per tenant (~0.3 s a tenant here): over all 200 tenants it alone
// would take a minute a run, so it migrates the first LOOP_TENANTS (by slug) of the same 200-tenant database and the
// rows compare tenants/s. BENCH_TENANCY_LOOP_TENANTS overrides (up to 200).
const LOOP_TENANTS = Number(process.env.BENCH_TENANCY_LOOP_TENANTS ?? 50)
const TIMEOUT_MS = 15 * 60_000
const BLOCK = 100 // transactions per withTenant sample
const BLOCKS = 24 // samples per kind of transaction (3 × 24 × 100 = 7,200 transactions, ~8 s)
const ACME_ROWS = 5
const OTHER_ROWS = 7

const fmt1 = (n) => n.toFixed(1)
const slugOf = (i) => `org_${String(i).padStart(3, "0")}`


/** The 10 tenant migrations, [file name, SQL]. Unqualified names: they land in the tenant's schema. */
export const MIGRATIONS = [
  [
    "0001_customers.sql",
    `CREATE TABLE customers (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  name text NOT NULL,
  email text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX customers_email_key ON customers (lower(email));`
  ],
  [
    "0002_products.sql",
    `CREATE TABLE products (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  sku text NOT NULL UNIQUE,
  name text NOT NULL,
  price_cents bigint NOT NULL CHECK (price_cents >= 0),
  active boolean NOT NULL DEFAULT true
);
CREATE INDEX products_active_name_idx ON products (name) WHERE active;`
  ],
  [
    "0003_orders.sql",
    `CREATE TABLE orders (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  customer_id uuid NOT NULL REFERENCES customers (id) ON DELETE RESTRICT,
  status text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'paid', 'cancelled')),
  placed_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX orders_customer_id_idx ON orders (customer_id);
CREATE INDEX orders_placed_at_idx ON orders (placed_at DESC);`
  ],
  [
    "0004_order_lines.sql",
    `CREATE TABLE order_lines (
  order_id bigint NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
  line_no integer NOT NULL,
  product_id bigint NOT NULL REFERENCES products (id),
  quantity integer NOT NULL CHECK (quantity > 0),
  unit_price_cents bigint NOT NULL,
  PRIMARY KEY (order_id, line_no)
);
CREATE INDEX order_lines_product_id_idx ON order_lines (product_id);`
  ],
  [
    "0005_customer_contact.sql",
    `ALTER TABLE customers ADD COLUMN phone text;
ALTER TABLE customers ADD COLUMN archived_at timestamptz;
CREATE INDEX customers_active_created_idx ON customers (created_at) WHERE archived_at IS NULL;`
  ],
  [
    "0006_invoices.sql",
    `CREATE TABLE invoices (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  order_id bigint NOT NULL UNIQUE REFERENCES orders (id),
  number text NOT NULL UNIQUE,
  issued_on date NOT NULL DEFAULT current_date,
  total_cents bigint NOT NULL DEFAULT 0 CHECK (total_cents >= 0)
);`
  ],
  [
    "0007_order_totals_view.sql",
    `CREATE VIEW order_totals AS
  SELECT o.id AS order_id, o.customer_id, o.status,
         coalesce(sum(l.quantity * l.unit_price_cents), 0)::bigint AS total_cents
    FROM orders o LEFT JOIN order_lines l ON l.order_id = o.id
   GROUP BY o.id;`
  ],
  [
    "0008_orders_updated_at.sql",
    `CREATE FUNCTION touch_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.updated_at := now(); -- keeps the row's last change; a ';' inside the body
  RETURN NEW;
END
$$;
ALTER TABLE orders ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now();
CREATE TRIGGER orders_touch_updated_at BEFORE UPDATE ON orders FOR EACH ROW EXECUTE FUNCTION touch_updated_at();`
  ],
  [
    "0009_payments.sql",
    `CREATE TABLE payments (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  invoice_id bigint NOT NULL REFERENCES invoices (id) ON DELETE CASCADE,
  amount_cents bigint NOT NULL CHECK (amount_cents > 0),
  method text NOT NULL CHECK (method IN ('card', 'transfer', 'cash')),
  received_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX payments_invoice_id_idx ON payments (invoice_id);`
  ],
  [
    "0010_audit_log.sql",
    `CREATE TABLE audit_log (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  entity text NOT NULL,
  entity_id text NOT NULL,
  action text NOT NULL,
  payload jsonb NOT NULL DEFAULT '{}'::jsonb,
  at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX audit_log_entity_idx ON audit_log (entity, entity_id, at DESC);
CREATE INDEX audit_log_payload_idx ON audit_log USING gin (payload);
ALTER TABLE invoices ADD COLUMN paid_at timestamptz;`
  ]
]

/** Writes the migrations as a plain folder and concatenated (all.sql); returns both paths. */
const generate = (root) => {
  const dir = join(root, "tenant-migrations")
  mkdirSync(dir)
  for (const [name, text] of MIGRATIONS) writeFileSync(join(dir, name), `${text}\n`)
  const allSql = join(root, "all.sql")
  writeFileSync(allSql, MIGRATIONS.map(([name, text]) => `-- ${name}\n${text}\n`).join("\n"))
  const empty = join(root, "empty")
  mkdirSync(empty)
  return { dir, allSql, empty }
}

// Per tenant_* schema: how many catalog objects the migrations made and an md5 of them (names, kinds, column types,
// constraints, functions, triggers), leaving out dbkit's own history table (dbkit_migrations*).
const FINGERPRINT = `
WITH objs AS (
  SELECT c.relnamespace AS ns, 'rel:' || c.relname || ':' || c.relkind::text AS o
    FROM pg_class c WHERE c.relname NOT LIKE 'dbkit\\_migrations%'
  UNION ALL
  SELECT c.relnamespace, 'col:' || c.relname || '.' || a.attname || ':' || format_type(a.atttypid, a.atttypmod)
         || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END
    FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
   WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'v') AND c.relname NOT LIKE 'dbkit\\_migrations%'
  UNION ALL
  SELECT connamespace, 'con:' || conname || ':' || contype::text FROM pg_constraint WHERE conname NOT LIKE 'dbkit\\_migrations%'
  UNION ALL
  SELECT pronamespace, 'fn:' || proname FROM pg_proc
  UNION ALL
  SELECT c.relnamespace, 'trg:' || t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid WHERE NOT t.tgisinternal
)
SELECT n.nspname AS schema, count(o)::int AS objects, md5(coalesce(string_agg(o, ',' ORDER BY o), '')) AS fp
  FROM pg_namespace n LEFT JOIN objs ON objs.ns = n.oid
 WHERE n.nspname LIKE 'tenant\\_%'
 GROUP BY n.nspname ORDER BY n.nspname`

export async function rows(ctx) {
  const runs = ctx.runsSet ? ctx.runs : Math.min(ctx.runs, DEFAULT_RUNS)
  // No warmup round by default (it would cost a minute): every run starts from a fresh copy of one template, and
  // the CLI bundle and its code cache are already warm from the untimed setup, which runs the same CLI.
  const warmup = ctx.runsSet ? ctx.warmup : 0
  if (!Number.isInteger(LOOP_TENANTS) || LOOP_TENANTS < 1 || LOOP_TENANTS > TENANTS) {
    throw new Error(`bench: BENCH_TENANCY_LOOP_TENANTS must be an integer from 1 to ${TENANTS}`)
  }
  const work = ctx.tempDir("dbkit-bench-tenancy-")
  const { dir, allSql, empty } = generate(work)
  const slugs = Array.from({ length: TENANTS }, (_, i) => slugOf(i + 1))

  // ---- A. migrate-all. Setup once (untimed): the reference fingerprint and the template database.
  const ref = await ctx.scratchDb()
  const adminUrl = Object.assign(new URL(ref.url), { pathname: "/postgres" }).href // the bench server's
  const admin = (f) => withClient(adminUrl, f)
  const local = ["127.0.0.1", "localhost", "[::1]"].includes(new URL(ref.url).hostname)
  const cores = local ? cpus().length : null
  await withClient(ref.url, (c) => c.query("CREATE SCHEMA tenant_reference"))
  await ctx.runProcess("psql", ["-1", "-q", "-X", "-v", "ON_ERROR_STOP=1", "-f", allSql], {
    env: ctx.childEnv({ ...pgEnvOf(ref.url), PGOPTIONS: "-c search_path=tenant_reference,public" })
  })
  const [reference] = await withClient(ref.url, (c) => c.query(FINGERPRINT).then((r) => r.rows))
  await ref.drop()
  if (!reference || reference.objects < 50) throw new Error(`bench: the reference tenant schema is not as expected: ${JSON.stringify(reference)}`)

  const template = await ctx.scratchDb()
  const t0 = performance.now()
  await ctx.runProcess(ctx.node, ["bin/dbkit.mjs", "tenant", "provision", slugs[0], "--json"], {
    env: ctx.childEnv({ DATABASE_URL: template.url, DBKIT_TENANCY: "schema", DBKIT_TENANT_MIGRATIONS_DIR: empty })
  })
  await withClient(template.url, async (c) => {
    await c.query("BEGIN")
    // The provisioned tenant got an empty history table from its (empty) migrations: every tenant starts alike.
    await c.query(`DROP TABLE tenant_${slugs[0]}.dbkit_migrations`)
    await c.query(
      `INSERT INTO dbkit.tenants (slug, name, strategy, schema_name, status)
       SELECT s, initcap(replace(s, '_', ' ')), 'schema', 'tenant_' || s, 'active' FROM unnest($1::text[]) AS s`,
      [slugs.slice(1)]
    )
    await c.query(`UPDATE dbkit.tenants SET migration_state = NULL, migration_error = NULL, migrated_at = NULL`)
    for (const s of slugs.slice(1)) await c.query(`CREATE SCHEMA tenant_${s}`)
    await c.query("COMMIT")
    const n = (await c.query(`SELECT count(*)::int AS n FROM dbkit.tenants WHERE status = 'active' AND strategy = 'schema'`)).rows[0].n
    if (n !== TENANTS) throw new Error(`bench: the template registry holds ${n} active schema tenants, expected ${TENANTS}`)
  })
  ctx.log(
    `tenancy: template with ${TENANTS} empty tenant schemas in ${fmt(performance.now() - t0)} ms; reference schema: ` +
      `${reference.objects} catalog objects from ${MIGRATIONS.length} migrations; server cores ${cores ?? "unknown (not local)"}`
  )

  /** A fresh copy of the template (untimed), its URL in the env `make` builds. */
  const fresh = (make) => async () => {
    const db = ctx.scratchName()
    await admin((c) => c.query(`CREATE DATABASE "${db.name}" TEMPLATE "${template.name}"`))
    await admin((c) => c.query("CHECKPOINT"))
    return { db, ...make(db.url) }
  }
  /** Every tenant schema: the first `migrated` (by slug) exactly as the migrations make them, the others empty. */
  const checkSchemas = async (name, url, migrated = TENANTS) => {
    const found = await withClient(url, (c) => c.query(FINGERPRINT).then((r) => r.rows))
    const want = new Set(slugs.slice(0, migrated).map((s) => `tenant_${s}`))
    const wrong = found.filter((r) => (want.has(r.schema) ? r.fp !== reference.fp : r.objects !== 0))
    if (found.length !== TENANTS || wrong.length > 0) {
      throw new Error(
        `bench: ${name}: ${found.length} tenant schemas (expected ${TENANTS}), ${wrong.length} not as expected (${migrated} ` +
          `migrated, the rest empty; first wrong: ${wrong[0]?.schema} with ${wrong[0]?.objects} objects, the reference has ` +
          `${reference.objects})`
      )
    }
  }
  const perTenantMs = {} // concurrency -> durations of the last checked run
  const dbkitSide = (concurrency) =>
    ctx.processSide(`dbkit migrate-all c=${concurrency}`, ctx.node, [
      "bin/dbkit.mjs",
      "tenant",
      "migrate-all",
      "--concurrency",
      String(concurrency),
      "--json"
    ], {
      timeoutMs: TIMEOUT_MS,
      setup: fresh((url) => ({
        env: ctx.childEnv({ DATABASE_URL: url, DBKIT_TENANCY: "schema", DBKIT_TENANT_MIGRATIONS_DIR: dir })
      })),
      check: async (state, r) => {
        const name = `dbkit tenant migrate-all --concurrency ${concurrency}`
        const report = JSON.parse(r.stdout)
        const bad = report.results.filter((x) => x.state !== "applied" || x.applied !== MIGRATIONS.length)
        if (report.results.length !== TENANTS || report.applied !== TENANTS || report.failed !== 0 || bad.length > 0) {
          throw new Error(
            `bench: ${name} reported ${report.results.length} results, ${report.applied} applied, ${report.failed} failed; ` +
              `first unexpected: ${JSON.stringify(bad[0])}`
          )
        }
        perTenantMs[concurrency] = { durationsMs: report.results.map((x) => x.durationMs), reportedMs: report.durationMs }
        await checkSchemas(name, state.db.url)
        await withClient(state.db.url, async (c) => {
          const history = slugs
            .map((s) => `SELECT count(*) FILTER (WHERE status = 'applied')::int AS n FROM tenant_${s}.dbkit_migrations`)
            .join(" UNION ALL ")
          const short = (await c.query(history)).rows.filter((x) => x.n !== MIGRATIONS.length).length
          const registry = (await c.query(`SELECT count(*)::int AS n FROM dbkit.tenants WHERE migration_state = 'applied'`)).rows[0].n
          if (short > 0 || registry !== TENANTS) {
            throw new Error(`bench: ${name}: ${short} tenants without ${MIGRATIONS.length} applied history rows; ${registry} registry rows say applied`)
          }
        })
      },
      teardown: (state) => state?.db.drop()
    })
  const loop =
    `for s in $(psql -X -At -c "SELECT slug FROM dbkit.tenants WHERE strategy = 'schema' AND status = 'active' ORDER BY slug LIMIT ${LOOP_TENANTS}"); do ` +
    `PGOPTIONS="-c search_path=tenant_$s,public" psql -1 -q -X -v ON_ERROR_STOP=1 -f ${q(allSql)} || exit 1; done`
  const loopSide = ctx.processSide("sh: psql -1 per tenant", "sh", [], {
    timeoutMs: TIMEOUT_MS,
    setup: fresh((url) => ({ env: ctx.childEnv(pgEnvOf(url)), args: ["-c", loop] })),
    check: (state) => checkSchemas("the psql -1 loop", state.db.url, LOOP_TENANTS),
    teardown: (state) => state?.db.drop()
  })

  const measured = await ctx.compare([...CONCURRENCY.map(dbkitSide), loopSide], { runs, warmup })
  const loopM = measured.at(-1)
  const out = CONCURRENCY.map((c, i) =>
    ctx.row({
      operation: `tenant migrate-all ${TENANTS} schemas × ${MIGRATIONS.length}, --concurrency ${c} (tenants/s)`,
      dbkit: measured[i],
      baseline: loopM,
      baselineName: `sh: psql -1 -f all.sql per tenant, ${LOOP_TENANTS === TENANTS ? "all" : `${LOOP_TENANTS} of the`} ${TENANTS}`,
      dbkitRows: TENANTS,
      baselineRows: LOOP_TENANTS
    })
  )
  const loopRate = out[0].baseline.rowsPerSec
  const base = out[0].dbkit.rowsPerSec
  const tenancy = {
    tenants: TENANTS,
    migrations: MIGRATIONS.length,
    serverCores: cores,
    loopTenants: LOOP_TENANTS,
    loopTenantsPerSec: loopRate,
    byConcurrency: CONCURRENCY.map((c, i) => {
      const d = perTenantMs[c]?.durationsMs ?? []
      return {
        concurrency: c,
        tenantsPerSec: out[i].dbkit.rowsPerSec,
        speedupOverC1: out[i].dbkit.rowsPerSec / base,
        overLoop: out[i].dbkit.rowsPerSec / loopRate,
        perTenantMedianMs: d.length ? median(d) : null,
        reportedDurationMs: perTenantMs[c]?.reportedMs ?? null
      }
    })
  }
  for (const r of out) r.tenancy = tenancy
  ctx.log(
    `tenancy: migrate-all tenants/s: ` +
      tenancy.byConcurrency
        .map((b) => `c=${b.concurrency} ${fmt1(b.tenantsPerSec)} (×${b.speedupOverC1.toFixed(2)} of c=1, ${b.overLoop.toFixed(2)}× the loop; per tenant ${fmt(b.perTenantMedianMs)} ms, in-process total ${fmt(b.reportedDurationMs)} ms)`)
        .join("; ") +
      `; psql -1 loop ${fmt1(loopRate)} tenants/s (${LOOP_TENANTS} tenants a run); server cores ${cores ?? "unknown"}`
  )
  ctx.log(
    `tenancy: migrate-all runs (s, in run order; ${runs} runs, ${warmup} warmup): ` +
      measured.map((m) => `${m.name} ${m.timesMs.map((t) => (t / 1000).toFixed(1)).join(" ")}`).join("; ")
  )

  // ---- B. withTenant overhead.
  const rls = await ctx.scratchDb()
  const cli = (args, extra = {}) =>
    ctx.runProcess(ctx.node, ["bin/dbkit.mjs", ...args], { env: ctx.childEnv({ DATABASE_URL: rls.url, ...extra }) })
  await cli(["migrate"])
  for (const s of ["acme", "globex"]) await cli(["tenant", "provision", s, "--json"], { DBKIT_TENANT_TABLE: "organizations" })
  await withClient(rls.url, (c) =>
    c.query(
      `INSERT INTO customers (tenant_id, name, email)
       SELECT t.id, t.slug || ' customer ' || g, t.slug || g || '@example.com'
         FROM dbkit.tenants t, generate_series(1, CASE WHEN t.slug = 'acme' THEN ${ACME_ROWS} ELSE ${OTHER_ROWS} END) g`
    )
  )
  const probe = JSON.parse(
    (
      await ctx.runProcess(ctx.node, ["scripts/bench/tenancy-probe.mjs"], {
        env: ctx.childEnv({ DATABASE_URL: rls.url, BENCH_TENANT: "acme", BENCH_BLOCK: String(BLOCK), BENCH_BLOCKS: String(BLOCKS) }),
        timeoutMs: TIMEOUT_MS
      })
    ).stdout
  )
  await rls.drop()
  const k = probe.kinds
  if (k.withTenant.n !== ACME_ROWS || k.manual.n !== ACME_ROWS || k.bare.n !== ACME_ROWS + OTHER_ROWS) {
    throw new Error(
      `bench: withTenant probe: counts seen withTenant ${k.withTenant.n}, by hand ${k.manual.n} (expected ${ACME_ROWS}), ` +
        `bare ${k.bare.n} (expected ${ACME_ROWS + OTHER_ROWS})`
    )
  }
  const asMeasure = (name, kind) => ({ name, runs: kind.blockMs.length, timesMs: kind.blockMs, rssKb: [] })
  const wt = asMeasure("withTenant", k.withTenant)
  const operation = `withTenant transaction (rls), ms per ${BLOCK} (tx/s)`
  const txRows = [
    ctx.row({
      operation,
      dbkit: wt,
      baseline: asMeasure("bare", k.bare),
      baselineName: "bare sql.withTransaction (no tenant)",
      dbkitRows: BLOCK,
      baselineRows: BLOCK
    }),
    ctx.row({
      operation,
      dbkit: wt,
      baseline: asMeasure("by hand", k.manual),
      baselineName: "withTransaction + set_config by hand",
      dbkitRows: BLOCK,
      baselineRows: BLOCK
    })
  ]
  const us = (kind) => (median(kind.blockMs) / BLOCK) * 1000
  const overhead = {
    transactionsPerSample: BLOCK,
    samples: BLOCKS,
    perTransactionMedianUs: { withTenant: us(k.withTenant), byHand: us(k.manual), bare: us(k.bare) },
    ratioOverBare: us(k.withTenant) / us(k.bare),
    ratioOverByHand: us(k.withTenant) / us(k.manual)
  }
  for (const r of txRows) r.withTenant = overhead
  ctx.log(
    `tenancy: per transaction (median of ${BLOCKS} blocks of ${BLOCK}, one connection): withTenant ${fmt(overhead.perTransactionMedianUs.withTenant)} µs, ` +
      `by hand (set_config) ${fmt(overhead.perTransactionMedianUs.byHand)} µs, bare ${fmt(overhead.perTransactionMedianUs.bare)} µs; ` +
      `withTenant/bare ${overhead.ratioOverBare.toFixed(2)}x (+${fmt(overhead.perTransactionMedianUs.withTenant - overhead.perTransactionMedianUs.bare)} µs), ` +
      `withTenant/by hand ${overhead.ratioOverByHand.toFixed(2)}x`
  )
  return [...out, ...txRows]
}
