// Health: one full health pass on the reference database, whole process and in-process, and /readyz under load.
//   health (process)     node bin/dbkit.mjs health --json  (exit 0 ok or 1 warn accepted — a fresh database has no
//                        verified backup, so `backups` warns; 2 critical or a crash fails the bench; the JSON must
//                        hold every check)                     vs  psql -X -c 'select 1'  (a process that connects
//                        and asks one question: the floor for any CLI answering from the database)
//   health (in-process)  Health.report() over an open pool, built once from the public API (dist/index.js:
//                        PgLive, DbConfig.layerFrom, Migrator.layerConfig, Backup.layer, Health.layer — the wiring
//                        of src/cli/health/live.ts), REPORT_CALLS sequential calls per run
//                                                              vs  SELECT 1 on the same pool, SELECT_CALLS per run
//                        (the table's rows/s columns hold calls/s here; the ratio compares time per call)
//   /readyz              `dbkit health serve --port 0 --host 127.0.0.1`; each run is one autocannon pass of N
//                        requests over CONNECTIONS keep-alive connections (loopback only; N calibrated once so a
//                        pass takes ~TARGET_S s)         vs  the same against /livez of the same server (no database)
//                        (rows/s columns hold requests/s; the ratio compares time per request; p50/p99 latency are
//                        logged and in the JSON as `http`; "dbkit peak RSS" is the server's). Every pass must
//                        answer all N with 2xx (no non-2xx, errors or timeouts). The server is stopped with SIGTERM
//                        and must exit 0.
// Setup (untimed): a scratch database migrated with the reference schema (dbkit migrate) and seeded at the default
// scale (dbkit seed), an empty DBKIT_BACKUP_DIR, REDIS_URL unset (redis: not applicable) on every side.
// Also logged (untimed; in the JSON as `analysis`): the report's own durationMs inside the process, Health.ready
// in-process per call and at concurrency CONNECTIONS (what /readyz does, without HTTP), its parts alone (a
// connectivity-only and a migrations-only report, the migrations folder read that Migrator.status repeats, a bare
// SELECT 1), and the status tallies of every report.
import { spawn } from "node:child_process"
import { existsSync, readFileSync, rmSync } from "node:fs"
import { join } from "node:path"
import { pathToFileURL } from "node:url"
import autocannon from "autocannon"
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import { pgEnvOf, readVmHwm, withClient } from "../harness.mjs"

const REPORT_CALLS = 10 // Health.report() per in-process run (~50 ms each)
const SELECT_CALLS = 200 // SELECT 1 per in-process run (~0.5 ms each)
const CONNECTIONS = 10
const TARGET_S = 2 // each autocannon pass: about this long
const HTTP_DEFAULT_RUNS = 5 // passes per endpoint unless --runs is given
const PASS_TIMEOUT_MS = 60_000
const TIME_BIN = "/usr/bin/time"

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2
}
const fmt = (n) => Math.round(n).toLocaleString("en-US")
const ms = (x, digits = 1) => `${x.toFixed(digits)} ms`



/**
 * Like the harness's runProcess, but resolves with the exit code instead of throwing on a non-zero one (dbkit health
 * exits with its verdict); rejects only when the child cannot start, is killed, or outlives timeoutMs.
 */
const runWithCode = (cmd, args, { cwd, env, rssDir, timeoutMs = 60_000 }) =>
  new Promise((resolve, reject) => {
    const out = existsSync(TIME_BIN) ? join(rssDir, `${process.pid}-${Math.random().toString(36).slice(2)}.rss`) : undefined
    const [file, argv] = out ? [TIME_BIN, ["-o", out, "-f", "%M", cmd, ...args]] : [cmd, args]
    const child = spawn(file, argv, { cwd, env, stdio: ["ignore", "pipe", "pipe"] })
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (d) => (stdout += d))
    child.stderr.on("data", (d) => (stderr += d))
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs)
    child.on("error", (e) => {
      clearTimeout(timer)
      reject(new Error(`bench: could not spawn ${cmd}: ${e.message}`))
    })
    child.on("close", (code, signal) => {
      clearTimeout(timer)
      let rssKb
      if (out) {
        try {
          const last = readFileSync(out, "utf8").trim().split("\n").at(-1)
          rmSync(out, { force: true })
          if (/^\d+$/.test(last)) rssKb = Number(last)
        } catch {}
      }
      // GNU time passes the child's exit code on; a signal shows as 128 + n.
      if (signal || code > 128) return reject(new Error(`bench: \`${[cmd, ...args].join(" ")}\` was killed (${signal ?? code})\n${stderr}`))
      resolve({ code, stdout, stderr, rssKb })
    })
  })

/** `dbkit health serve` on a free loopback port; resolves once it says where it listens. */
const startServe = (ctx, env) =>
  new Promise((resolve, reject) => {
    const child = spawn(ctx.node, ["bin/dbkit.mjs", "health", "serve", "--port", "0", "--host", "127.0.0.1"], {
      cwd: ctx.repoRoot,
      env,
      stdio: ["ignore", "pipe", "pipe"]
    })
    let output = ""
    let started = false
    const exited = new Promise((done) => child.on("exit", (code, signal) => done({ code, signal })))
    const timer = setTimeout(() => {
      child.kill("SIGKILL")
      reject(new Error(`bench: health serve did not start within 30 s:\n${output}`))
    }, 30_000)
    const onData = (d) => {
      output += d
      const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(output)
      if (m && !started) {
        started = true
        clearTimeout(timer)
        resolve({ child, base: m[1], exited, output: () => output })
      }
    }
    child.stdout.on("data", onData)
    child.stderr.on("data", onData)
    child.on("error", (e) => reject(new Error(`bench: could not spawn health serve: ${e.message}`)))
    exited.then(({ code, signal }) => {
      clearTimeout(timer)
      if (!started) reject(new Error(`bench: health serve exited (${signal ?? code}) before listening:\n${output}`))
    })
  })

/** Polls url until it answers 200 (or throws after timeoutMs). */
const waitFor200 = async (url, timeoutMs = 15_000) => {
  const deadline = Date.now() + timeoutMs
  let last = "no answer"
  while (Date.now() < deadline) {
    try {
      const r = await fetch(url)
      const body = await r.text()
      if (r.status === 200) return body
      last = `${r.status} ${body.slice(0, 500)}`
    } catch (e) {
      last = e.message
    }
    await new Promise((r) => setTimeout(r, 50))
  }
  throw new Error(`bench: ${url} did not answer 200 within ${timeoutMs} ms (last: ${last})`)
}

/**
 * One bounded autocannon pass: `amount` requests (or `duration` s) over CONNECTIONS connections, loopback only.
 * sampleInt: autocannon notices that a pass is over only on its sampling tick (1 s by default), which would round
 * every pass up to whole seconds; a 5 ms tick ends it within 5 ms of the last response.
 */
const pass = async (url, bound) => {
  if (!url.startsWith("http://127.0.0.1:")) throw new Error(`bench: refusing to load ${url} (loopback only)`)
  const instance = autocannon({ url, connections: CONNECTIONS, timeout: 10, sampleInt: 5, ...bound })
  const guard = setTimeout(() => instance.stop(), PASS_TIMEOUT_MS)
  try {
    return await instance
  } finally {
    clearTimeout(guard)
  }
}

/** Two significant digits, at least lo. */
const nice = (x, lo, hi) => {
  const v = Math.min(hi, Math.max(lo, x))
  const p = 10 ** Math.max(0, Math.floor(Math.log10(v)) - 1)
  return Math.round(v / p) * p
}

const tally = (reports) => {
  const t = {}
  for (const r of reports) for (const c of r.checks) if (c.status !== "ok") t[`${c.name}:${c.status}`] = (t[`${c.name}:${c.status}`] ?? 0) + 1
  return t
}

export async function rows(ctx) {
  const httpRuns = ctx.runsSet ? ctx.runs : Math.min(ctx.runs, HTTP_DEFAULT_RUNS)
  const work = ctx.tempDir("dbkit-bench-health-")
  const backupDir = ctx.tempDir("dbkit-bench-health-backups-") // empty: `backups` warns, the same on every side
  const db = await ctx.scratchDb()
  const env = ctx.childEnv({ DATABASE_URL: db.url, DBKIT_BACKUP_DIR: backupDir, REDIS_URL: undefined })
  const out = []
  const analysis = {}
  let server
  let runtime
  try {
    // ---- Setup (untimed): the reference schema and the development seeds at their default scale.
    await ctx.runProcess(ctx.node, ["bin/dbkit.mjs", "migrate"], { env })
    const seeded = JSON.parse((await ctx.runProcess(ctx.node, ["bin/dbkit.mjs", "seed", "--json"], { env })).stdout)
    const seedRows = seeded.reduce((n, s) => n + (s.rows ?? 0), 0)
    if (!seeded.some((s) => s.status === "ran") || seedRows === 0) {
      throw new Error(`bench setup: dbkit seed generated nothing:\n${JSON.stringify(seeded)}`)
    }
    const info = await withClient(db.url, async (c) => {
      const size = Number((await c.query("SELECT pg_database_size(current_database())::text AS n")).rows[0].n)
      const tables = Number(
        (await c.query("SELECT count(*)::int AS n FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')")).rows[0].n
      )
      return { size, tables }
    })
    Object.assign(analysis, { seedRows, databaseBytes: info.size, tables: info.tables })
    ctx.log(`health: reference schema migrated and seeded (${fmt(seedRows)} rows, ${info.tables} tables, ${(info.size / 1024 ** 2).toFixed(1)} MB)`)

    // ---- Row A: whole process.
    const lib = await import(pathToFileURL(join(ctx.repoRoot, "dist/index.js")).href)
    const checkNames = lib.Health.checkNames
    const checkReport = (where, report) => {
      const names = report.checks?.map((c) => c.name) ?? []
      if (names.join(",") !== checkNames.join(",")) {
        throw new Error(`bench: ${where}: report has checks [${names}], expected [${checkNames}]`)
      }
      if (report.status === "critical") {
        const bad = report.checks.filter((c) => c.status === "critical").map((c) => `${c.name}: ${c.detail}`)
        throw new Error(`bench: ${where}: critical on the reference database: ${bad.join("; ")}`)
      }
    }
    const cliReports = []
    const psqlEnv = ctx.childEnv({ ...pgEnvOf(db.url), PGAPPNAME: "dbkit-bench" })
    const [dbkitCli, psql] = await ctx.compare([
      ctx.side("dbkit health --json", () => runWithCode(ctx.node, ["bin/dbkit.mjs", "health", "--json"], { cwd: ctx.repoRoot, env, rssDir: work }), {
        check: (_, r) => {
          if (r.code !== 0 && r.code !== 1) {
            throw new Error(`bench: dbkit health --json exited ${r.code} (0 ok / 1 warn expected)\n${r.stderr}\n${r.stdout.slice(0, 4000)}`)
          }
          let report
          try {
            report = JSON.parse(r.stdout)
          } catch {
            throw new Error(`bench: dbkit health --json printed no JSON (exit ${r.code}):\n${r.stdout.slice(0, 2000)}\n${r.stderr}`)
          }
          checkReport("dbkit health --json", report)
          if (r.code !== { ok: 0, warn: 1 }[report.status]) {
            throw new Error(`bench: dbkit health --json exited ${r.code} for status ${report.status}`)
          }
          cliReports.push(report)
        }
      }),
      ctx.processSide("psql select 1", "psql", ["-X", "-c", "select 1"], {
        env: psqlEnv,
        check: (_, r) => {
          if (!/\(1 row\)/.test(r.stdout)) throw new Error(`bench: psql -c 'select 1' printed:\n${r.stdout}`)
        }
      })
    ])
    const timedCli = cliReports.slice(-dbkitCli.runs)
    analysis.process = {
      reportDurationMsMedian: median(timedCli.map((r) => r.durationMs)),
      statuses: tally(timedCli),
      exitCodes: timedCli.map((r) => ({ ok: 0, warn: 1 })[r.status])
    }
    out.push(
      ctx.row({
        operation: `health --json, ${checkNames.length} checks (process)`,
        dbkit: dbkitCli,
        baseline: psql,
        baselineName: "psql -X -c 'select 1'"
      })
    )
    ctx.log(
      `health (process): dbkit health --json median ${ms(median(dbkitCli.timesMs), 0)} wall, of which the report itself ` +
        `(connect + ${checkNames.length} checks, its durationMs) ${ms(analysis.process.reportDurationMsMedian, 0)}; ` +
        `psql -c 'select 1' ${ms(median(psql.timesMs), 0)}; non-ok checks over the timed runs: ${JSON.stringify(analysis.process.statuses)}`
    )

    // ---- Row B: in-process, over one pool built once.
    const url = Redacted.make(db.url)
    const dependencies = lib.Migrator.layerConfig().pipe(
      Layer.provideMerge(lib.Backup.layer),
      Layer.provideMerge(lib.PgLive({ url })),
      Layer.provideMerge(
        lib.DbConfig.layerFrom({ databaseUrl: Option.some(url), backupDir, migrationsDir: join(ctx.repoRoot, "migrations") })
      ),
      Layer.provideMerge(NodeContext.layer)
    )
    runtime = ManagedRuntime.make(lib.Health.layer().pipe(Layer.provideMerge(dependencies)))
    const health = await runtime.runPromise(lib.Health)
    const sql = await runtime.runPromise(SqlClient.SqlClient)
    const inReports = []
    const [inReport, inSelect] = await ctx.compare([
      ctx.side("Health.report()", () => runtime.runPromise(Effect.replicateEffect(health.report(), REPORT_CALLS)), {
        check: (_, reports) => {
          if (reports.length !== REPORT_CALLS) throw new Error(`bench: ${reports.length} reports, expected ${REPORT_CALLS}`)
          for (const r of reports) checkReport("Health.report()", r)
          inReports.push(...reports)
        }
      }),
      ctx.side("SELECT 1", () => runtime.runPromise(Effect.replicateEffect(sql`SELECT 1 AS one`, SELECT_CALLS)), {
        check: (_, results) => {
          if (results.length !== SELECT_CALLS || results.some((rs) => rs[0]?.one !== 1)) throw new Error("bench: SELECT 1 did not answer 1")
        }
      })
    ])
    const timedIn = inReports.slice(-inReport.runs * REPORT_CALLS)
    // Untimed: what one /readyz asks (connectivity + migrations), per call on the same pool, and its parts.
    const perCall = async (effect, n = 30, warm = 5) => {
      const xs = []
      for (let i = 0; i < warm + n; i++) {
        const t = performance.now()
        await runtime.runPromise(effect)
        if (i >= warm) xs.push(performance.now() - t)
      }
      return median(xs)
    }
    const notReady = (r) => {
      if (!r.ready) throw new Error(`bench: Health.ready is not ready on the reference database: ${JSON.stringify(r.checks)}`)
    }
    const ready = health.ready.pipe(Effect.tap((r) => Effect.sync(() => notReady(r))))
    const readyMsPerCall = await perCall(ready)
    const connectivityMsPerCall = await perCall(health.report({ only: ["connectivity"] }))
    const migrationsMsPerCall = await perCall(health.report({ only: ["migrations"] }))
    const sourceMsPerCall = await perCall(lib.MigrationSource.fromDirectory(join(ctx.repoRoot, "migrations")))
    const selectMsPerCall = await perCall(sql`SELECT 1 AS one`)
    const CONCURRENT_READY = 100
    const tc = performance.now()
    await runtime.runPromise(Effect.forEach(Array.from({ length: CONCURRENT_READY }), () => ready, { concurrency: CONNECTIONS, discard: true }))
    const readyConcurrentPerSec = CONCURRENT_READY / ((performance.now() - tc) / 1000)
    analysis.inProcess = {
      reportCallsPerRun: REPORT_CALLS,
      selectCallsPerRun: SELECT_CALLS,
      reportMsPerCallMedian: median(inReport.timesMs) / REPORT_CALLS,
      selectMsPerCallMedian: median(inSelect.timesMs) / SELECT_CALLS,
      reportDurationMsMedian: median(timedIn.map((r) => r.durationMs)),
      readyMsPerCallMedian: readyMsPerCall,
      readyCallsPerSecAtConcurrency: { concurrency: CONNECTIONS, callsPerSec: readyConcurrentPerSec },
      connectivityOnlyReportMsPerCall: connectivityMsPerCall,
      migrationsOnlyReportMsPerCall: migrationsMsPerCall,
      migrationSourceReadMsPerCall: sourceMsPerCall,
      selectMsPerCallSequential: selectMsPerCall,
      statuses: tally(timedIn)
    }
    const ip = analysis.inProcess
    out.push(
      ctx.row({
        operation: `Health.report() in-process, ${REPORT_CALLS} calls/run (rows/s = calls/s)`,
        dbkit: inReport,
        baseline: inSelect,
        baselineName: `SELECT 1, same pool, ${SELECT_CALLS} calls/run`,
        dbkitRows: REPORT_CALLS,
        baselineRows: SELECT_CALLS
      })
    )
    ctx.log(
      `health (in-process): Health.report() ${ms(ip.reportMsPerCallMedian)} per call (its durationMs median ` +
        `${ms(ip.reportDurationMsMedian, 0)}), SELECT 1 ${ms(ip.selectMsPerCallMedian, 2)} per call on the same pool ` +
        `(${(ip.reportMsPerCallMedian / ip.selectMsPerCallMedian).toFixed(0)}x); Health.ready (one /readyz's work) ` +
        `${ms(ip.readyMsPerCallMedian)} per call; non-ok checks: ${JSON.stringify(ip.statuses)}`
    )
    ctx.log(
      `health (in-process, untimed medians): Health.ready ${ms(ip.readyMsPerCallMedian)}/call, ` +
        `${fmt(readyConcurrentPerSec)} calls/s at concurrency ${CONNECTIONS} (no HTTP); its parts alone: ` +
        `report(connectivity) ${ms(connectivityMsPerCall)} (SELECT 1 in a read-only transaction with SET LOCAL timeouts) vs ` +
        `bare SELECT 1 ${ms(selectMsPerCall, 2)}; report(migrations) ${ms(migrationsMsPerCall)}, of which reading and ` +
        `parsing the migrations folder (MigrationSource.fromDirectory, repeated by every Migrator.status) ${ms(sourceMsPerCall)}`
    )
    await runtime.dispose()
    runtime = undefined

    // ---- Row C: /readyz under load vs /livez, one server.
    server = await startServe(ctx, env)
    await waitFor200(`${server.base}/livez`)
    const firstReady = JSON.parse(await waitFor200(`${server.base}/readyz`))
    if (firstReady.ready !== true) throw new Error(`bench: /readyz answered 200 without ready: true: ${JSON.stringify(firstReady)}`)
    const readVmRss = (pid) => Number(/^VmRSS:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1])
    const idleRssKb = readVmRss(server.child.pid)
    // Calibrate (untimed; also warms both paths): a 1 s pass each, N = the requests of ~TARGET_S s.
    const amounts = {}
    for (const path of ["/readyz", "/livez"]) {
      const t = performance.now()
      const r = await pass(`${server.base}${path}`, { duration: 1 })
      const seconds = (performance.now() - t) / 1000
      if (r.non2xx || r.errors || r.timeouts) {
        throw new Error(`bench: calibration of ${path}: ${r.non2xx} non-2xx, ${r.errors} errors, ${r.timeouts} timeouts`)
      }
      amounts[path] = nice((r["2xx"] / seconds) * TARGET_S, 20 * CONNECTIONS, 200_000)
    }
    const passes = { "/readyz": [], "/livez": [] }
    const endpointSide = (path) =>
      ctx.side(`GET ${path}`, async () => {
        const t = performance.now()
        const r = await pass(`${server.base}${path}`, { amount: amounts[path] })
        return { r, seconds: (performance.now() - t) / 1000, rssKb: readVmHwm(server.child.pid) }
      }, {
        check: (_, { r, seconds }) => {
          const ok = r["2xx"]
          if (ok !== amounts[path] || r.non2xx || r.errors || r.timeouts) {
            throw new Error(
              `bench: GET ${path}: ${ok} of ${amounts[path]} answered 2xx (${r.non2xx} non-2xx, ${r.errors} errors, ` +
                `${r.timeouts} timeouts)\nserver output:\n${server.output().slice(-2000)}`
            )
          }
          passes[path].push({
            requests: amounts[path],
            seconds,
            reqPerSec: amounts[path] / seconds,
            latencyMs: { p50: r.latency.p50, p90: r.latency.p90, p99: r.latency.p99, max: r.latency.max, mean: r.latency.average }
          })
        }
      })
    const [readyz, livez] = await ctx.compare([endpointSide("/readyz"), endpointSide("/livez")], { runs: httpRuns })
    const summarize = (path) => {
      const ps = passes[path].slice(-httpRuns)
      return {
        requestsPerPass: amounts[path],
        connections: CONNECTIONS,
        passes: ps.length,
        reqPerSecMedian: median(ps.map((p) => p.reqPerSec)),
        p50MsMedian: median(ps.map((p) => p.latencyMs.p50)),
        p99MsMedian: median(ps.map((p) => p.latencyMs.p99)),
        p99MsWorst: Math.max(...ps.map((p) => p.latencyMs.p99)),
        maxMs: Math.max(...ps.map((p) => p.latencyMs.max)),
        non2xx: 0,
        runs: ps
      }
    }
    const http = { readyz: summarize("/readyz"), livez: summarize("/livez") }

    // Stop with SIGTERM: must exit 0.
    const peakKb = readVmHwm(server.child.pid)
    const afterRssKb = readVmRss(server.child.pid)
    const t0 = performance.now()
    server.child.kill("SIGTERM")
    const stopped = await Promise.race([server.exited, new Promise((r) => setTimeout(() => r(undefined), 10_000))])
    const stopMs = performance.now() - t0
    if (!stopped) throw new Error(`bench: health serve did not exit within 10 s of SIGTERM\n${server.output().slice(-2000)}`)
    if (stopped.code !== 0) throw new Error(`bench: health serve exited ${stopped.signal ?? stopped.code} on SIGTERM, expected 0\n${server.output().slice(-2000)}`)
    const extraOutput = server.output().split("\n").filter((l) => l.trim() && !/listening on/.test(l))
    server = undefined
    http.server = { rssKbBeforeLoad: idleRssKb, rssKbAfterLoad: afterRssKb, peakRssKb: peakKb ?? null, sigtermExitCode: 0, sigtermExitMs: stopMs, otherOutputLines: extraOutput.slice(0, 20) }

    const row = ctx.row({
      operation: `GET /readyz, ${fmt(amounts["/readyz"])} req/run, ${CONNECTIONS} conns (rows/s = req/s)`,
      dbkit: readyz,
      baseline: livez,
      baselineName: `GET /livez, same server, ${fmt(amounts["/livez"])} req/run`,
      dbkitRows: amounts["/readyz"],
      baselineRows: amounts["/livez"]
    })
    row.http = http
    out.push(row)
    const line = (name, s) =>
      `${name} ${fmt(s.reqPerSecMedian)} req/s, p50 ${ms(s.p50MsMedian)}, p99 ${ms(s.p99MsMedian)} (worst pass ${ms(s.p99MsWorst)}, max ${ms(s.maxMs, 0)})`
    ctx.log(
      `health (http): ${CONNECTIONS} connections, ${httpRuns} passes each, all 2xx: ${line("/readyz", http.readyz)}; ` +
        `${line("/livez", http.livez)}; server RSS ${(idleRssKb / 1024).toFixed(0)} MB before the load, ` +
        `${(afterRssKb / 1024).toFixed(0)} MB after it, peak ${peakKb ? `${(peakKb / 1024).toFixed(0)} MB` : "n/a"}; ` +
        `SIGTERM → exit 0 in ${ms(stopMs, 0)}${extraOutput.length ? `; other server output: ${extraOutput.slice(0, 3).join(" | ")}` : ""}`
    )
    for (const r of out) r.analysis = analysis
    return out
  } finally {
    if (runtime) await runtime.dispose().catch(() => undefined)
    if (server) {
      server.child.kill("SIGKILL")
      await server.exited
    }
    await db.drop()
  }
}
