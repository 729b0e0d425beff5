// Metrics: GET /metrics of `dbkit serve` beside a real postgres_exporter (Debian's prometheus-postgres-exporter,
// default collectors) scraping the same database in the same run, loopback only.
//   sequential        each run is SEQUENTIAL scrapes one after another on one keep-alive client
//                     dbkit serve /metrics  vs  postgres_exporter /metrics   (rows/s = scrapes/s; p50/p99 per scrape
//                     logged and in the JSON as `latency`)
//   concurrent        each run is CONCURRENT_TOTAL scrapes from CONCURRENCY clients at once (dbkit shares the scrape
//                     in flight among them; the exporter runs its own per request)
// Each answer is checked: 200, `pg_up 1`, and the exporter's `pg_up 1` too. The two do not report the same set of
// figures (dbkit: ~40 families incl. migrations, backups, jobs, top tables; the exporter: ~300 series incl.
// pg_settings_*), so the ratio is of "a Prometheus scrape of the database", not of identical work. Also logged:
// each server's RSS idle (after setup, before load) and peak; dbkit serve must exit 0 on SIGTERM.
// Setup (untimed): a scratch database migrated with the reference schema and seeded (dbkit migrate, dbkit seed).
import { spawn } from "node:child_process"
import { readFileSync } from "node:fs"
import { freePort, median, readVmHwm } from "../harness.mjs"

const SEQUENTIAL = 200
const CONCURRENCY = 10
const CONCURRENT_TOTAL = 200
const EXPORTER = "/usr/bin/prometheus-postgres-exporter"

const percentile = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]
}
const ms = (x) => `${x.toFixed(1)} ms`
const readVmRss = (pid) => Number(/^VmRSS:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1])

/** Spawns a server and resolves once `ready(output)` (polled every 100 ms) returns its base URL. */
const startServer = (what, cmd, args, env, ready) =>
  new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env, stdio: ["ignore", "pipe", "pipe"] })
    let output = ""
    let done = false
    const exited = new Promise((finish) => child.on("exit", (code, signal) => finish({ code, signal })))
    child.stdout.on("data", (d) => (output += d))
    child.stderr.on("data", (d) => (output += d))
    const deadline = Date.now() + 30_000
    const poll = async () => {
      if (done) return
      const base = await ready(output)
      if (done) return
      if (base) {
        done = true
        return resolve({ child, base, exited, output: () => output })
      }
      if (Date.now() > deadline) {
        done = true
        child.kill("SIGKILL")
        return reject(new Error(`bench: ${what} did not start within 30 s:\n${output}`))
      }
      setTimeout(poll, 100)
    }
    void poll()
    child.on("error", (e) => reject(new Error(`bench: could not spawn ${what}: ${e.message}`)))
    exited.then(({ code, signal }) => {
      if (done) return
      done = true
      reject(new Error(`bench: ${what} exited (${signal ?? code}) before listening:\n${output}`))
    })
  })

const waitFor200 = async (url, timeoutMs = 30_000) => {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    try {
      const r = await fetch(url)
      await r.text()
      if (r.status === 200) return
    } catch {}
    if (Date.now() > deadline) throw new Error(`bench: ${url} did not answer 200 within ${timeoutMs} ms`)
    await new Promise((r) => setTimeout(r, 100))
  }
}

/** One scrape: its latency, checked (200 and pg_up 1). */
const scrape = async (url) => {
  if (!url.startsWith("http://127.0.0.1:")) throw new Error(`bench: refusing to load ${url} (loopback only)`)
  const t = performance.now()
  const response = await fetch(url)
  const body = await response.text()
  const took = performance.now() - t
  if (response.status !== 200 || !/^pg_up(\{[^}]*\})? 1$/m.test(body)) {
    throw new Error(`bench: ${url} answered ${response.status} without pg_up 1:\n${body.slice(0, 1000)}`)
  }
  return { took, bytes: body.length, series: body.split("\n").filter((l) => l && !l.startsWith("#")).length }
}

export async function rows(ctx) {
  const db = await ctx.scratchDb()
  const env = ctx.childEnv({ DATABASE_URL: db.url, DBKIT_BACKUP_DIR: ctx.tempDir("dbkit-bench-metrics-backups-") })
  const servers = []
  try {
    await ctx.runProcess(ctx.node, ["bin/dbkit.mjs", "migrate"], { env })
    await ctx.runProcess(ctx.node, ["bin/dbkit.mjs", "seed"], { env })

    const dbkit = await startServer("dbkit serve", ctx.node, ["bin/dbkit.mjs", "serve", "--port", "0"], env, (out) =>
      /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out)?.[1])
    servers.push(dbkit)
    const port = await freePort()
    const dsn = new URL(db.url)
    dsn.searchParams.set("sslmode", "disable")
    const exporter = await startServer(
      "postgres_exporter",
      EXPORTER,
      [`--web.listen-address=127.0.0.1:${port}`, "--log.level=warn"],
      { PATH: process.env.PATH, DATA_SOURCE_NAME: dsn.toString() },
      async () => {
        try {
          await fetch(`http://127.0.0.1:${port}/`)
          return `http://127.0.0.1:${port}`
        } catch {
          return undefined
        }
      }
    )
    servers.push(exporter)
    const ours = `${dbkit.base}/metrics`
    const theirs = `${exporter.base}/metrics`
    await waitFor200(ours)
    await waitFor200(theirs)
    const idle = { dbkitKb: readVmRss(dbkit.child.pid), exporterKb: readVmRss(exporter.child.pid) }
    const size = { dbkit: await scrape(ours), exporter: await scrape(theirs) }

    const latencies = { seq: { dbkit: [], exporter: [] }, conc: { dbkit: [], exporter: [] } }
    const sequentialSide = (name, url, key, pid) =>
      ctx.side(name, async () => {
        const took = []
        for (let i = 0; i < SEQUENTIAL; i++) took.push((await scrape(url)).took)
        return { took, rssKb: readVmHwm(pid) }
      }, { check: (_, r) => latencies.seq[key].push(...r.took) })
    const concurrentSide = (name, url, key, pid) =>
      ctx.side(name, async () => {
        const took = []
        let next = 0
        await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
          while (next++ < CONCURRENT_TOTAL) took.push((await scrape(url)).took)
        }))
        return { took, rssKb: readVmHwm(pid) }
      }, { check: (_, r) => latencies.conc[key].push(...r.took) })

    const runs = ctx.runsSet ? ctx.runs : Math.min(ctx.runs, 3)
    const [seqDbkit, seqExporter] = await ctx.compare([
      sequentialSide("dbkit serve /metrics", ours, "dbkit", dbkit.child.pid),
      sequentialSide("postgres_exporter /metrics", theirs, "exporter", exporter.child.pid)
    ], { runs })
    const [concDbkit, concExporter] = await ctx.compare([
      concurrentSide("dbkit serve /metrics", ours, "dbkit", dbkit.child.pid),
      concurrentSide("postgres_exporter /metrics", theirs, "exporter", exporter.child.pid)
    ], { runs })

    // Timed runs only (the warmup's latencies are the first ones recorded).
    const stats = (xs, perRun) => {
      const timed = xs.slice(-runs * perRun)
      return { p50Ms: percentile(timed, 50), p99Ms: percentile(timed, 99), maxMs: Math.max(...timed), scrapes: timed.length }
    }
    const latency = {
      sequential: { dbkit: stats(latencies.seq.dbkit, SEQUENTIAL), exporter: stats(latencies.seq.exporter, SEQUENTIAL) },
      concurrent: {
        concurrency: CONCURRENCY,
        dbkit: stats(latencies.conc.dbkit, CONCURRENT_TOTAL),
        exporter: stats(latencies.conc.exporter, CONCURRENT_TOTAL)
      }
    }
    const peak = { dbkitKb: readVmHwm(dbkit.child.pid), exporterKb: readVmHwm(exporter.child.pid) }

    dbkit.child.kill("SIGTERM")
    const stopped = await Promise.race([dbkit.exited, new Promise((r) => setTimeout(() => r(undefined), 10_000))])
    if (!stopped || stopped.code !== 0) throw new Error(`bench: dbkit serve did not exit 0 on SIGTERM (${JSON.stringify(stopped)})`)
    servers.splice(servers.indexOf(dbkit), 1)

    const analysis = {
      latency,
      rss: { idle, peak },
      answer: {
        dbkit: { bytes: size.dbkit.bytes, series: size.dbkit.series },
        exporter: { bytes: size.exporter.bytes, series: size.exporter.series }
      }
    }
    const out = [
      ctx.row({
        operation: `GET /metrics, ${SEQUENTIAL} sequential scrapes/run (rows/s = scrapes/s)`,
        dbkit: seqDbkit,
        baseline: seqExporter,
        baselineName: `postgres_exporter /metrics, same database`,
        dbkitRows: SEQUENTIAL,
        baselineRows: SEQUENTIAL
      }),
      ctx.row({
        operation: `GET /metrics, ${CONCURRENT_TOTAL} scrapes/run from ${CONCURRENCY} clients (rows/s = scrapes/s)`,
        dbkit: concDbkit,
        baseline: concExporter,
        baselineName: `postgres_exporter /metrics, same database`,
        dbkitRows: CONCURRENT_TOTAL,
        baselineRows: CONCURRENT_TOTAL
      })
    ]
    for (const r of out) r.analysis = analysis
    const line = (l) => `dbkit p50 ${ms(l.dbkit.p50Ms)} p99 ${ms(l.dbkit.p99Ms)}, exporter p50 ${ms(l.exporter.p50Ms)} p99 ${ms(l.exporter.p99Ms)} (p50 ratio ${(l.dbkit.p50Ms / l.exporter.p50Ms).toFixed(2)}, p99 ratio ${(l.dbkit.p99Ms / l.exporter.p99Ms).toFixed(2)})`
    ctx.log(`metrics (sequential): ${line(latency.sequential)}`)
    ctx.log(`metrics (${CONCURRENCY} concurrent): ${line(latency.concurrent)}`)
    ctx.log(
      `metrics: answers ${size.dbkit.series} series / ${size.dbkit.bytes} B (dbkit) vs ${size.exporter.series} series / ` +
        `${size.exporter.bytes} B (exporter); RSS idle ${(idle.dbkitKb / 1024).toFixed(0)} MB (dbkit serve) vs ` +
        `${(idle.exporterKb / 1024).toFixed(0)} MB (exporter), peak ${(peak.dbkitKb / 1024).toFixed(0)} MB vs ${(peak.exporterKb / 1024).toFixed(0)} MB; ` +
        `median run ${median(seqDbkit.timesMs).toFixed(0)} ms vs ${median(seqExporter.timesMs).toFixed(0)} ms`
    )
    return out
  } finally {
    for (const s of servers) {
      s.child.kill("SIGKILL")
      await s.exited
    }
    await db.drop()
  }
}
