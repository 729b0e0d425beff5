// Tiny benchmark library for `pnpm bench` (plain ESM, no build step).
//
//   measure(name, fn, { runs, warmup })  runs async fn warmup + runs times, records wall time per run
//                                         (process.hrtime.bigint) and, when fn returns { rssKb }, peak RSS.
//   runProcess(cmd, args, opts)           spawns a child, awaits exit, throws (with its stderr) on a non-zero
//                                         exit; returns { rssKb, stdout, stderr } (peak RSS via /usr/bin/time).
//   measureProcess(name, cmd, args, opts) measure() of runProcess(): one whole-process sample per run.
//   row({ operation, dbkit, baseline, baselineName })  a comparison row of two measurements.
//   formatTable(rows) / rowsToJson(rows)  render rows.
import { spawn } from "node:child_process"
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"

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

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2
}

/** Reads VmHWM (peak RSS, kB) of a live process; undefined once it has exited. */
const readVmHwm = (pid) => {
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
 * Runs async fn `warmup` times (discarded) then `runs` times, timing each call with process.hrtime.bigint.
 * If fn resolves to an object with a numeric rssKb, it is recorded as that run's peak RSS.
 * Returns { name, runs, timesMs: number[], rssKb: number[] }.
 */
export const measure = async (name, fn, { runs = DEFAULT_RUNS, warmup = DEFAULT_WARMUP } = {}) => {
  for (let i = 0; i < warmup; i++) await fn()
  const timesMs = []
  const rssKb = []
  for (let i = 0; i < runs; i++) {
    const t0 = process.hrtime.bigint()
    const r = await fn()
    timesMs.push(Number(process.hrtime.bigint() - t0) / 1e6)
    if (r && typeof r.rssKb === "number") rssKb.push(r.rssKb)
  }
  return { name, runs, timesMs, rssKb }
}

/** measure() where each sample is one whole child process (see runProcess for opts). */
export const measureProcess = (name, cmd, args, opts = {}) =>
  measure(name, () => runProcess(cmd, args, opts), { runs: opts.runs, warmup: opts.warmup })

const summarize = (m) =>
  m && {
    name: m.name,
    runs: m.timesMs.length,
    minMs: Math.min(...m.timesMs),
    medianMs: median(m.timesMs),
    timesMs: m.timesMs,
    peakRssKb: m.rssKb.length ? Math.max(...m.rssKb) : null
  }

/**
 * A comparison row. dbkit and baseline are measure() results (baseline may be omitted for rows with nothing to
 * compare against). ratio = dbkit median / baseline median (< 1: dbkit is faster).
 */
export const row = ({ operation, dbkit, baseline, baselineName }) => {
  const d = summarize(dbkit)
  const b = summarize(baseline)
  return {
    operation,
    dbkit: d,
    baselineName: baselineName ?? b?.name ?? null,
    baseline: b ?? null,
    ratio: b ? d.medianMs / b.medianMs : null
  }
}

const fmtMs = (ms) => (ms == null ? "—" : ms >= 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${ms.toFixed(0)} ms`)
const fmtRss = (kb) => (kb == null ? "n/a" : `${(kb / 1024).toFixed(0)} MB`)
const fmtRatio = (r) => (r == null ? "—" : `${r.toFixed(2)}x`)

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

/** Renders rows as an aligned text table (numbers right-aligned). */
export const formatTable = (rows) => {
  const cells = rows.map((r) => [
    r.operation,
    fmtMs(r.dbkit.minMs),
    fmtMs(r.dbkit.medianMs),
    r.baselineName ?? "—",
    fmtMs(r.baseline?.minMs),
    fmtMs(r.baseline?.medianMs),
    fmtRatio(r.ratio),
    fmtRss(r.dbkit.peakRssKb)
  ])
  const right = new Set([1, 2, 4, 5, 6, 7])
  const widths = COLUMNS.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)))
  const line = (c) =>
    c
      .map((v, i) => (right.has(i) ? v.padStart(widths[i]) : v.padEnd(widths[i])))
      .join(" | ")
      .trimEnd()
  return [line(COLUMNS), widths.map((w) => "-".repeat(w)).join("-|-"), ...cells.map(line)].join("\n")
}

export const rowsToJson = (rows, extra = {}) => JSON.stringify({ ...extra, rows }, null, 2)
