// Development seeding of 1,000,000 rows into one wide table (12 columns of mixed types, primary key only; see
// ../seed-wide.mjs), whole process (startup included for everyone; psql's is tiny), reported as rows/s:
//   dbkit                  scripts/bench/dbkit-seed.mjs: one development seed, a lazy generator over ctx.random
//                          written with ctx.copy, through Seeder.layer on PgLive (BENCH_ROWS rows)
//   psql \copy             the same 1,000,000 rows from a CSV written once beforehand (untimed): the floor
//   drizzle-seed seed()    scripts/bench/drizzle-seed.mjs, default generators; it is slow, so it writes fewer rows
//                          (DRIZZLE_ROWS) and the rows are compared by rate (the ratio column is time per row)
// Every run gets a fresh scratch database with the empty table (untimed setup), a check that the table holds
// exactly the expected row count (untimed; it runs after the warmup too) and a drop (untimed). The dbkit and psql
// sides must load identical data: their first runs' content fingerprints (the server's text of every row) are
// compared (fails loudly otherwise).
// Issue bars, reported (never enforced): dbkit >= 0.5x the COPY rate and >= 5x the drizzle-seed rate; the dbkit
// side's peak RSS must stay bounded (lazy rows, COPY in batches).
// Also logged (untimed, not in the table; in the JSON as `analysis`): where dbkit's time goes — in a child process
// without a database, the generator alone and dbkit's whole in-process path (copyRows: generator + dbkit's CSV
// encoding + batching + stream pump, into a discarding stream); the rest of a real run is startup and the server.
import { closeSync, openSync, writeSync } from "node:fs"
import { join } from "node:path"
import { pathToFileURL } from "node:url"
import { withClient } from "../harness.mjs"
import { COLUMNS, CREATE_TABLE, SEED_NAME, TABLE, csvLine, wideRows } from "../seed-wide.mjs"

const ROWS = 1_000_000
const DRIZZLE_ROWS = 50_000 // ~6 s a run on 2 cores
const PROBE_ROWS = ROWS // the no-database probes (~6 s together)
const DEFAULT_RUNS = 3 // one round of the three sides takes ~30 s; --runs overrides
const BARS = { copy: 0.5, drizzle: 5 }

const fmt = (n) => Math.round(n).toLocaleString("en-US")


const count = (url) => withClient(url, async (c) => Number((await c.query(`SELECT count(*)::int AS n FROM ${TABLE}`)).rows[0].n))

// Order-independent fingerprint of the table's content (text form of every row).
const fingerprint = (url) =>
  withClient(url, async (c) => (await c.query(`SELECT sum(hashtext(w::text)::bigint)::text AS f FROM ${TABLE} w`)).rows[0].f)

/** Writes the n rows dbkit's seed generates (same Random, same CSV encoding) to file; returns ms taken. */
const writeCsv = async (repoRoot, file, n) => {
  const { Random } = await import(pathToFileURL(join(repoRoot, "dist/index.js")).href)
  const t0 = performance.now()
  const fd = openSync(file, "w")
  try {
    let lines = []
    for (const row of wideRows(Random.make(1, SEED_NAME), Random, n)) {
      lines.push(csvLine(row))
      if (lines.length === 10_000) {
        writeSync(fd, lines.join("\n") + "\n")
        lines = []
      }
    }
    if (lines.length) writeSync(fd, lines.join("\n") + "\n")
  } finally {
    closeSync(fd)
  }
  return performance.now() - t0
}

export async function rows(ctx) {
  const runs = ctx.runsSet ? ctx.runs : Math.min(ctx.runs, DEFAULT_RUNS)
  const csv = join(ctx.tempDir("dbkit-bench-seed-"), "wide.csv")
  const csvMs = await writeCsv(ctx.repoRoot, csv, ROWS)
  ctx.log(`seed: wrote ${fmt(ROWS)} rows of CSV in ${fmt(csvMs)} ms (generator + CSV encoding + file, in-process)`)

  // Where dbkit's time goes, without a database (untimed; a child process like the timed side).
  const probe = {}
  for (const mode of ["generate", "sink"]) {
    const r = await ctx.runProcess(ctx.node, ["scripts/bench/dbkit-seed.mjs"], {
      env: ctx.childEnv({ BENCH_ROWS: String(PROBE_ROWS), BENCH_SEED_MODE: mode })
    })
    const j = JSON.parse(r.stdout)
    probe[mode] = { rows: j.rows, ms: j.ms, rowsPerSec: j.rows / (j.ms / 1000) }
  }
  ctx.log(
    `seed: no database, ${fmt(PROBE_ROWS)} rows: dbkit generator alone ${fmt(probe.generate.ms)} ms ` +
      `(${fmt(probe.generate.rowsPerSec)} rows/s); copyRows into a discarding stream (generator + CSV + pump) ` +
      `${fmt(probe.sink.ms)} ms (${fmt(probe.sink.rowsPerSec)} rows/s)`
  )

  const copyCols = COLUMNS.join(", ")
  const fresh = (make) => async () => {
    const db = await ctx.scratchDb()
    await withClient(db.url, (c) => c.query(CREATE_TABLE))
    return { db, ...make(db.url) }
  }
  const prints = {}
  const untimed = (name, want, fp) => ({
    check: async (state) => {
      const n = await count(state.db.url)
      if (n !== want) throw new Error(`bench: ${name} left ${n} rows in ${TABLE}, expected ${want}`)
      if (fp && prints[fp] === undefined) prints[fp] = await fingerprint(state.db.url)
    },
    teardown: (state) => state?.db.drop()
  })

  const sides = [
    ctx.processSide("dbkit seed", ctx.node, ["scripts/bench/dbkit-seed.mjs"], {
      setup: fresh((url) => ({ env: ctx.childEnv({ DATABASE_URL: url, BENCH_ROWS: String(ROWS) }) })),
      ...untimed("dbkit seed", ROWS, "dbkit")
    }),
    ctx.processSide("psql \\copy", "psql", [], {
      setup: fresh((url) => ({
        env: ctx.childEnv(),
        args: ["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", `\\copy ${TABLE} (${copyCols}) FROM '${csv}' WITH (FORMAT csv)`]
      })),
      ...untimed("psql \\copy", ROWS, "psql")
    }),
    ctx.processSide("drizzle-seed", ctx.node, ["scripts/bench/drizzle-seed.mjs"], {
      setup: fresh((url) => ({ env: ctx.childEnv({ DATABASE_URL: url, BENCH_ROWS: String(DRIZZLE_ROWS) }) })),
      ...untimed("drizzle-seed", DRIZZLE_ROWS)
    })
  ]

  const [dbkit, psql, drizzle] = await ctx.compare(sides, { runs })
  if (prints.dbkit !== prints.psql) {
    throw new Error(`bench: dbkit seed and psql \\copy loaded different data (fingerprints ${prints.dbkit} vs ${prints.psql})`)
  }

  const operation = `seed ${fmt(ROWS)} rows, wide table (server)`
  const out = [
    ctx.row({
      operation,
      dbkit,
      baseline: psql,
      baselineName: `psql \\copy from CSV, ${fmt(ROWS)} rows (floor)`,
      dbkitRows: ROWS,
      baselineRows: ROWS
    }),
    ctx.row({
      operation,
      dbkit,
      baseline: drizzle,
      baselineName: `drizzle-seed seed(), ${fmt(DRIZZLE_ROWS)} rows`,
      dbkitRows: ROWS,
      baselineRows: DRIZZLE_ROWS
    })
  ]

  // The bars, as measured (reported, not enforced).
  const rate = out[0].dbkit.rowsPerSec
  const vsCopy = rate / out[0].baseline.rowsPerSec
  const vsDrizzle = rate / out[1].baseline.rowsPerSec
  const verdict = (x, bar) => `${x.toFixed(2)}x (bar >= ${bar}x: ${x >= bar ? "met" : "MISSED"})`
  ctx.log(
    `seed: dbkit ${fmt(rate)} rows/s = ${verdict(vsCopy, BARS.copy)} the COPY rate, ` +
      `${verdict(vsDrizzle, BARS.drizzle)} the drizzle-seed rate; dbkit peak RSS ${fmt(out[0].dbkit.peakRssKb / 1024)} MB`
  )
  out[0].bar = { dbkitOverBaselineRate: vsCopy, atLeast: BARS.copy, met: vsCopy >= BARS.copy }
  out[1].bar = { dbkitOverBaselineRate: vsDrizzle, atLeast: BARS.drizzle, met: vsDrizzle >= BARS.drizzle }
  out[0].analysis = out[1].analysis = { probeRows: PROBE_ROWS, generatorOnly: probe.generate, copyRowsToSink: probe.sink, csvFileMs: csvMs }
  return out
}
