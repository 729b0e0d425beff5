/**
 * `dbkit env`: the environments described in dbkit.config.ts — `list` shows them (and where each
 * setting came from), `check` validates them (and with --connect reaches each database), `diff`
 * compares two environments' migrations (and catalogs with --schema), `promote` applies to one
 * exactly the migrations the other has, through the deploy gate. The definitions; the handlers
 * (handlers.ts) load when one runs.
 */
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import { environments } from "../../Config.js"
import { lazy } from "../lazy.js"
import { jsonOption, yesOption } from "../options.js"

const handlers = () => import("./handlers.js")

export const listConfig = { json: jsonOption }

const list = Command.make("list", listConfig, (options) => lazy(handlers, (m) => m.list(options))).pipe(
  Command.withDescription(
    "Show each environment from dbkit.config.ts (or DBKIT_CONFIG) with variables applied: target (never a password), where its URL comes from, guards, lint, seeds, timeouts, backup retention"
  )
)

export const checkConfig = {
  env: Options.choice("env", environments).pipe(
    Options.optional,
    Options.withDescription("Check only this environment (its URL must then be set)")
  ),
  connect: Options.boolean("connect").pipe(
    Options.withDescription("Also connect to each environment whose URL is set (exit 3 if one cannot be reached)")
  ),
  json: jsonOption
}

const check = Command.make("check", checkConfig, (options) => lazy(handlers, (m) => m.check(options))).pipe(
  Command.withDescription(
    "Validate dbkit.config.ts and the DBKIT_<ENV>_* variables (exit 2 naming the bad field); --connect also reaches each database (exit 3 when one cannot be reached)"
  )
)

const fromOption = Options.choice("from", environments).pipe(
  Options.withDescription("The environment whose applied migrations are the reference (e.g. staging)")
)
const toOption = Options.choice("to", environments).pipe(
  Options.withDescription("The environment to compare or promote (e.g. production)")
)

export const diffConfig = {
  from: fromOption,
  to: toOption,
  schema: Options.boolean("schema").pipe(
    Options.withDescription("Also compare the two catalogs (tables, columns, indexes, policies, …)")
  ),
  json: jsonOption
}

const diff = Command.make("diff", diffConfig, (options) => lazy(handlers, (m) => m.diff(options))).pipe(
  Command.withDescription(
    "Compare two environments' applied migrations (names and checksums) and, with --schema, their catalogs; print what `env promote` would apply"
  )
)

export const promoteConfig = {
  from: fromOption,
  to: toOption,
  yes: yesOption,
  dryRun: Options.boolean("dry-run").pipe(
    Options.withDescription("Show the promotion and run the target's preflight only")
  ),
  skipDrift: Options.boolean("skip-drift").pipe(Options.withDescription("Skip the target's drift check")),
  terminateConnections: Options.boolean("terminate-connections").pipe(
    Options.withDescription("If recovery restores the safety backup, disconnect other sessions")
  ),
  json: jsonOption
}

const promote = Command.make("promote", promoteConfig, (options) => lazy(handlers, (m) => m.promote(options))).pipe(
  Command.withDescription(
    "Apply to --to exactly the migrations --from has and it lacks (up to --from's last one), through the deploy gate: preflight, safety backup, migrate, health, recovery, recorded in dbkit.deployments. " +
      "Guarded like deploy (DB_DEPLOY_CONFIRM=1 / --yes; production also DB_DEPLOY_ALLOW_PRODUCTION=1). Refused (exit 7) when --to has migrations --from lacks, checksums differ, or something else would be applied"
  )
)

export const env = Command.make("env").pipe(
  Command.withDescription("The environments in dbkit.config.ts: list, check, diff and promote between them"),
  Command.withSubcommands([list, check, diff, promote])
)
