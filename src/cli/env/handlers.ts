/**
 * Handlers of `dbkit env list | check | diff | promote` (definitions in index.ts).
 */
import * as SqlClient from "@effect/sql/SqlClient"
import * as Console from "effect/Console"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as path from "node:path"
import { type Environment, environments } from "../../Config.js"
import { PgLive } from "../../Database.js"
import { PromotionBlocked } from "../../deploy/errors.js"
import { compareStates, type EnvironmentDiff, readState } from "../../deploy/promote.js"
import { envFiles, sourceOf } from "../../EnvFiles.js"
import * as Catalog from "../../migrator/catalog.js"
import type * as DeployConfig from "../../ProjectConfig.js"
import { runDeploy } from "../deploy/handlers.js"
import { environmentLive, loadConfig, settingsFor } from "../deploy/live.js"
import type { Parsed } from "../options.js"
import { json, table } from "../render.js"
import { plural } from "../shared.js"
import type { checkConfig, diffConfig, listConfig, promoteConfig } from "./index.js"

/** An environment's settings without its URL: what `env list` shows and `--json` prints. */
const describe = (e: DeployConfig.EnvironmentSettings) => ({
  name: e.name,
  target: e.target,
  urlEnv: e.urlEnv,
  url: e.urlSource,
  /** Where the URL's variable got its value: the shell, a .env file, or nowhere. */
  urlFrom: e.urlSource.startsWith("env:") ? sourceOf(e.urlSource.slice(4)) ?? null : null,
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

/** `dbkit env list`. */
export const list = (options: Parsed<typeof listConfig>) =>
  Effect.gen(function*() {
    const config = yield* loadConfig
    const rows = environments.map((name) => describe(config.environments[name]))
    const files = envFiles()
    const here = (file: string) => path.relative(process.cwd(), file) || file
    // What the project declares besides its environments (module paths, never their contents).
    const declared = {
      seeds: config.seeds.map(here),
      privacy: config.privacy === null ? null : here(config.privacy),
      relationships: config.relationships.length,
      retention: config.retention.length,
      tenancy: {
        strategy: config.tenancy.strategy,
        tenantTable: config.tenancy.tenantTable ?? null,
        migrationsDir: here(config.tenancy.migrationsDir),
        shards: config.tenancy.shards === undefined
          ? 0
          : typeof config.tenancy.shards === "string"
          ? here(config.tenancy.shards)
          : Object.keys(config.tenancy.shards).length
      },
      cachePrefix: config.cachePrefix
    }
    if (options.json) {
      return yield* json({
        file: config.file,
        migrationsDir: config.migrationsDir,
        backupDir: config.backupDir,
        project: declared,
        envFiles: files.files,
        variablesFromFiles: files.fromFiles,
        environments: rows
      })
    }
    yield* Console.log(
      `config: ${config.file ?? "(no dbkit.config.* found: defaults)"}; migrations ${config.migrationsDir}`
    )
    yield* Console.log(
      `project: seeds ${declared.seeds.join(", ") || "none"}; privacy ${declared.privacy ?? "none"}; ` +
        `${plural(declared.relationships, "relationship")}, ${plural(declared.retention, "retention rule")}; ` +
        `tenancy ${declared.tenancy.strategy}${
          declared.tenancy.tenantTable === null ? "" : ` (${declared.tenancy.tenantTable})`
        }; ` +
        `cache prefix ${declared.cachePrefix ?? "none"}`
    )
    if (files.files.length > 0) {
      // Names only: values (URLs with passwords) are never printed.
      const byFile = files.files.map((file) => {
        const names = Object.entries(files.fromFiles).filter(([, from]) => from === file).map(([name]) => name).sort()
        return `${file}: ${names.length === 0 ? "nothing the shell did not already set" : names.join(", ")}`
      })
      yield* Console.log(`variables read from ${byFile.join("; ")} (the shell's own win)`)
    }
    yield* Console.log(table(
      [
        "environment",
        "target",
        "url from",
        "confirm",
        "lint",
        "seeds",
        "lock timeout",
        "statement timeout",
        "keep backups"
      ],
      rows.map((r) => [
        r.name,
        r.target,
        r.url === "unset"
          ? `${r.urlEnv} (not set)`
          : `${r.url.replace(/^env:/, "")}${r.urlFrom !== null && r.urlFrom !== "shell" ? ` (${r.urlFrom})` : ""}`,
        r.confirm ? "yes" : "no",
        r.lint,
        r.seedProfile,
        r.lockTimeout,
        r.statementTimeout,
        [
          r.backupRetention.keepLast !== undefined ? `last ${r.backupRetention.keepLast}` : "",
          r.backupRetention.keepDays !== undefined ? `${r.backupRetention.keepDays} days` : ""
        ].filter(Boolean).join(", ") || "all"
      ])
    ))
  })

/** `dbkit env check`. */
export const check = (options: Parsed<typeof checkConfig>) =>
  Effect.gen(function*() {
    const config = yield* loadConfig // an invalid file or variable fails here, naming the field (exit 2)
    const names: ReadonlyArray<Environment> = Option.isSome(options.env) ? [options.env.value] : environments
    const results: Array<{ environment: Environment; target: string; status: "ok" | "warn"; detail: string }> = []
    for (const name of names) {
      const settings = Option.isSome(options.env) ? yield* settingsFor(config, name) : config.environments[name]
      if (Option.isNone(settings.url)) {
        const embedded = name === "development" || name === "test"
        results.push({
          environment: name,
          target: settings.target,
          status: embedded ? "ok" : "warn",
          detail: embedded ? `${settings.urlEnv} not set: the embedded database` : `${settings.urlEnv} is not set`
        })
        continue
      }
      if (!options.connect) {
        results.push({
          environment: name,
          target: settings.target,
          status: "ok",
          detail: `URL from ${settings.urlSource.replace(/^env:/, "")}`
        })
        continue
      }
      const version = yield* Effect.scoped(
        Effect.flatMap(
          Layer.build(PgLive({ url: settings.url.value, poolSize: 1, connectTimeout: "5 seconds" })),
          (context) =>
            Effect.map(
              Effect.provide(
                SqlClient.SqlClient.pipe(
                  Effect.flatMap((sql) => sql<{ v: string }>`SELECT current_setting('server_version') AS v`)
                ),
                context
              ),
              (rows) => rows[0]?.v ?? "?"
            )
        )
      )
      results.push({
        environment: name,
        target: settings.target,
        status: "ok",
        detail: `reachable (PostgreSQL ${version})`
      })
    }
    if (options.json) return yield* json({ file: config.file, environments: results })
    yield* Console.log(`config: ${config.file ?? "(no dbkit.config.* found: defaults)"} is valid`)
    for (const r of results) {
      yield* Console.log(`  ${r.status === "ok" ? "✓" : "!"} ${r.environment.padEnd(11)} ${r.target}  ${r.detail}`)
    }
  })

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
    if (diff.toApply.length === 0) {
      yield* Console.log(`${diff.to.environment} has every migration ${diff.from.environment} has: nothing to promote`)
    } else {
      yield* Console.log(`promotion would apply ${diff.toApply.length} migration(s) to ${diff.to.environment}:`)
      for (const name of diff.toApply) yield* Console.log(`  + ${name}`)
    }
    for (const problem of diff.problems) yield* Console.log(`  ! ${problem}`)
    if (diff.schema !== null) {
      yield* Console.log(
        diff.schema.length === 0
          ? "schemas: identical"
          : `schemas: ${diff.schema.length} difference(s) (migrations of ${diff.from.environment} = expected):`
      )
      for (const d of diff.schema) yield* Console.log(`  ${Catalog.formatDifference(d)}`)
    }
  })

/** `dbkit env diff`. */
export const diff = (options: Parsed<typeof diffConfig>) =>
  Effect.gen(function*() {
    const { diff: result } = yield* compare(options.from, options.to, options.schema)
    if (options.json) return yield* json(result)
    yield* printDiff(result)
  })

/** `dbkit env promote`. */
export const promote = (options: Parsed<typeof promoteConfig>) =>
  Effect.gen(function*() {
    const { config, diff: result, toSettings } = yield* compare(options.from, options.to, false)
    if (result.problems.length > 0) {
      if (options.json) yield* json(result)
      else yield* printDiff(result)
      return yield* new PromotionBlocked({ from: options.from, to: options.to, problems: result.problems })
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
