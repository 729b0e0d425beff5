// Field-level encryption key rotation on the server: 1,000,000 customers.tax_id values encrypted under k1 moved to k2,
// whole process on both sides, reported as rows/s with dbkit's peak RSS:
//   dbkit                 `dbkit privacy rotate-key --json` (DBKIT_FIELD_KEYS="k2:…,k1:…"; the reference privacy map,
//                         src/example/schema/privacy.ts): keyset batches of 2,000 in primary-key order, each one short
//                         transaction whose UPDATE … FROM unnest writes a row only if it still holds the value read
//   node + pg             scripts/bench/rotate-baseline.mjs, what a user writes otherwise: SELECT every value under k1
//                         at once, re-encrypt with node:crypto, UPDATE … FROM unnest in batches of the same 2,000
// Both run against the reference schema as migrated (`dbkit migrate`), with its audit triggers (0004_audit_triggers)
// switched off for the rotation — dbkit per batch transaction, the script for its session: re-encryption changes no
// value anyone sees, and with the trigger on, half the time went to writing a million audit rows.
// Setup, untimed, once: a template database migrated by `dbkit migrate`, two organizations and BENCH_ROTATION_ROWS
// (default 1,000,000) customers across them, tax_id = "DE<9 digits from the row number>" encrypted under k1 in this
// process (node:crypto, the enc:v1 format) and loaded with COPY (auditing off for the load), then VACUUM ANALYZE.
// Every timed run gets a fresh copy (CREATE DATABASE … TEMPLATE, STRATEGY FILE_COPY from PostgreSQL 15; CHECKPOINT),
// dropped afterwards (untimed). One run per side and no warmup by default: a run of a side takes minutes at 1M on 2
// cores (BENCH_ROTATION_ROWS=100000 for a quick check). The CLI is warm from the setup. --runs N gives N interleaved runs per
// side and the usual warmup.
// Checks after every run (untimed; a failure fails the bench): every value is under k2 and a 1% sample of rows
// decrypts (in this process, with k2) to the plaintext its row number gives; dbkit's JSON reports every value rotated
// and no problems. Logged: dbkit's own in-process duration and rows/s from its report.
import * as crypto from "node:crypto"
import { pipeline } from "node:stream/promises"
import { Readable } from "node:stream"
import { from as copyFrom } from "pg-copy-streams"
import { encryptField as encrypt, fmt, withClient } from "../harness.mjs"

const ROWS = Number(process.env.BENCH_ROTATION_ROWS ?? 1_000_000)
const BATCH = 2000
const DEFAULT_RUNS = 1
const TIMEOUT_MS = 15 * 60_000
const TENANTS = ["00000000-0000-4000-8000-0000000000a1", "00000000-0000-4000-8000-0000000000a2"]

const plaintextOf = (i) => `DE${String(100_000_000 + ((i * 7919) % 900_000_000))}`

const keys = { k1: crypto.randomBytes(32), k2: crypto.randomBytes(32) }

const decrypt = (key, value) => {
  const body = Buffer.from(value.slice(value.indexOf(":", 7) + 1), "base64url")
  const decipher = crypto.createDecipheriv("aes-256-gcm", key, body.subarray(0, 12))
  decipher.setAuthTag(body.subarray(body.length - 16))
  return Buffer.concat([decipher.update(body.subarray(12, body.length - 16)), decipher.final()]).toString("utf8")
}

/** CSV lines of the customers, in chunks of 10,000 rows: id, tenant, "customer <i>", tax_id under k1. */
function* customerCsv(n) {
  for (let start = 0; start < n; start += 10_000) {
    const lines = []
    for (let i = start; i < Math.min(n, start + 10_000); i++) {
      lines.push(`${crypto.randomUUID()},${TENANTS[i % 2]},customer ${i},${encrypt(keys.k1, "k1", plaintextOf(i))}\n`)
    }
    yield lines.join("")
  }
}

/** Every value under k2, and a 1% sample decrypting to its row's plaintext. */
const checkRotated = async (name, url) => {
  await withClient(url, async (c) => {
    const { rows: [counts] } = await c.query(
      `SELECT count(*)::int AS n, count(*) FILTER (WHERE tax_id LIKE 'enc:v1:k2:%')::int AS k2 FROM customers`
    )
    if (counts.n !== ROWS || counts.k2 !== ROWS) {
      throw new Error(`bench: ${name}: ${counts.k2} of ${counts.n} customers under k2, expected all ${ROWS}`)
    }
    const { rows } = await c.query(`SELECT name, tax_id FROM customers TABLESAMPLE BERNOULLI (1)`)
    const wrong = rows.filter((r) => decrypt(keys.k2, r.tax_id) !== plaintextOf(Number(r.name.slice("customer ".length))))
    if (rows.length === 0 || wrong.length > 0) {
      throw new Error(`bench: ${name}: ${wrong.length} of ${rows.length} sampled values do not decrypt to their plaintext under k2`)
    }
  })
}

export async function rows(ctx) {
  if (!Number.isInteger(ROWS) || ROWS < BATCH) throw new Error(`bench: BENCH_ROTATION_ROWS must be an integer of at least ${BATCH}`)
  const runs = ctx.runsSet ? ctx.runs : Math.min(ctx.runs, DEFAULT_RUNS)
  const warmup = ctx.runsSet ? ctx.warmup : 0
  const fieldKeys = `k2:${keys.k2.toString("base64")},k1:${keys.k1.toString("base64")}`

  // ---- The template (untimed).
  const template = await ctx.scratchDb()
  const adminUrl = Object.assign(new URL(template.url), { pathname: "/postgres" }).href
  const t0 = performance.now()
  await ctx.runProcess(ctx.node, ["bin/dbkit.mjs", "migrate"], { env: ctx.childEnv({ DATABASE_URL: template.url }) })
  await withClient(template.url, async (c) => {
    await c.query(`INSERT INTO organizations (id, slug, name) VALUES ($1, 'acme', 'Acme'), ($2, 'globex', 'Globex')`, TENANTS)
    // The seeding session skips the audit trail (allowed to superusers by 0004_audit_triggers), as the rotations do.
    await c.query(`SET dbkit.audit = 'off'`)
    await pipeline(Readable.from(customerCsv(ROWS)), c.query(copyFrom(`COPY customers (id, tenant_id, name, tax_id) FROM STDIN WITH (FORMAT csv)`)))
    await c.query(`VACUUM ANALYZE customers`)
  })
  const { rows: [server] } = await withClient(adminUrl, (c) => c.query(`SELECT current_setting('server_version_num')::int AS v`))
  const strategy = server.v >= 150000 ? " STRATEGY FILE_COPY" : ""
  ctx.log(`privacy rotation: template with ${fmt(ROWS)} customers under k1 in ${fmt(performance.now() - t0)} ms`)

  const fresh = (make) => async () => {
    const db = ctx.scratchName()
    await withClient(adminUrl, async (c) => {
      await c.query(`CREATE DATABASE "${db.name}" TEMPLATE "${template.name}"${strategy}`)
      await c.query("CHECKPOINT")
    })
    return { db, ...make(db.url) }
  }
  const reports = []
  const sides = [
    ctx.processSide("dbkit privacy rotate-key", ctx.node, ["bin/dbkit.mjs", "privacy", "rotate-key", "--batch-size", String(BATCH), "--json"], {
      timeoutMs: TIMEOUT_MS,
      setup: fresh((url) => ({ env: ctx.childEnv({ DATABASE_URL: url, DBKIT_FIELD_KEYS: fieldKeys }) })),
      check: async (state, r) => {
        const report = JSON.parse(r.stdout)
        if (report.rotated !== ROWS || report.encrypted !== 0 || report.skipped !== 0 || report.problems !== 0) {
          throw new Error(`bench: dbkit privacy rotate-key reported ${JSON.stringify({ ...report, columns: undefined })}, expected ${ROWS} rotated`)
        }
        for (const secret of [keys.k1, keys.k2].map((k) => k.toString("base64"))) {
          if (r.stdout.includes(secret) || r.stderr.includes(secret)) throw new Error("bench: dbkit privacy rotate-key printed a key")
        }
        reports.push(report)
        await checkRotated("dbkit privacy rotate-key", state.db.url)
      },
      teardown: (state) => state?.db.drop()
    }),
    ctx.processSide("node + pg", ctx.node, ["scripts/bench/rotate-baseline.mjs"], {
      timeoutMs: TIMEOUT_MS,
      setup: fresh((url) => ({ env: ctx.childEnv({ DATABASE_URL: url, DBKIT_FIELD_KEYS: fieldKeys, BENCH_BATCH: String(BATCH) }) })),
      check: async (state, r) => {
        const { rotated } = JSON.parse(r.stdout)
        if (rotated !== ROWS) throw new Error(`bench: rotate-baseline.mjs rotated ${rotated}, expected ${ROWS}`)
        await checkRotated("rotate-baseline.mjs", state.db.url)
      },
      teardown: (state) => state?.db.drop()
    })
  ]
  const [dbkit, baseline] = await ctx.compare(sides, { runs, warmup })
  await template.drop()

  const out = ctx.row({
    operation: `privacy rotate-key, ${fmt(ROWS)} encrypted values k1 → k2, batches of ${fmt(BATCH)} (rows/s)`,
    dbkit,
    baseline,
    baselineName: `node + pg: SELECT all, node:crypto, UPDATE … FROM unnest per ${fmt(BATCH)}`,
    dbkitRows: ROWS,
    baselineRows: ROWS
  })
  const inProcess = reports.slice(-runs).map((r) => ({ durationMs: r.durationMs, rowsPerSecond: r.columns[0]?.rowsPerSecond }))
  out.rotation = { rows: ROWS, batchSize: BATCH, dbkitInProcess: inProcess, baselinePeakRssKb: baseline.rssKb.length ? Math.max(...baseline.rssKb) : null }
  ctx.log(
    `privacy rotation: dbkit ${fmt(out.dbkit.rowsPerSec)} rows/s (in-process ${inProcess.map((r) => `${fmt(r.durationMs)} ms, ${fmt(r.rowsPerSecond)} rows/s`).join("; ")}), ` +
      `peak RSS ${fmt((out.dbkit.peakRssKb ?? 0) / 1024)} MB; node + pg ${fmt(out.baseline.rowsPerSec)} rows/s, peak RSS ` +
      `${fmt((out.rotation.baselinePeakRssKb ?? 0) / 1024)} MB; runs (s, in order): ` +
      [dbkit, baseline].map((m) => `${m.name} ${m.timesMs.map((t) => (t / 1000).toFixed(1)).join(" ")}`).join("; ")
  )
  return [out]
}
