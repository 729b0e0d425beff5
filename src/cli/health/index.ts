/**
 * `dbkit health`: the DBA's checks as a table (or `--json`) and an exit code that is the
 * verdict; `dbkit health serve` exposes them over HTTP.
 */
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import { checkNames, Health, type HealthReport } from "../../health/Health.js"
import type { CheckResult, OverallStatus } from "../../health/status.js"
import { percent, seconds } from "../../health/status.js"
import { parseOverrides, thresholdNames } from "../../health/thresholds.js"
import { bytes, duration, json, table } from "../render.js"
import { jsonOption } from "../shared.js"
import { HealthLive } from "./live.js"
import { serve } from "./serve.js"

/** The verdict as an exit code: 0 ok, 1 warn (or unknown), 2 critical. */
export const healthExitCode = (status: OverallStatus): number => (status === "critical" ? 2 : status === "warn" ? 1 : 0)

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
    yield* Console.log(`\n${report.target}: ${report.status.toUpperCase()} (${tally}) in ${duration(report.durationMs)}`)
  })

export const health = Command.make(
  "health",
  {
    json: jsonOption,
    check: Options.text("check").pipe(
      Options.repeated,
      Options.withDescription(`Run only this check (repeatable): ${checkNames.join(", ")}`)
    ),
    threshold: Options.text("threshold").pipe(
      Options.repeated,
      Options.withDescription(
        `Override a threshold, name=value (repeatable; "none" for no limit), e.g. longQuerySeconds=60, or set ` +
          `DBKIT_HEALTH_<NAME> (DBKIT_HEALTH_LONG_QUERY_SECONDS=60). Names: ${thresholdNames.join(", ")}`
      )
    )
  },
  (options) =>
    Effect.gen(function*() {
      const thresholds = yield* parseOverrides(options.threshold)
      const service = yield* Health
      const report = yield* service.report({ only: options.check, thresholds })
      if (options.json) yield* json(report)
      else yield* printReport(report)
      // The report is the result, not a failure: the command succeeds (no error line) and the
      // process ends with the verdict as its exit code.
      process.exitCode = healthExitCode(report.status)
    }).pipe(Effect.provide(HealthLive))
).pipe(
  Command.withDescription(
    "Check the database as a DBA would: connectivity, version, migrations, connections, long queries, " +
      "idle transactions, locks, cache, wraparound, sequences, indexes, bloat, replication, size, backups, " +
      "tenants, Redis. Exit codes here are the verdict and differ from dbkit's other commands: " +
      "0 ok, 1 warn (or a check that could not run), 2 critical."
  ),
  Command.withSubcommands([serve])
)
