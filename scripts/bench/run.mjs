// `pnpm bench`: runs every scripts/bench/rows/*.mjs (name order) and prints one comparison table.
//
//   pnpm bench                  table (progress goes to stderr)
//   pnpm bench --json           rows as JSON on stdout
//   pnpm bench --runs N         measured runs per side (default 7, plus 1 warmup)
//   pnpm bench --only X         only row files whose name contains X (e.g. --only startup)
//   pnpm bench --build          rebuild the CLI bundle first (otherwise built only when missing)
//
// A row file exports `async function rows(ctx)` returning an array of row(...) results. ctx:
//   measure, measureProcess, runProcess, row  (see harness.mjs)
//   compare, side, processSide                interleaved measurement of several sides (see harness.mjs);
//                                             prefer these for comparisons so both sides share the same load
//   runs, warmup                              from the command line (runsSet: true when --runs was given, so a
//                                             slow row may pick a smaller default of its own)
//   scratchDb()                               creates a uniquely named database on the bench server:
//                                             { url, name, drop() }; all are dropped when the bench ends
//   scratchName()                             the same without creating it (for a tool that creates the
//                                             database itself); dropped when the bench ends if it exists
//   tempDir(prefix)                           a fresh temp folder, removed when the bench ends
//   childEnv(overrides)                       process.env without DATABASE_URL / DBKIT_* plus overrides
//   node                                      the node binary running the bench
//   repoRoot, log(msg)
// The server is BENCH_ADMIN_URL (default postgres://root@127.0.0.1:5432/postgres); scratch databases live there.
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join, resolve } from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"
import pg from "pg"
import {
  DEFAULT_RUNS,
  DEFAULT_WARMUP,
  cleanupHarness,
  compare,
  formatTable,
  hasByteRates,
  hasRates,
  measure,
  measureProcess,
  processSide,
  row,
  rowsToJson,
  runProcess,
  side
} from "./harness.mjs"

const here = dirname(fileURLToPath(import.meta.url))
const repoRoot = resolve(here, "../..")
const rowsDir = join(here, "rows")

const usage = "usage: pnpm bench [--json] [--runs N] [--only SUBSTRING] [--build]"

const parseArgs = (argv) => {
  const opts = {
    json: false,
    runs: DEFAULT_RUNS,
    runsSet: false,
    warmup: DEFAULT_WARMUP,
    only: undefined,
    build: false
  }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    const value = () => {
      const v = a.includes("=") ? a.slice(a.indexOf("=") + 1) : argv[++i]
      if (v === undefined) throw new Error(`${a.split("=")[0]} needs a value\n${usage}`)
      return v
    }
    if (a === "--") continue // `pnpm bench -- --json`
    else if (a === "--json") opts.json = true
    else if (a === "--build") opts.build = true
    else if (a === "--runs" || a.startsWith("--runs=")) {
      opts.runs = Number(value())
      opts.runsSet = true
      if (!Number.isInteger(opts.runs) || opts.runs < 1) throw new Error(`--runs must be a positive integer\n${usage}`)
    } else if (a === "--only" || a.startsWith("--only=")) opts.only = value()
    else if (a === "-h" || a === "--help") {
      console.log(usage)
      process.exit(0)
    } else throw new Error(`unknown argument ${a}\n${usage}`)
  }
  return opts
}

const log = (msg) => process.stderr.write(`bench: ${msg}\n`)

const adminUrl = process.env.BENCH_ADMIN_URL ?? "postgres://root@127.0.0.1:5432/postgres"

const withAdmin = async (f) => {
  const client = new pg.Client({ connectionString: adminUrl })
  await client.connect()
  try {
    return await f(client)
  } finally {
    await client.end()
  }
}

const scratch = new Map() // name -> url
const temps = new Set()
let seq = 0

const dropDb = (name) =>
  withAdmin((c) => c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`)).then(() => scratch.delete(name))

const scratchName = () => {
  const name = `dbkit_bench_${process.pid}_${++seq}_${Math.random().toString(36).slice(2, 8)}`
  const url = new URL(adminUrl)
  url.pathname = `/${name}`
  scratch.set(name, url.href)
  return { name, url: url.href, drop: () => dropDb(name) }
}

const scratchDb = async () => {
  const db = scratchName()
  await withAdmin((c) => c.query(`CREATE DATABASE "${db.name}"`))
  return db
}

const tempDir = (prefix = "dbkit-bench-") => {
  const d = mkdtempSync(join(tmpdir(), prefix))
  temps.add(d)
  return d
}

const childEnv = (overrides = {}) => {
  const env = { ...process.env }
  for (const k of Object.keys(env)) if (k === "DATABASE_URL" || k.startsWith("DBKIT_")) delete env[k]
  for (const [k, v] of Object.entries(overrides)) if (v === undefined) delete env[k]
  else env[k] = v
  return env
}

let cleaning
const cleanup = () =>
  (cleaning ??= (async () => {
    for (const name of [...scratch.keys()]) {
      try {
        await dropDb(name)
      } catch (e) {
        log(`could not drop scratch database ${name}: ${e.message}`)
      }
    }
    for (const d of temps) rmSync(d, { recursive: true, force: true })
    temps.clear()
    cleanupHarness()
  })())

for (const sig of ["SIGINT", "SIGTERM"]) {
  process.once(sig, () => {
    log(`${sig}: dropping scratch databases`)
    cleanup().finally(() => process.exit(130))
  })
}

const main = async () => {
  const opts = parseArgs(process.argv.slice(2))
  // The bundle bin/dbkit.mjs runs (dist/cli.mjs or dist/cli.cjs, whichever it names).
  const bundle = /\.\.\/(dist\/cli\.[cm]?js)/.exec(readFileSync(join(repoRoot, "bin", "dbkit.mjs"), "utf8"))?.[1]
  const cli = join(repoRoot, bundle ?? "dist/cli.mjs")
  if (opts.build || !existsSync(cli)) {
    log(opts.build ? "building (pnpm build)" : `${bundle ?? "dist/cli.mjs"} missing: building (pnpm build)`)
    await runProcess("pnpm", ["build"], { cwd: repoRoot, env: process.env })
  }

  const files = readdirSync(rowsDir)
    .filter((f) => f.endsWith(".mjs"))
    .sort()
    .filter((f) => !opts.only || f.includes(opts.only))
  if (files.length === 0) throw new Error(`no row files in scripts/bench/rows match --only ${opts.only}`)

  const ctx = {
    measure: (name, fn, o = {}) => measure(name, fn, { runs: opts.runs, warmup: opts.warmup, ...o }),
    measureProcess: (name, cmd, args, o = {}) =>
      measureProcess(name, cmd, args, { cwd: repoRoot, runs: opts.runs, warmup: opts.warmup, ...o }),
    runProcess: (cmd, args, o = {}) => runProcess(cmd, args, { cwd: repoRoot, ...o }),
    compare: (sides, o = {}) => compare(sides, { runs: opts.runs, warmup: opts.warmup, ...o }),
    side,
    processSide: (name, cmd, args, o = {}) => processSide(name, cmd, args, { cwd: repoRoot, ...o }),
    row,
    runs: opts.runs,
    runsSet: opts.runsSet,
    warmup: opts.warmup,
    scratchDb,
    scratchName,
    tempDir,
    childEnv,
    node: process.execPath,
    repoRoot,
    log
  }

  const started = process.hrtime.bigint()
  const all = []
  for (const f of files) {
    const t0 = process.hrtime.bigint()
    log(`${f} …`)
    const mod = await import(pathToFileURL(join(rowsDir, f)).href)
    if (typeof mod.rows !== "function") throw new Error(`scripts/bench/rows/${f} does not export rows(ctx)`)
    const rs = await mod.rows(ctx)
    if (!Array.isArray(rs)) throw new Error(`scripts/bench/rows/${f}: rows(ctx) must return an array`)
    all.push(...rs.map((r) => ({ file: f, ...r })))
    log(`${f} done in ${(Number(process.hrtime.bigint() - t0) / 1e9).toFixed(1)} s`)
  }
  const totalS = Number(process.hrtime.bigint() - started) / 1e9

  if (opts.json) {
    console.log(rowsToJson(all, { runs: opts.runs, warmup: opts.warmup, node: process.version, totalSeconds: totalS }))
  } else {
    console.log(formatTable(all))
    // Rows may measure fewer runs than --runs (a slow row's own default); name them in the footer.
    const other = [
      ...new Set(all.filter((r) => r.dbkit.runs !== opts.runs).map((r) => `${r.dbkit.runs} for ${r.operation}`))
    ]
    console.log(
      `\nratio < 1 means dbkit is faster` +
        `${hasRates(all) ? " (rows with rows/s compare time per row: their rows/s / dbkit rows/s, at the medians)" : ""}` +
        `${hasByteRates(all) ? ` (rows with MB/s, MB = MiB, compare time per byte: their MB/s / dbkit MB/s, at the medians)` : ""}. ` +
        `${opts.runs} runs + ${opts.warmup} warmup per side` +
        `${other.length ? ` (${other.join(", ")})` : ""}, sides interleaved; ` +
        `peak RSS is the max over dbkit's runs; total ${totalS.toFixed(1)} s.`
    )
  }
}

let failed = false
try {
  await main()
} catch (e) {
  failed = true
  console.error(e instanceof Error ? e.message : e)
} finally {
  await cleanup()
}
process.exitCode = failed ? 1 : 0
