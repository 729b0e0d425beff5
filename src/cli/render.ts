/**
 * The one place commands turn results into output: aligned tables and JSON for humans and
 * machines, the environment banner that precedes every mutating command, and progress lines.
 */
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { DbConfig } from "../Config.js"
import { Database } from "../Database.js"

/** Pads columns to their widest cell. */
export const table = (headers: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<string>>): string => {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)))
  const line = (cells: ReadonlyArray<string>) =>
    cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join("  ").trimEnd()
  return [line(headers), line(widths.map((w) => "-".repeat(w))), ...rows.map(line)].join("\n")
}

/** Machine output: stable, indented JSON on stdout. */
export const json = (value: unknown) => Console.log(JSON.stringify(value, null, 2))

/** "dbkit · development · user@host:5432/db": printed to stderr before anything is changed. */
export const banner = (action: string) =>
  Effect.gen(function*() {
    const config = yield* DbConfig
    const database = yield* Effect.serviceOption(Database)
    const target = Option.match(database, { onNone: () => "", onSome: (d) => ` · ${d.target}` })
    yield* Console.error(`dbkit ${action} · ${config.environment}${target}`)
  })

/** "1,234". */
export const count = (n: number) => Math.round(n).toLocaleString("en-US")

/** Milliseconds, short. */
export const duration = (ms: number) => (ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`)

/** An age, coarse: "45 s", "12 min", "5 h", "3 d". */
export const age = (ms: number) => {
  const s = Math.max(0, Math.round(ms / 1000))
  return s < 60
    ? `${s} s`
    : s < 3600
    ? `${Math.round(s / 60)} min`
    : s < 86400
    ? `${Math.round(s / 3600)} h`
    : `${Math.round(s / 86400)} d`
}

/** Bytes, readable: "12.3 MB". */
export const bytes = (n: number) =>
  n < 1024
    ? `${Math.round(n)} B`
    : n < 1024 ** 2
    ? `${(n / 1024).toFixed(1)} KB`
    : n < 1024 ** 3
    ? `${(n / 1024 ** 2).toFixed(1)} MB`
    : `${(n / 1024 ** 3).toFixed(2)} GB`

/**
 * The live line on stderr that progress and status share: drawn only when `on` (a terminal),
 * at most every 200 ms unless forced, cut to the terminal's width; `clear` erases it.
 */
const liveLine = (on: boolean) => {
  let shown = false
  let drawn = 0
  return {
    draw: (text: (now: number) => string, force = false): void => {
      const now = Date.now()
      if (!on || (!force && now - drawn < 200)) return
      drawn = now
      const line = text(now)
      const columns = Math.max(20, (process.stderr.columns || 100) - 1)
      process.stderr.write(`\r\x1b[K${line.length > columns ? `${line.slice(0, columns - 1)}…` : line}`)
      shown = true
    },
    clear: (): void => {
      if (shown) process.stderr.write("\r\x1b[K")
      shown = false
    }
  }
}

/**
 * A progress line on stderr for long operations: redrawn at most every 200 ms, only on a
 * terminal (never in CI logs or under --json). Returns the update function and a finisher.
 */
export const progress = (label: string, enabled: boolean) => {
  const on = enabled && process.stderr.isTTY === true
  const started = Date.now()
  const line = liveLine(on)
  return {
    /** Whether anything is shown (a terminal, not --json): else callers need not report. */
    enabled: on,
    /** `done` bytes so far; `note` follows the count ("of SQL, 40% of the file"). */
    update: (done: number, note?: string) =>
      line.draw((now) =>
        `${label}: ${bytes(done)}${note ? ` ${note}` : ""} (${bytes(done / Math.max(0.001, (now - started) / 1000))}/s)`
      ),
    done: line.clear
  }
}

/** The same for work that says how far it is rather than how many bytes: "label: 37.5%". */
export const percentProgress = (label: string, enabled: boolean) => {
  const on = enabled && process.stderr.isTTY === true
  const line = liveLine(on)
  return {
    enabled: on,
    update: (percent: number) => line.draw(() => `${label}: ${percent.toFixed(1)}%`),
    done: line.clear
  }
}

/**
 * One line of live status on stderr for work that runs for seconds (a seed generating rows, a
 * drift replay, a tenant fan-out): only on a terminal, redrawn at most every 200 ms and cut to
 * the terminal's width, erased by `clear` before a finished line is printed. Pipes and CI logs
 * get nothing from it, so output there is only the finished lines.
 */
export const statusLine = () => {
  const line = liveLine(process.stderr.isTTY === true)
  return {
    /** Draws `text`, unless the last draw was under 200 ms ago (`now` draws regardless). */
    show: (text: string, now = false) => Effect.sync(() => line.draw(() => text, now)),
    /** Erases the line if one is shown. */
    clear: Effect.sync(line.clear)
  }
}
