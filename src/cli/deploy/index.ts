/**
 * `dbkit deploy`: the release gate for one environment (preflight, safety backup, migrate,
 * health; recovery on failure), reported step by step; `dbkit deploy history`: what the last
 * releases did, from the environment's `dbkit.deployments`. The definitions; the handlers
 * (handlers.ts) load when one runs.
 */
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import { environments } from "../../Config.js"
import { lazy } from "../lazy.js"
import { jsonOption, yesOption } from "../options.js"

const handlers = () => import("./handlers.js")

/** `--env NAME`: default DB_ENV, else NODE_ENV, else development. */
const envOption = (name = "env", description = "The environment (default: DB_ENV, else NODE_ENV, else development)") =>
  Options.choice(name, environments).pipe(Options.optional, Options.withDescription(description))

export const historyConfig = {
  env: envOption(),
  limit: Options.integer("limit").pipe(
    Options.withDefault(20),
    Options.withDescription("How many deploys to show, newest first")
  ),
  json: jsonOption
}

const history = Command.make("history", historyConfig, (options) => lazy(handlers, (m) => m.history(options))).pipe(
  Command.withDescription(
    "The last deploys to an environment, newest first: who, when, result, what was applied, how a failure was recovered (--json for everything, with every step)"
  )
)

export const deployConfig = {
  env: envOption(
    "env",
    "The environment to deploy to, from dbkit.config.ts (default: DB_ENV, else NODE_ENV, else development)"
  ),
  dryRun: Options.boolean("dry-run").pipe(
    Options.withDescription("Run the preflight only (connect, history, lint, drift); change and record nothing")
  ),
  yes: yesOption,
  skipDrift: Options.boolean("skip-drift").pipe(
    Options.withDescription("Do not replay the applied migrations into a scratch database to compare schemas")
  ),
  terminateConnections: Options.boolean("terminate-connections").pipe(
    Options.withDescription(
      "If recovery has to restore the safety backup, disconnect the application's sessions instead of failing"
    )
  ),
  threshold: Options.text("threshold").pipe(
    Options.repeated,
    Options.withDescription(
      "Override a health threshold for the post-deploy check, name=value (repeatable; see dbkit health --help)"
    )
  ),
  json: jsonOption
}

export const deploy = Command.make("deploy", deployConfig, (options) => lazy(handlers, (m) => m.deploy(options))).pipe(
  Command.withDescription(
    "Release to an environment in one step: preflight (connect; history not changed or failed; `migrate plan --strict` where lint is strict — production by default; drift of the applied migrations), " +
      "a verified safety backup, migrate, then a health check (critical fails). If migrating or the health check fails, the database is put back: rolled back with the down migrations when every migration " +
      "this deploy applied has one, else restored from the safety backup. Every step is recorded in dbkit.deployments. Guarded where the environment says (staging, production): DB_DEPLOY_CONFIRM=1 or --yes; " +
      "production also DB_DEPLOY_ALLOW_PRODUCTION=1. Exit 0 deployed, 17 failed and recovered (or nothing changed), 18 failed and NOT recovered, 6 another deploy is running, 4 not confirmed"
  ),
  Command.withSubcommands([history])
)
