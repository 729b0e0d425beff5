/**
 * The one place commands turn results into output: aligned tables and JSON for humans and
 * machines, the environment banner that precedes every mutating command, and progress lines.
 */
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { DbConfig } from "../Config.js"
import { Database } from "../Database.js"

/** `--json` as every command spells it. */
export type OutputMode = "human" | "json"

/** Pads columns to their widest cell. */
export const table = (headers: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<string>>): string => {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)))
  const line = (cells: ReadonlyArray<string>) =>
    cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join("  ").trimEnd()
  return [line(headers), line(widths.map((w) => "-".repeat(w))), ...rows.map(line)].join("\n")
}

/** Machine output: stable, indented JSON on stdout. */
export const json = (value: unknown) => Console.log(JSON.stringify(value, null, 2))

/** Whether progress lines should be shown (a terminal, and not `--json`). */
export const showProgress = (mode: OutputMode) => mode === "human"

/** "dbkit · development · user@host:5432/db": printed to stderr before anything is changed. */
export const banner = (action: string) =>
  Effect.gen(function*() {
    const config = yield* DbConfig
    const database = yield* Effect.serviceOption(Database)
    const target = Option.match(database, { onNone: () => "", onSome: (d) => ` · ${d.target}` })
    yield* Console.error(`dbkit ${action} · ${config.environment}${target}`)
  })

/** Milliseconds, short. */
export const duration = (ms: number) => (ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`)
