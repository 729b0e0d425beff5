// Tiny benchmark library for `pnpm bench` (plain ESM, no build step).
//
//   measure(name, fn, { runs, warmup, setup, teardown })
//                                         runs async fn warmup + runs times, records wall time per run
//                                         (process.hrtime.bigint) and, when fn returns { rssKb }, peak RSS.
//                                         Optional untimed per-run setup() -> state, fn(state), teardown(state).
//   runProcess(cmd, args, opts)           spawns a child, awaits exit, throws (with its stderr) on a non-zero
//                                         exit; returns { rssKb, stdout, stderr } (peak RSS via /usr/bin/time).
//   measureProcess(name, cmd, args, opts) measure() of runProcess(): one whole-process sample per run
//                                         (opts.setup may return { env, args, cwd } overrides for that run).
//   side(name, fn, { setup, check, teardown }) / processSide(name, cmd, args, opts): one side of a comparison
//                                         (check(state, result) runs untimed after every successful run).
//   compare(sides, { runs, warmup })      measures several sides interleaved (round r runs every side once,
//                                         starting at side r mod n: A B, B A, A B, ...), so background load
//                                         and drift hit every side alike; returns one measure() result per side.
//   row({ operation, dbkit, baseline, baselineName, dbkitRows, baselineRows, dbkitBytes, baselineBytes })
//                                         a comparison row of two measurements; with the optional row counts
//                                         (rows written per run by each side) it also reports rows/s and
//                                         compares time per row; with the optional byte counts (bytes each side
//                                         processes per run) it reports MB/s and compares time per byte.
//   formatTable(rows) / rowsToJson(rows)  render rows.
import { createCipheriv, randomBytes } from "node:crypto"
import { execFileSync, spawn } from "node:child_process"
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { createServer } from "node:net"
import { join } from "node:path"
import pg from "pg"

/** Runs `f` with a pg client connected to `url`, closing it afterwards. */
export const withClient = async (url, f) => {
  const c = new pg.Client({ connectionString: url })
  await c.connect()
  try {
    return await f(c)
  } finally {
    await c.end()
  }
}

export const DEFAULT_RUNS = 7
export const DEFAULT_WARMUP = 1

const TIME_BIN = "/usr/bin/time"
const hasGnuTime = existsSync(TIME_BIN)
let rssDir

const rssFile = () => {
  rssDir ??= mkdtempSync(join(tmpdir(), "dbkit-bench-rss-"))
  return join(rssDir, `${process.pid}-${Math.random().toString(36).slice(2)}.rss`)
}

/** Removes the scratch folder used for /usr/bin/time output. */
export const cleanupHarness = () => {
  if (rssDir) rmSync(rssDir, { recursive: true, force: true })
  rssDir = undefined
}

export const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2
}

/** Reads VmHWM (peak RSS, kB) of a live process; undefined once it has exited. */
export const readVmHwm = (pid) => {
  try {
    const m = /^VmHWM:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))
    return m ? Number(m[1]) : undefined
  } catch {
    return undefined
  }
}

/**
 * Spawns `cmd args` and waits for it to exit. Throws if it exits non-zero or is killed, with its stderr in the
 * message. Peak RSS: /usr/bin/time -f %M when present, else polling /proc/<pid>/status VmHWM (may miss the very
 * end of a short process), else undefined.
 * opts: { cwd, env, timeoutMs (default 120000) }
 */
export const runProcess = (cmd, args = [], opts = {}) =>
  new Promise((resolve, reject) => {
    const { cwd, env = process.env, timeoutMs = 120_000 } = opts
    const out = hasGnuTime ? rssFile() : undefined
    const [file, argv] = hasGnuTime ? [TIME_BIN, ["-o", out, "-f", "%M", cmd, ...args]] : [cmd, args]
    const child = spawn(file, argv, { cwd, env, stdio: ["ignore", "pipe", "pipe"] })
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (d) => (stdout += d))
    child.stderr.on("data", (d) => (stderr += d))
    let polled
    const poll = hasGnuTime
      ? undefined
      : setInterval(() => {
          const v = readVmHwm(child.pid)
          if (v !== undefined) polled = Math.max(polled ?? 0, v)
        }, 5)
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs)
    child.on("error", (e) => {
      clearTimeout(timer)
      if (poll) clearInterval(poll)
      reject(new Error(`bench: could not spawn ${cmd}: ${e.message}`))
    })
    child.on("close", (code, signal) => {
      clearTimeout(timer)
      if (poll) clearInterval(poll)
      let rssKb = polled
      let timeNote = ""
      if (out) {
        try {
          const text = readFileSync(out, "utf8")
          rmSync(out, { force: true })
          const lines = text.trim().split("\n")
          const last = lines.at(-1)
          if (/^\d+$/.test(last)) rssKb = Number(last)
          timeNote = lines.slice(0, -1).filter((l) => !l.startsWith("Command exited with non-zero status")).join("\n")
        } catch {}
      }
      if (code !== 0 || signal) {
        const how = signal ? `was killed by ${signal}` : `exited with code ${code}`
        const detail = [stderr.trim(), stdout.trim() && `stdout:\n${stdout.trim()}`, timeNote]
          .filter(Boolean)
          .join("\n")
        reject(new Error(`bench: \`${[cmd, ...args].join(" ")}\` ${how}${detail ? `\n${detail}` : ""}`))
        return
      }
      resolve({ rssKb, stdout, stderr })
    })
  })

/**
 * One side of a comparison: fn(state) is timed; setup() -> state before it, check(state, result) after it
 * succeeds (throw to fail the bench, e.g. when the run did not do its work) and teardown(state) after it in any
 * case all run untimed.
 */
export const side = (name, fn, { setup, check, teardown } = {}) => ({ name, fn, setup, check, teardown })

/**
 * A side whose sample is one whole child process (see runProcess for opts). opts.setup (untimed) may return
 * an object whose env / args / cwd override those of that run; teardown receives the same object.
 */
export const processSide = (name, cmd, args, opts = {}) => {
  const { setup, check, teardown, runs: _runs, warmup: _warmup, ...base } = opts
  return side(
    name,
    (state) => {
      const o = state && typeof state === "object" ? { ...base, ...state } : base
      return runProcess(cmd, o.args ?? args, o)
    },
    { setup, check, teardown }
  )
}

const once = async (s, record) => {
  const state = s.setup ? await s.setup() : undefined
  try {
    const t0 = process.hrtime.bigint()
    const r = await s.fn(state)
    const ms = Number(process.hrtime.bigint() - t0) / 1e6
    if (s.check) await s.check(state, r)
    record?.(ms, r)
  } finally {
    if (s.teardown) await s.teardown(state)
  }
}

/**
 * Measures every side `warmup` (discarded) + `runs` times, interleaved: in round r each side runs once, in
 * order rotated by r (A B, B A, A B, ... for two sides), so slow drift and background load are shared alike.
 * Each timed sample covers fn only; setup/teardown are untimed. If fn resolves to an object with a numeric
 * rssKb, it is recorded as that run's peak RSS.
 * Returns one { name, runs, timesMs: number[], rssKb: number[] } per side, in the order given.
 */
export const compare = async (sides, { runs = DEFAULT_RUNS, warmup = DEFAULT_WARMUP } = {}) => {
  const results = sides.map((s) => ({ name: s.name, runs, timesMs: [], rssKb: [] }))
  const n = sides.length
  for (let round = 0; round < warmup + runs; round++) {
    const timed = round >= warmup
    for (let k = 0; k < n; k++) {
      const i = (round + k) % n
      await once(
        sides[i],
        timed
          ? (ms, r) => {
              results[i].timesMs.push(ms)
              if (r && typeof r.rssKb === "number") results[i].rssKb.push(r.rssKb)
            }
          : undefined
      )
    }
  }
  return results
}

/**
 * Runs async fn `warmup` times (discarded) then `runs` times, timing each call with process.hrtime.bigint.
 * Optional setup() (untimed, before each call) returns a state passed to fn(state), check(state, result)
 * (untimed, after each successful call) and teardown(state) (untimed, after each call, also when fn throws).
 * If fn resolves to an object with a numeric rssKb, it is recorded as that run's peak RSS.
 * Returns { name, runs, timesMs: number[], rssKb: number[] }.
 */
export const measure = async (name, fn, opts = {}) => {
  const { runs = DEFAULT_RUNS, warmup = DEFAULT_WARMUP, setup, check, teardown } = opts
  return (await compare([side(name, fn, { setup, check, teardown })], { runs, warmup }))[0]
}

/** measure() where each sample is one whole child process (see runProcess and processSide for opts). */
export const measureProcess = (name, cmd, args, opts = {}) =>
  compare([processSide(name, cmd, args, opts)], { runs: opts.runs, warmup: opts.warmup }).then((r) => r[0])

const summarize = (m, rows, bytes) => {
  if (!m) return m
  const s = {
    name: m.name,
    runs: m.timesMs.length,
    minMs: Math.min(...m.timesMs),
    medianMs: median(m.timesMs),
    timesMs: m.timesMs,
    peakRssKb: m.rssKb.length ? Math.max(...m.rssKb) : null
  }
  // Throughput rows only (rows / bytes given): the amount per run and the rate at the median time.
  const withRows = typeof rows === "number" ? { ...s, rows, rowsPerSec: rows / (s.medianMs / 1000) } : s
  return typeof bytes === "number" ? { ...withRows, bytes, bytesPerSec: bytes / (s.medianMs / 1000) } : withRows
}

/**
 * A comparison row. dbkit and baseline are measure() results (baseline may be omitted for rows with nothing to
 * compare against). ratio = dbkit median / baseline median (< 1: dbkit is faster).
 * Optional dbkitRows / baselineRows (rows each side writes per run; the sides may write different counts, e.g. a
 * slow baseline given fewer rows): each summary gains rows and rowsPerSec (at its median), and when both are given
 * the ratio compares time per row, i.e. ratio = baseline rows/s / dbkit rows/s (still < 1: dbkit is faster).
 * Optional dbkitBytes / baselineBytes (bytes each side processes per run, e.g. the size of the database backed
 * up): each summary gains bytes and bytesPerSec (at its median), and when both are given (and no row counts) the
 * ratio compares time per byte, i.e. ratio = baseline bytes/s / dbkit bytes/s.
 */
export const row = ({ operation, dbkit, baseline, baselineName, dbkitRows, baselineRows, dbkitBytes, baselineBytes }) => {
  const d = summarize(dbkit, dbkitRows, dbkitBytes)
  const b = summarize(baseline, baselineRows, baselineBytes)
  const perRow = b && d.rowsPerSec !== undefined && b.rowsPerSec !== undefined
  const perByte = b && d.bytesPerSec !== undefined && b.bytesPerSec !== undefined
  return {
    operation,
    dbkit: d,
    baselineName: baselineName ?? b?.name ?? null,
    baseline: b ?? null,
    ratio: b
      ? perRow
        ? b.rowsPerSec / d.rowsPerSec
        : perByte
          ? b.bytesPerSec / d.bytesPerSec
          : d.medianMs / b.medianMs
      : null
  }
}

/** A megabyte as PostgreSQL's pg_size_pretty and the RSS column count it (MiB). */
export const MB = 1024 * 1024

const fmtMs = (ms) => (ms == null ? "—" : ms >= 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${ms.toFixed(0)} ms`)
const fmtRss = (kb) => (kb == null ? "n/a" : `${(kb / 1024).toFixed(0)} MB`)
const fmtRatio = (r) => (r == null ? "—" : `${r.toFixed(2)}x`)
const fmtRate = (r) => (r == null ? "—" : `${Math.round(r).toLocaleString("en-US")}`)
const fmtMBps = (r) => (r == null ? "—" : `${(r / MB).toFixed(r / MB >= 100 ? 0 : 1)}`)

export const COLUMNS = [
  "operation",
  "dbkit min",
  "dbkit median",
  "compared with",
  "their min",
  "their median",
  "ratio (dbkit/them)",
  "dbkit peak RSS"
]

/** Extra columns, shown only when some row measured throughput (row() given row counts). */
export const RATE_COLUMNS = ["dbkit rows/s", "their rows/s"]

/** Extra columns, shown only when some row measured bytes processed (row() given byte counts); MB = MiB. */
export const BYTE_RATE_COLUMNS = ["dbkit MB/s", "their MB/s"]

/** Whether any row reports rows/s (then formatTable adds RATE_COLUMNS; otherwise the table is as before). */
export const hasRates = (rows) => rows.some((r) => r.dbkit.rowsPerSec !== undefined || r.baseline?.rowsPerSec !== undefined)

/** Whether any row reports bytes/s (then formatTable adds BYTE_RATE_COLUMNS). */
export const hasByteRates = (rows) =>
  rows.some((r) => r.dbkit.bytesPerSec !== undefined || r.baseline?.bytesPerSec !== undefined)

/** Renders rows as an aligned text table (numbers right-aligned). */
export const formatTable = (rows) => {
  const rates = hasRates(rows)
  const byteRates = hasByteRates(rows)
  const columns = [...COLUMNS, ...(rates ? RATE_COLUMNS : []), ...(byteRates ? BYTE_RATE_COLUMNS : [])]
  const cells = rows.map((r) => [
    r.operation,
    fmtMs(r.dbkit.minMs),
    fmtMs(r.dbkit.medianMs),
    r.baselineName ?? "—",
    fmtMs(r.baseline?.minMs),
    fmtMs(r.baseline?.medianMs),
    fmtRatio(r.ratio),
    fmtRss(r.dbkit.peakRssKb),
    ...(rates ? [fmtRate(r.dbkit.rowsPerSec), fmtRate(r.baseline?.rowsPerSec)] : []),
    ...(byteRates ? [fmtMBps(r.dbkit.bytesPerSec), fmtMBps(r.baseline?.bytesPerSec)] : [])
  ])
  // Every column but the operation and the baseline's name holds a number.
  const right = new Set(columns.map((_, i) => i).filter((i) => i !== 0 && i !== 3))
  const widths = columns.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)))
  const line = (c) =>
    c
      .map((v, i) => (right.has(i) ? v.padStart(widths[i]) : v.padEnd(widths[i])))
      .join(" | ")
      .trimEnd()
  return [line(columns), widths.map((w) => "-".repeat(w)).join("-|-"), ...cells.map(line)].join("\n")
}

export const rowsToJson = (rows, extra = {}) => JSON.stringify({ ...extra, rows }, null, 2)

/** PG* variables for a URL (what pg_dump / psql / pgbench connect with; no secrets in argv). */
export const pgEnvOf = (url) => {
  const u = new URL(url)
  const env = { PGHOST: u.hostname, PGPORT: u.port || "5432", PGDATABASE: decodeURIComponent(u.pathname.slice(1)) }
  if (u.username) env.PGUSER = decodeURIComponent(u.username)
  if (u.password) env.PGPASSWORD = decodeURIComponent(u.password)
  return env
}

/** "1,234". */
export const fmt = (n) => Math.round(n).toLocaleString("en-US")

/** A shell word: single-quoted. */
export const q = (s) => `'${String(s).replace(/'/g, `'\\''`)}'`

/** A value in dbkit's field-encryption envelope (src/privacy/fieldCrypto.ts): enc:v1:<id>:base64url(iv ‖ ciphertext ‖ tag). */
export const encryptField = (key, id, plaintext) => {
  const iv = randomBytes(12)
  const cipher = createCipheriv("aes-256-gcm", key, iv)
  return `enc:v1:${id}:${Buffer.concat([iv, cipher.update(plaintext, "utf8"), cipher.final(), cipher.getAuthTag()]).toString("base64url")}`
}

/** `program` on PATH, or undefined (rows that need pgbouncer, pgbackrest… skip without it). */
export const which = (program) => {
  try {
    return execFileSync("sh", ["-c", `command -v ${program}`], { encoding: "utf8" }).trim() || undefined
  } catch {
    return undefined
  }
}

/** A free TCP port on the loopback interface (for a server a row starts). */
export const freePort = () =>
  new Promise((resolve, reject) => {
    const probe = createServer()
    probe.once("error", reject)
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address()
      probe.close(() => resolve(port))
    })
  })
