/**
 * `dbkit deploy`: the release gate for one environment (preflight, safety backup, migrate,
 * health; recovery on failure), reported step by step; `dbkit deploy history`: what the last
 * releases did, from the environment's `dbkit.deployments`.
 */
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as DeployConfig from "../../deploy/config.js"
import { Deploy, type DeployOptions, type DeployReport, type Step } from "../../deploy/Deploy.js"
import { parseOverrides } from "../../health/thresholds.js"
import { duration, json, table } from "../render.js"
import { jsonOption, printEvent, yesOption } from "../shared.js"
import { chosenEnvironment, DeployExit, envOption, environmentLive, exitWith } from "./live.js"

const mark: Record<Step["status"], string> = { ok: "✓", warn: "!", failed: "✗", skipped: "-" }

/** One line per step, as it finishes. */
export const printStep = (step: Step) => Console.log(`  ${mark[step.status]} ${step.name.padEnd(9)} ${duration(step.durationMs).padStart(7)}  ${step.detail}`)

/** The end of a report, for humans. */
export const printSummary = (report: DeployReport) =>
  Effect.gen(function*() {
    const head = report.headAfter ?? "(none)"
    if (report.result === "dry run") {
      return yield* Console.log(`dry run: preflight ${report.steps.some((s) => s.status === "failed") ? "FAILED" : "passed"}; ${report.pending.length} migration(s) would be applied`)
    }
    if (report.result === "succeeded") {
      return yield* Console.log(
        `deployed to ${report.environment} (#${report.id}): ${report.applied.length === 0 ? "nothing to apply" : `applied ${report.applied.join(", ")}`}; head ${head}`
      )
    }
    yield* Console.log(`deploy #${report.id ?? "-"} to ${report.environment} FAILED; recovery: ${report.recovery ?? "none"}; head now ${head}`)
  })

/** Runs a deploy (or promotion) and prints it; a failure prints its report, then exits 17 / 18. */
export const runDeploy = (
  settings: DeployConfig.EnvironmentSettings,
  config: DeployConfig.DeployConfig,
  options: DeployOptions & { readonly json: boolean; readonly action: string }
) =>
  Effect.gen(function*() {
    const deploy = yield* Deploy
    yield* Console.error(`dbkit ${options.action} · ${settings.name} · ${settings.target}${config.file ? ` · ${config.file}` : ""}`)
    const quiet = options.json
    const outcome = yield* deploy.run({
      ...options,
      onStep: quiet ? undefined : printStep,
      onEvent: quiet ? undefined : (event) => (event._tag === "Applied" || event._tag === "Applying" ? Effect.void : printEvent(event))
    }).pipe(
      Effect.map((report) => ({ report, error: null })),
      Effect.catchTags({
        DeployFailed: (error) => Effect.succeed({ report: error.report, error: { error, code: DeployExit.failed } }),
        DeployNotRecovered: (error) => Effect.succeed({ report: error.report, error: { error, code: DeployExit.notRecovered } })
      })
    )
    if (options.json) yield* json(outcome.report)
    else {
      for (const a of outcome.report.abandoned) {
        yield* Console.log(`note: deploy #${a.id} (started ${a.startedAt} by ${a.who}) never finished — its process stopped; marked abandoned`)
      }
      yield* printSummary(outcome.report)
    }
    if (outcome.error !== null) yield* exitWith(outcome.error.code)(outcome.error.error)
  }).pipe(
    Effect.catchTag("DeployLocked", exitWith(DeployExit.locked)),
    Effect.provide(environmentLive(settings, config))
  )

const history = Command.make(
  "history",
  {
    env: envOption(),
    limit: Options.integer("limit").pipe(Options.withDefault(20), Options.withDescription("How many deploys to show, newest first")),
    json: jsonOption
  },
  (options) =>
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
).pipe(Command.withDescription("The last deploys to an environment, newest first: who, when, result, what was applied, how a failure was recovered (--json for everything, with every step)"))

export const deploy = Command.make(
  "deploy",
  {
    env: envOption("env", "The environment to deploy to, from dbkit.config.ts (default: DB_ENV, else NODE_ENV, else development)"),
    dryRun: Options.boolean("dry-run").pipe(Options.withDescription("Run the preflight only (connect, history, lint, drift); change and record nothing")),
    yes: yesOption,
    skipDrift: Options.boolean("skip-drift").pipe(Options.withDescription("Do not replay the applied migrations into a scratch database to compare schemas")),
    terminateConnections: Options.boolean("terminate-connections").pipe(
      Options.withDescription("If recovery has to restore the safety backup, disconnect the application's sessions instead of failing")
    ),
    threshold: Options.text("threshold").pipe(
      Options.repeated,
      Options.withDescription("Override a health threshold for the post-deploy check, name=value (repeatable; see dbkit health --help)")
    ),
    json: jsonOption
  },
  (options) =>
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
).pipe(
  Command.withDescription(
    "Release to an environment in one step: preflight (connect; history not changed or failed; `migrate plan --strict` where lint is strict — production by default; drift of the applied migrations), " +
      "a verified safety backup, migrate, then a health check (critical fails). If migrating or the health check fails, the database is put back: rolled back with the down migrations when every migration " +
      "this deploy applied has one, else restored from the safety backup. Every step is recorded in dbkit.deployments. Guarded where the environment says (staging, production): DB_DEPLOY_CONFIRM=1 or --yes; " +
      "production also DB_DEPLOY_ALLOW_PRODUCTION=1. Exit 0 deployed, 17 failed and recovered (or nothing changed), 18 failed and NOT recovered, 6 another deploy is running, 4 not confirmed"
  ),
  Command.withSubcommands([history])
)
