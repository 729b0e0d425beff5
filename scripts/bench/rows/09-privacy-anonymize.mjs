// Privacy: an anonymized copy of the reference database at development scale, whole process on both sides:
//   dbkit privacy anonymize --into NEW --json   (DBKIT_FIELD_KEYS set: the map declares customers.tax_id encrypted):
//        CREATE DATABASE NEW (unreachable while built), pg_dump SRC | psql NEW (streamed through the process), every
//        declared column of users and customers rewritten with fakes in keyset batches of 1,000 (tax_id decrypted,
//        faked, encrypted again), VACUUM FULL, ANALYZE of those tables, CONNECT granted back
//   vs the plain copy a user would make anyway, without anonymizing anything:
//        sh -c "createdb NEW2 && pg_dump SRC | psql -q -X -v ON_ERROR_STOP=1 NEW2"
// Setup once (untimed): a scratch database migrated with the reference schema (`dbkit migrate`) and seeded with the
// development profile (`dbkit seed --profile development --scale S`, S = BENCH_ANONYMIZE_SCALE, default 10: 50
// organizations, 1,000 customers, 2,500 invoices with their lines and payments, a few hundred users); the seed leaves
// the contact columns empty, so the setup fills customers.phone / address (SQL) and tax_id (encrypted under the
// bench's key, in the field-encryption envelope) for every customer. Every run creates its own new database and drops
// it afterwards (untimed); the sides run interleaved.
// Checked after every dbkit run (untimed; a failure fails the bench): the report's tables and row counts (every user,
// every customer), and that no email in the copy is one of the source's.
// Logged (in the JSON as `anonymize`): rows rewritten per second (in-process, the rewrite alone, from the report)
// and per second of the whole command, and the report's split: copy / rewrite / vacuum.
import { randomBytes } from "node:crypto"
import { encryptField as encrypt, fmt, median, pgEnvOf, q, withClient } from "../harness.mjs"

const SCALE = Number(process.env.BENCH_ANONYMIZE_SCALE ?? 10)
const DEFAULT_RUNS = 5
const TIMEOUT_MS = 15 * 60_000


export async function rows(ctx) {
  const runs = ctx.runsSet ? ctx.runs : Math.min(ctx.runs, DEFAULT_RUNS)
  const warmup = ctx.warmup
  const key = randomBytes(32)
  const fieldKeys = `bench:${key.toString("base64")}`

  // ---- setup (untimed)
  const source = await ctx.scratchDb()
  const cli = (args) => ctx.runProcess(ctx.node, ["bin/dbkit.mjs", ...args], { env: ctx.childEnv({ DATABASE_URL: source.url }), timeoutMs: TIMEOUT_MS })
  const t0 = performance.now()
  await cli(["migrate"])
  await cli(["seed", "--profile", "development", "--scale", String(SCALE)])
  const facts = await withClient(source.url, async (c) => {
    await c.query(`UPDATE customers SET phone = '+49 30 ' || lpad((abs(hashtext(id::text)) % 10000000)::text, 7, '0'),
                                        address = 'Hauptstraße ' || (abs(hashtext(name)) % 200 + 1) || ', 10115 Berlin'`)
    const ids = (await c.query("SELECT id FROM customers")).rows.map((r) => r.id)
    const taxIds = ids.map((_, i) => encrypt(key, "bench", String(10_000_000_000 + i)))
    await c.query(`UPDATE customers c SET tax_id = v.t FROM unnest($1::uuid[], $2::text[]) AS v(id, t) WHERE c.id = v.id`, [ids, taxIds])
    await c.query("VACUUM ANALYZE")
    const [counts] = (await c.query(
      `SELECT (SELECT count(*) FROM users)::int AS users, (SELECT count(*) FROM customers)::int AS customers,
              pg_database_size(current_database())::float8 AS bytes`
    )).rows
    const emails = new Set((await c.query("SELECT email FROM users UNION SELECT email FROM customers WHERE email IS NOT NULL")).rows.map((r) => r.email))
    return { ...counts, emails }
  })
  const personalRows = facts.users + facts.customers
  ctx.log(
    `anonymize: source seeded (development, scale ${SCALE}) in ${fmt(performance.now() - t0)} ms: ${fmt(facts.users)} users, ` +
      `${fmt(facts.customers)} customers (${fmt(personalRows)} rows with personal data), ${(facts.bytes / 1024 / 1024).toFixed(1)} MB`
  )

  // ---- the sides
  const reports = []
  const dbkitSide = ctx.processSide("dbkit privacy anonymize --into", ctx.node, [], {
    timeoutMs: TIMEOUT_MS,
    setup: () => {
      const db = ctx.scratchName()
      return {
        db,
        args: ["bin/dbkit.mjs", "privacy", "anonymize", "--into", db.name, "--json"],
        env: ctx.childEnv({ DATABASE_URL: source.url, DBKIT_FIELD_KEYS: fieldKeys })
      }
    },
    check: async (state, r) => {
      const report = JSON.parse(r.stdout)
      const got = Object.fromEntries(report.tables.map((t) => [t.table, t.rows]))
      if (got["public.users"] !== facts.users || got["public.customers"] !== facts.customers) {
        throw new Error(`bench: anonymize rewrote ${JSON.stringify(got)}, expected ${facts.users} users and ${facts.customers} customers`)
      }
      const left = await withClient(state.db.url, async (c) =>
        (await c.query("SELECT email FROM users UNION SELECT email FROM customers WHERE email IS NOT NULL")).rows.filter((row) => facts.emails.has(row.email)).length
      )
      if (left > 0) throw new Error(`bench: the anonymized copy still holds ${left} original emails`)
      reports.push(report)
    },
    teardown: (state) => state?.db.drop()
  })
  const copySide = ctx.processSide("sh: createdb && pg_dump | psql", "sh", [], {
    timeoutMs: TIMEOUT_MS,
    setup: () => {
      const db = ctx.scratchName()
      const src = pgEnvOf(source.url).PGDATABASE
      return {
        db,
        env: ctx.childEnv(pgEnvOf(db.url)),
        args: ["-c", `createdb ${q(db.name)} && pg_dump --format=p ${q(src)} | psql -q -X -v ON_ERROR_STOP=1 ${q(db.name)}`]
      }
    },
    check: async (state) => {
      const n = await withClient(state.db.url, async (c) => (await c.query("SELECT count(*)::int AS n FROM customers")).rows[0].n)
      if (n !== facts.customers) throw new Error(`bench: the plain copy holds ${n} customers, expected ${facts.customers}`)
    },
    teardown: (state) => state?.db.drop()
  })

  const [dbkitM, copyM] = await ctx.compare([dbkitSide, copySide], { runs, warmup })
  const row = ctx.row({
    operation: `privacy anonymize --into, development seed ×${SCALE} (${fmt(personalRows)} personal rows, ${(facts.bytes / 1024 / 1024).toFixed(0)} MB)`,
    dbkit: dbkitM,
    baseline: copyM,
    baselineName: "sh: createdb && pg_dump | psql (no anonymizing)"
  })
  const timed = reports.slice(-runs)
  const anonymizeFacts = {
    scale: SCALE,
    personalRows,
    databaseBytes: facts.bytes,
    rowsRewrittenPerSecInProcess: median(timed.map((r) => r.rowsPerSecond)),
    rowsRewrittenPerSecWholeCommand: personalRows / (row.dbkit.medianMs / 1000),
    medianMs: {
      copy: median(timed.map((r) => r.copyMs)),
      rewrite: median(timed.map((r) => r.rewriteMs)),
      vacuum: median(timed.map((r) => r.vacuumMs)),
      reported: median(timed.map((r) => r.durationMs))
    }
  }
  row.anonymize = anonymizeFacts
  ctx.log(
    `anonymize: rows rewritten/s ${fmt(anonymizeFacts.rowsRewrittenPerSecInProcess)} (rewrite alone, in-process), ` +
      `${fmt(anonymizeFacts.rowsRewrittenPerSecWholeCommand)} (whole command); median split: copy ${fmt(anonymizeFacts.medianMs.copy)} ms, ` +
      `rewrite ${fmt(anonymizeFacts.medianMs.rewrite)} ms, vacuum ${fmt(anonymizeFacts.medianMs.vacuum)} ms, in-process total ` +
      `${fmt(anonymizeFacts.medianMs.reported)} ms; plain copy median ${fmt(row.baseline.medianMs)} ms; ratio ${row.ratio.toFixed(2)}x`
  )
  await source.drop()
  return [row]
}
