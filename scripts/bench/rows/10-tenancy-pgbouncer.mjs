// withTenant behind a transaction-pooling PgBouncer, beside the same transaction written by hand, and beside direct.
//
// Setup (untimed): a scratch database with the reference schema (`dbkit migrate`), two rls tenants
// (DBKIT_TENANT_TABLE=organizations `dbkit tenant provision acme|globex`) and customers for both; a private PgBouncer
// (Debian's `pgbouncer`; `-u nobody` when the bench runs as root, which PgBouncer refuses) on a free loopback port,
// pool_mode = transaction, default_pool_size = 2, trust auth, its ini, auth file, log and socket in a temp folder.
// scripts/bench/pgbouncer-probe.mjs then runs, in one process through dist/index.js, BLOCKS blocks of BLOCK
// transactions of each kind, interleaved and rotated, every kind on one connection (strictly serial):
//   Tenancy.withTenant("acme", SELECT count(*) FROM customers) through PgBouncer            (dbkit)
//   node-postgres by hand: BEGIN; SELECT set_config('app.tenant_id', $1, true), set_config('app.tenant_id_xact', …),
//     set_config('role', 'dbkit_app', true); SELECT count(*) …; COMMIT   through PgBouncer
//   the same two directly to the server
// Checked: every kind saw exactly acme's rows. Rows (ms per BLOCK transactions; rows/s = transactions/s):
// withTenant via PgBouncer beside by hand via PgBouncer, beside by hand direct; withTenant direct beside by hand
// direct. Skipped with a message when pgbouncer is not installed.
import { spawn, execFileSync } from "node:child_process"
import { chownSync, existsSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { fmt, freePort, median, which, withClient } from "../harness.mjs"

const BLOCK = 100
const BLOCKS = 16
const ACME_ROWS = 5
const OTHER_ROWS = 7
const TIMEOUT_MS = 10 * 60_000

const binary = () => which("pgbouncer") ?? ["/usr/sbin/pgbouncer", "/usr/bin/pgbouncer"].find((f) => existsSync(f))

/** A PgBouncer in transaction mode in front of `db`; returns { url, stop }. */
const startBouncer = async (ctx, bin, db) => {
  const upstream = new URL(db.url)
  const user = decodeURIComponent(upstream.username) || "root"
  const dir = ctx.tempDir("dbkit-bench-pgbouncer-")
  const port = await freePort()
  const log = join(dir, "pgbouncer.log")
  writeFileSync(join(dir, "users.txt"), `"${user}" ""\n`, { mode: 0o644 })
  writeFileSync(
    join(dir, "pgbouncer.ini"),
    [
      "[databases]",
      `${db.name} = host=${upstream.hostname} port=${upstream.port || "5432"} dbname=${db.name}`,
      "[pgbouncer]",
      "listen_addr = 127.0.0.1",
      `listen_port = ${port}`,
      `unix_socket_dir = ${dir}`,
      "auth_type = trust",
      `auth_file = ${join(dir, "users.txt")}`,
      "pool_mode = transaction",
      "default_pool_size = 2",
      `logfile = ${log}`,
      ""
    ].join("\n"),
    { mode: 0o644 }
  )
  const asRoot = process.getuid?.() === 0
  if (asRoot) {
    chownSync(dir, Number(execFileSync("id", ["-u", "nobody"])), Number(execFileSync("id", ["-g", "nobody"])))
  }
  const child = spawn(bin, [...(asRoot ? ["-u", "nobody"] : []), join(dir, "pgbouncer.ini")], { stdio: "ignore" })
  const url = `postgres://${encodeURIComponent(user)}@127.0.0.1:${port}/${db.name}`
  const stop = () =>
    new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve()
      const kill = setTimeout(() => child.kill("SIGKILL"), 5000)
      child.once("exit", () => (clearTimeout(kill), resolve()))
      child.kill("SIGINT")
    })
  for (let attempt = 0; ; attempt++) {
    try {
      await withClient(url, (c) => c.query("SELECT 1"))
      return { url, stop }
    } catch (error) {
      if (attempt >= 100 || child.exitCode !== null) {
        await stop()
        const text = existsSync(log) ? readFileSync(log, "utf8") : ""
        throw new Error(`bench: pgbouncer did not accept connections on ${port}: ${error.message}\n${text}`)
      }
      await new Promise((r) => setTimeout(r, 100))
    }
  }
}

export async function rows(ctx) {
  const bin = binary()
  if (bin === undefined) {
    ctx.log("tenancy-pgbouncer: pgbouncer is not installed (apt-get install pgbouncer): row skipped")
    return []
  }
  const db = await ctx.scratchDb()
  const cli = (args, extra = {}) =>
    ctx.runProcess(ctx.node, ["bin/dbkit.mjs", ...args], { env: ctx.childEnv({ DATABASE_URL: db.url, ...extra }) })
  await cli(["migrate"])
  for (const s of ["acme", "globex"]) await cli(["tenant", "provision", s, "--json"], { DBKIT_TENANT_TABLE: "organizations" })
  await withClient(db.url, (c) =>
    c.query(
      `INSERT INTO customers (tenant_id, name, email)
       SELECT t.id, t.slug || ' customer ' || g, t.slug || g || '@example.com'
         FROM dbkit.tenants t, generate_series(1, CASE WHEN t.slug = 'acme' THEN ${ACME_ROWS} ELSE ${OTHER_ROWS} END) g`
    )
  )
  const bouncer = await startBouncer(ctx, bin, db)
  let probe
  try {
    probe = JSON.parse(
      (
        await ctx.runProcess(ctx.node, ["scripts/bench/pgbouncer-probe.mjs"], {
          env: ctx.childEnv({
            DATABASE_URL: db.url,
            BOUNCER_URL: bouncer.url,
            BENCH_TENANT: "acme",
            BENCH_BLOCK: String(BLOCK),
            BENCH_BLOCKS: String(BLOCKS)
          }),
          timeoutMs: TIMEOUT_MS
        })
      ).stdout
    )
  } finally {
    await bouncer.stop()
    await db.drop()
  }
  const k = probe.kinds
  const wrong = Object.entries(k).filter(([, kind]) => kind.n !== ACME_ROWS)
  if (wrong.length > 0) {
    throw new Error(`bench: pgbouncer probe: ${wrong.map(([name, kind]) => `${name} saw ${kind.n}`).join(", ")} (expected ${ACME_ROWS})`)
  }
  const asMeasure = (name, kind) => ({ name, runs: kind.blockMs.length, timesMs: kind.blockMs, rssKb: [] })
  const bouncerWt = asMeasure("withTenant via PgBouncer", k.withTenantBouncer)
  const handDirect = asMeasure("by hand, direct", k.handDirect)
  const out = [
    ctx.row({
      operation: `withTenant via PgBouncer (transaction pooling), ms per ${BLOCK} (tx/s)`,
      dbkit: bouncerWt,
      baseline: asMeasure("by hand via PgBouncer", k.handBouncer),
      baselineName: "node-postgres BEGIN; set_config; SELECT; COMMIT via PgBouncer",
      dbkitRows: BLOCK,
      baselineRows: BLOCK
    }),
    ctx.row({
      operation: `withTenant via PgBouncer (transaction pooling), ms per ${BLOCK} (tx/s)`,
      dbkit: bouncerWt,
      baseline: handDirect,
      baselineName: "the same by hand, direct to the server",
      dbkitRows: BLOCK,
      baselineRows: BLOCK
    }),
    ctx.row({
      operation: `withTenant direct, ms per ${BLOCK} (tx/s)`,
      dbkit: asMeasure("withTenant direct", k.withTenantDirect),
      baseline: handDirect,
      baselineName: "node-postgres BEGIN; set_config; SELECT; COMMIT, direct",
      dbkitRows: BLOCK,
      baselineRows: BLOCK
    })
  ]
  const us = (kind) => (median(kind.blockMs) / BLOCK) * 1000
  const perTransactionMedianUs = Object.fromEntries(Object.entries(k).map(([name, kind]) => [name, us(kind)]))
  for (const r of out) r.pgbouncer = { transactionsPerSample: BLOCK, samples: BLOCKS, perTransactionMedianUs }
  ctx.log(
    `tenancy-pgbouncer: per transaction (median of ${BLOCKS} blocks of ${BLOCK}, one connection): ` +
      Object.entries(perTransactionMedianUs).map(([name, v]) => `${name} ${fmt(v)} µs`).join(", ")
  )
  return out
}
