/**
 * Wiring for the deploy and env commands: the deploy configuration (dbkit.config.* and
 * variables), and for a named environment its own database, services and guard.
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { layerFor } from "../../deploy/Deploy.js"
import * as Guard from "../../Guard.js"
import * as DeployConfig from "../../ProjectConfig.js"
import { TerminalLive } from "../live.js"

/** The configuration, read from the working directory and the environment. */
export const loadConfig = DeployConfig.load()

/** The config and the settings of `--env` (default: DB_ENV, else NODE_ENV, else development). */
export const chosenEnvironment = (env: Option.Option<DeployConfig.EnvironmentSettings["name"]>) =>
  Effect.gen(function*() {
    const config = yield* loadConfig
    const name = Option.isSome(env) ? env.value : yield* DeployConfig.currentEnvironment()
    return { config, settings: yield* settingsFor(config, name) }
  })

/** An environment's settings; staging and production must have a URL. */
export const settingsFor = (config: DeployConfig.DeployConfig, name: DeployConfig.EnvironmentSettings["name"]) =>
  DeployConfig.requireUrl(config.environments[name])

/** Every service a deploy to `settings` needs, with a guard that reads that environment's rules. */
export const environmentLive = (settings: DeployConfig.EnvironmentSettings, config: DeployConfig.DeployConfig) =>
  Guard.layer.pipe(
    Layer.provide(TerminalLive),
    Layer.provideMerge(layerFor(settings, config)),
    Layer.provide(NodeContext.layer)
  )
