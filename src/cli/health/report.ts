/**
 * Handler of `dbkit health` (definition in index.ts): the report as a table or JSON, and its
 * verdict as the exit code.
 */
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import { Health, type HealthReport } from "../../health/Health.js"
import type { CheckResult } from "../../health/status.js"
import { percent, seconds } from "../../health/status.js"
import { parseOverrides } from "../../Thresholds.js"
import type { Parsed } from "../options.js"
import { HealthCritical, HealthWarn } from "../outcomes.js"
import { bytes, duration, json, table } from "../render.js"
import type { healthConfig } from "./index.js"
import { HealthLive } from "./live.js"

/** The verdict as an exit code: 0 ok, 1 warn (or unknown), 2 critical. */
/** A check's figure with its unit, for the table. */
const formatValue = (check: CheckResult): string => {
  const value = check.value
  if (value === null) return "-"
  if (typeof value === "string") return value
  switch (check.unit) {
    case "ms":
      return `${value} ms`
    case "s":
      return seconds(value)
    case "h":
      return `${value} h`
    case "ratio":
      return percent(value)
    case "bytes":
      return bytes(value)
    default:
      return String(value)
  }
}

const printReport = (report: HealthReport) =>
  Effect.gen(function*() {
    yield* Console.log(table(
      ["check", "status", "value", "threshold", "detail"],
      report.checks.map((c) => [c.name, c.status, formatValue(c), c.threshold, c.detail])
    ))
    const count = (status: string) => report.checks.filter((c) => c.status === status).length
    const tally = ["critical", "warn", "unknown"].map((s) => `${count(s)} ${s}`).join(", ")
    yield* Console.log(
      `\n${report.target}: ${report.status.toUpperCase()} (${tally}) in ${duration(report.durationMs)}`
    )
  })

export const report = (options: Parsed<typeof healthConfig>) =>
  Effect.gen(function*() {
    const thresholds = yield* parseOverrides(options.threshold)
    const service = yield* Health
    const report = yield* service.report({ only: options.check, thresholds })
    if (options.json) yield* json(report)
    else yield* printReport(report)
    // The report is the result; its verdict ends the command with its exit code (no error line).
    if (report.status === "critical") return yield* new HealthCritical({ target: report.target })
    if (report.status === "warn") return yield* new HealthWarn({ target: report.target })
  }).pipe(Effect.provide(HealthLive))
