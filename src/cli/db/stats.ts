/**
 * `dbkit db stats`: top statements, table and index sizes and usage, and recommendations.
 */
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import { Maintenance, type StatsReport } from "../../maintenance/Maintenance.js"
import type { Parsed } from "../options.js"
import { bytes, count, json, table } from "../render.js"
import type { statsConfig } from "./index.js"
import { MaintenanceLive } from "./live.js"

const print = (report: StatsReport) =>
  Effect.gen(function*() {
    const top = report.topQueries
    if (top.status === "ok") {
      yield* Console.log(`top statements (${top.detail})`)
      yield* Console.log(table(
        ["calls", "total", "mean", "rows", "statement"],
        top.queries.map((q) => [count(q.calls), `${q.totalMs} ms`, `${q.meanMs} ms`, count(q.rows), q.query])
      ))
    } else yield* Console.log(`top statements: ${top.detail}`)
    yield* Console.log(
      `\ntables (largest ${report.tables.length}; counts since ${report.statsSince ?? "statistics were reset"})`
    )
    yield* Console.log(table(
      ["table", "rows", "dead", "seq scans", "rows read by seq scans", "index scans", "table size", "indexes", "total"],
      report.tables.map((t) => [
        t.table,
        count(t.liveRows),
        count(t.deadRows),
        count(t.seqScans),
        count(t.seqRowsRead),
        count(t.indexScans),
        bytes(t.tableBytes),
        bytes(t.indexBytes),
        bytes(t.totalBytes)
      ])
    ))
    yield* Console.log(`\nindexes (largest ${report.indexes.length})`)
    yield* Console.log(table(
      ["index", "table", "scans", "size", "unique"],
      report.indexes.map((i) => [i.index, i.table, count(i.scans), bytes(i.bytes), i.unique ? "yes" : "no"])
    ))
    yield* Console.log("\nrecommendations")
    if (report.recommendations.length === 0) yield* Console.log("  none")
    for (const r of report.recommendations) yield* Console.log(`  ${r.kind} ${r.target}: ${r.detail}`)
  })

export const stats = (options: Parsed<typeof statsConfig>) =>
  Effect.gen(function*() {
    const maintenance = yield* Maintenance
    const report = yield* maintenance.stats({ limit: options.limit })
    if (options.json) return yield* json(report)
    yield* print(report)
  }).pipe(Effect.provide(MaintenanceLive))
