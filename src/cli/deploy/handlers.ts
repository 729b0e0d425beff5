/**
 * Handlers of `dbkit deploy` and `dbkit deploy history` (definitions in index.ts), and the
 * deploy run `dbkit env promote` shares.
 */
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import { Deploy, type DeployOptions, type DeployReport, type Step } from "../../deploy/Deploy.js"
import type * as DeployConfig from "../../ProjectConfig.js"
import { parseOverrides } from "../../Thresholds.js"
import type { Parsed } from "../options.js"
import { duration, json, table } from "../render.js"
import { printEvent } from "../shared.js"
import type { deployConfig, historyConfig } from "./index.js"
import { chosenEnvironment, environmentLive } from "./live.js"

const mark: Record<Step["status"], string> = { ok: "✓", warn: "!", failed: "✗", skipped: "-" }

/** One line per step, as it finishes. */
const printStep = (step: Step) =>
  Console.log(`  ${mark[step.status]} ${step.name.padEnd(9)} ${duration(step.durationMs).padStart(7)}  ${step.detail}`)

/** The end of a report, for humans. */
const printSummary = (report: DeployReport) =>
  Effect.gen(function*() {
    const head = report.headAfter ?? "(none)"
    if (report.result === "dry run") {
      return yield* Console.log(`dry run: preflight ${
        report.steps.some((s) => s.status === "failed")
          ? "FAILED"
          : "passed"
      }; ${report.pending.length} migration(s) would be applied`)
    }
    if (report.result === "succeeded") {
      return yield* Console.log(
        `deployed to ${report.environment} (#${report.id}): ${
          report.applied.length === 0 ? "nothing to apply" : `applied ${report.applied.join(", ")}`
        }; head ${head}`
      )
    }
    yield* Console.log(
      `deploy #${report.id ?? "-"} to ${report.environment} FAILED; recovery: ${
        report.recovery ?? "none"
      }; head now ${head}`
    )
  })

/** Runs a deploy (or promotion) and prints it; a failure prints its report, then ends with its error (exit 17 / 18). */
export const runDeploy = (
  settings: DeployConfig.EnvironmentSettings,
  config: DeployConfig.DeployConfig,
  options: DeployOptions & { readonly json: boolean; readonly action: string }
) =>
  Effect.gen(function*() {
    const deploy = yield* Deploy
    yield* Console.error(
      `dbkit ${options.action} · ${settings.name} · ${settings.target}${config.file ? ` · ${config.file}` : ""}`
    )
    const quiet = options.json
    const outcome = yield* deploy.run({
      ...options,
      onStep: quiet ? undefined : printStep,
      onEvent: quiet
        ? undefined
        : (event) => (event._tag === "Applied" || event._tag === "Applying" ? Effect.void : printEvent(event))
    }).pipe(
      Effect.map((report) => ({ report, error: null })),
      Effect.catchTags({
        DeployFailed: (error) => Effect.succeed({ report: error.report, error }),
        DeployNotRecovered: (error) => Effect.succeed({ report: error.report, error })
      })
    )
    if (options.json) yield* json(outcome.report)
    else {
      for (const a of outcome.report.abandoned) {
        yield* Console.log(
          `note: deploy #${a.id} (started ${a.startedAt} by ${a.who}) never finished — its process stopped; marked abandoned`
        )
      }
      yield* printSummary(outcome.report)
      const point = outcome.report.restorePoint
      if (point !== null) {
        yield* Console.log(
          `restore point ${point.name} at ${point.lsn}: dbkit restore --physical --to-name ${point.name} undoes this deploy`
        )
      }
    }
    if (outcome.error !== null) return yield* outcome.error
  }).pipe(Effect.provide(environmentLive(settings, config)))

/** `dbkit deploy history`. */
export const history = (options: Parsed<typeof historyConfig>) =>
  Effect.gen(function*() {
    const { config, settings } = yield* chosenEnvironment(options.env)
    const rows = yield* Effect.flatMap(Deploy, (d) => d.history({ limit: options.limit })).pipe(
      Effect.provide(environmentLive(settings, config))
    )
    if (options.json) return yield* json(rows)
    if (rows.length === 0) return yield* Console.log(`${settings.name} (${settings.target}): no deploys recorded`)
    yield* Console.log(table(
      ["id", "started", "who", "result", "recovery", "applied", "head", "failed step"],
      rows.map((r) => {
        const failed = r.steps.find((s) => s.status === "failed")
        return [
          String(r.id),
          r.startedAt,
          r.who,
          r.result,
          r.recovery ?? "-",
          r.migrationsApplied.length === 0 ? "-" : r.migrationsApplied.join(", "),
          r.headAfter ?? r.headBefore ?? "-",
          failed ? `${failed.name}: ${failed.detail.slice(0, 80)}` : r.error ? r.error.slice(0, 80) : "-"
        ]
      })
    ))
  })

/** `dbkit deploy`. */
export const deploy = (options: Parsed<typeof deployConfig>) =>
  Effect.gen(function*() {
    const { config, settings } = yield* chosenEnvironment(options.env)
    const thresholds = yield* parseOverrides(options.threshold)
    yield* runDeploy(settings, config, {
      action: options.dryRun ? "deploy --dry-run" : "deploy",
      dryRun: options.dryRun,
      yes: options.yes,
      skipDrift: options.skipDrift,
      terminateConnections: options.terminateConnections,
      thresholds,
      json: options.json
    })
  })
