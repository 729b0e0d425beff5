/**
 * `dbkit env`: the environments described in dbkit.config.ts — `list` shows them (and where each
 * setting came from), `check` validates them (and with --connect reaches each database), `diff`
 * compares two environments' migrations (and catalogs with --schema), `promote` applies to one
 * exactly the migrations the other has, through the deploy gate.
 */
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as Console from "effect/Console"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as SqlClient from "@effect/sql/SqlClient"
import { type Environment, environments } from "../../Config.js"
import { PgLive } from "../../Database.js"
import * as DeployConfig from "../../deploy/config.js"
import { PromotionBlocked } from "../../deploy/errors.js"
import { compareStates, type EnvironmentDiff, readState } from "../../deploy/promote.js"
import * as Catalog from "../../migrator/catalog.js"
import { json, table } from "../render.js"
import { jsonOption, yesOption } from "../shared.js"
import { runDeploy } from "../deploy/index.js"
import { DeployExit, environmentLive, exitWith, loadConfig, settingsFor } from "../deploy/live.js"

/** An environment's settings without its URL: what `env list` shows and `--json` prints. */
const describe = (e: DeployConfig.EnvironmentSettings) => ({
  name: e.name,
  target: e.target,
  urlEnv: e.urlEnv,
  url: e.urlSource,
  confirm: e.confirm,
  seedProfile: e.seedProfile,
  lint: e.lint,
  lockTimeout: Duration.format(e.lockTimeout),
  statementTimeout: Option.match(e.statementTimeout, { onNone: () => "none", onSome: Duration.format }),
  backupRetention: e.backupRetention,
  backupDir: e.backupDir,
  health: e.health,
  sources: e.sources
})

const list = Command.make("list", { json: jsonOption }, (options) =>
  Effect.gen(function*() {
    const config = yield* loadConfig
    const rows = environments.map((name) => describe(config.environments[name]))
    if (options.json) return yield* json({ file: config.file, migrationsDir: config.migrationsDir, backupDir: config.backupDir, environments: rows })
    yield* Console.log(`config: ${config.file ?? "(no dbkit.config.* found: defaults)"}; migrations ${config.migrationsDir}`)
    yield* Console.log(table(
      ["environment", "target", "url from", "confirm", "lint", "seeds", "lock timeout", "statement timeout", "keep backups"],
      rows.map((r) => [
        r.name,
        r.target,
        r.url === "unset" ? `${r.urlEnv} (not set)` : r.url.replace(/^env:/, ""),
        r.confirm ? "yes" : "no",
        r.lint,
        r.seedProfile,
        r.lockTimeout,
        r.statementTimeout,
        [r.backupRetention.keepLast !== undefined ? `last ${r.backupRetention.keepLast}` : "", r.backupRetention.keepDays !== undefined ? `${r.backupRetention.keepDays} days` : ""].filter(Boolean).join(", ") || "all"
      ])
    ))
  })).pipe(Command.withDescription("Show each environment from dbkit.config.ts (or DBKIT_CONFIG) with variables applied: target (never a password), where its URL comes from, guards, lint, seeds, timeouts, backup retention"))

const check = Command.make(
  "check",
  {
    env: Options.choice("env", environments).pipe(Options.optional, Options.withDescription("Check only this environment (its URL must then be set)")),
    connect: Options.boolean("connect").pipe(Options.withDescription("Also connect to each environment whose URL is set (exit 3 if one cannot be reached)")),
    json: jsonOption
  },
  (options) =>
    Effect.gen(function*() {
      const config = yield* loadConfig // an invalid file or variable fails here, naming the field (exit 2)
      const names: ReadonlyArray<Environment> = Option.isSome(options.env) ? [options.env.value] : environments
      const results: Array<{ environment: Environment; target: string; status: "ok" | "warn"; detail: string }> = []
      for (const name of names) {
        const settings = Option.isSome(options.env) ? yield* settingsFor(config, name) : config.environments[name]
        if (Option.isNone(settings.url)) {
          const embedded = name === "development" || name === "test"
          results.push({ environment: name, target: settings.target, status: embedded ? "ok" : "warn", detail: embedded ? `${settings.urlEnv} not set: the embedded database` : `${settings.urlEnv} is not set` })
          continue
        }
        if (!options.connect) {
          results.push({ environment: name, target: settings.target, status: "ok", detail: `URL from ${settings.urlSource.replace(/^env:/, "")}` })
          continue
        }
        const version = yield* Effect.scoped(
          Effect.flatMap(Layer.build(PgLive({ url: settings.url.value, poolSize: 1, connectTimeout: "5 seconds" })), (context) =>
            Effect.map(
              Effect.provide(SqlClient.SqlClient.pipe(Effect.flatMap((sql) => sql<{ v: string }>`SELECT current_setting('server_version') AS v`)), context),
              (rows) => rows[0]?.v ?? "?"
            ))
        )
        results.push({ environment: name, target: settings.target, status: "ok", detail: `reachable (PostgreSQL ${version})` })
      }
      if (options.json) return yield* json({ file: config.file, environments: results })
      yield* Console.log(`config: ${config.file ?? "(no dbkit.config.* found: defaults)"} is valid`)
      for (const r of results) yield* Console.log(`  ${r.status === "ok" ? "✓" : "!"} ${r.environment.padEnd(11)} ${r.target}  ${r.detail}`)
    })
).pipe(Command.withDescription("Validate dbkit.config.ts and the DBKIT_<ENV>_* variables (exit 2 naming the bad field); --connect also reaches each database (exit 3 when one cannot be reached)"))

const fromOption = Options.choice("from", environments).pipe(Options.withDescription("The environment whose applied migrations are the reference (e.g. staging)"))
const toOption = Options.choice("to", environments).pipe(Options.withDescription("The environment to compare or promote (e.g. production)"))

/** Both environments' states, compared. */
const compare = (from: Environment, to: Environment, schema: boolean) =>
  Effect.gen(function*() {
    const config = yield* loadConfig
    const fromSettings = yield* settingsFor(config, from)
    const toSettings = yield* settingsFor(config, to)
    const [fromState, toState] = yield* Effect.all([
      readState({ schema }).pipe(Effect.provide(environmentLive(fromSettings, config))),
      readState({ schema }).pipe(Effect.provide(environmentLive(toSettings, config)))
    ])
    return { config, toSettings, diff: compareStates({ from, to }, fromState, toState) }
  })

const printDiff = (diff: EnvironmentDiff) =>
  Effect.gen(function*() {
    yield* Console.log(`${diff.from.environment} (${diff.from.target}): head ${diff.from.head ?? "(none)"}`)
    yield* Console.log(`${diff.to.environment} (${diff.to.target}): head ${diff.to.head ?? "(none)"}`)
    if (diff.toApply.length === 0) yield* Console.log(`${diff.to.environment} has every migration ${diff.from.environment} has: nothing to promote`)
    else {
      yield* Console.log(`promotion would apply ${diff.toApply.length} migration(s) to ${diff.to.environment}:`)
      for (const name of diff.toApply) yield* Console.log(`  + ${name}`)
    }
    for (const problem of diff.problems) yield* Console.log(`  ! ${problem}`)
    if (diff.schema !== null) {
      yield* Console.log(diff.schema.length === 0 ? "schemas: identical" : `schemas: ${diff.schema.length} difference(s) (migrations of ${diff.from.environment} = expected):`)
      for (const d of diff.schema) yield* Console.log(`  ${Catalog.formatDifference(d)}`)
    }
  })

const diff = Command.make(
  "diff",
  { from: fromOption, to: toOption, schema: Options.boolean("schema").pipe(Options.withDescription("Also compare the two catalogs (tables, columns, indexes, policies, …)")), json: jsonOption },
  (options) =>
    Effect.gen(function*() {
      const { diff: result } = yield* compare(options.from, options.to, options.schema)
      if (options.json) return yield* json(result)
      yield* printDiff(result)
    })
).pipe(Command.withDescription("Compare two environments' applied migrations (names and checksums) and, with --schema, their catalogs; print what `env promote` would apply"))

const promote = Command.make(
  "promote",
  {
    from: fromOption,
    to: toOption,
    yes: yesOption,
    dryRun: Options.boolean("dry-run").pipe(Options.withDescription("Show the promotion and run the target's preflight only")),
    skipDrift: Options.boolean("skip-drift").pipe(Options.withDescription("Skip the target's drift check")),
    terminateConnections: Options.boolean("terminate-connections").pipe(Options.withDescription("If recovery restores the safety backup, disconnect other sessions")),
    json: jsonOption
  },
  (options) =>
    Effect.gen(function*() {
      const { config, diff: result, toSettings } = yield* compare(options.from, options.to, false)
      if (result.problems.length > 0) {
        if (options.json) yield* json(result)
        else yield* printDiff(result)
        return yield* exitWith(DeployExit.promotionBlocked)(new PromotionBlocked({ from: options.from, to: options.to, problems: result.problems }))
      }
      if (result.toApply.length === 0 || result.until === null) {
        if (options.json) return yield* json(result)
        return yield* printDiff(result)
      }
      if (!options.json) yield* printDiff(result)
      yield* runDeploy(toSettings, config, {
        action: `env promote ${options.from} → ${options.to}`,
        to: result.until,
        promotion: { from: options.from, migrations: result.toApply },
        dryRun: options.dryRun,
        yes: options.yes,
        skipDrift: options.skipDrift,
        terminateConnections: options.terminateConnections,
        json: options.json
      })
    })
).pipe(Command.withDescription(
  "Apply to --to exactly the migrations --from has and it lacks (up to --from's last one), through the deploy gate: preflight, safety backup, migrate, health, recovery, recorded in dbkit.deployments. " +
    "Guarded like deploy (DB_DEPLOY_CONFIRM=1 / --yes; production also DB_DEPLOY_ALLOW_PRODUCTION=1). Refused (exit 7) when --to has migrations --from lacks, checksums differ, or something else would be applied"
))

export const env = Command.make("env").pipe(
  Command.withDescription("The environments in dbkit.config.ts: list, check, diff and promote between them"),
  Command.withSubcommands([list, check, diff, promote])
)
