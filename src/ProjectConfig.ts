/**
 * The deploy configuration: environments described once in `dbkit.config.ts` (or `.mts`, `.mjs`,
 * `.js`, `.json`; `DBKIT_CONFIG` names another file), validated with effect/Schema, with
 * per-environment variables on top (`DBKIT_<ENV>_LINT=strict`, …).
 *
 * Secrets never live in the file: each environment names the variable that holds its URL
 * (`urlEnv`); a `url` with a password in it is refused. A TypeScript file is transpiled with
 * esbuild (Node 20 cannot import TypeScript) and evaluated as CommonJS; imports of `dbkit`
 * resolve to a stub with `defineConfig`, everything else is required from the file's folder.
 */
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as fs from "node:fs"
import * as path from "node:path"
import { type Environment, environments, InvalidConfig, parseEnvironment } from "./Config.js"
import { evaluateModule, firstLine } from "./ProjectConfigModule.js"
import { resolveEnvironment } from "./ProjectConfigResolve.js"
import { ConfigInput, firstIssue, invalid } from "./ProjectConfigSchema.js"
import {
  configFileNames,
  type DeployConfig,
  type EnvironmentSettings,
  type TenancySettings
} from "./ProjectConfigSettings.js"
export { type DbkitImport, evaluateModule } from "./ProjectConfigModule.js"
export { ConfigInput, defineConfig, EnvironmentInput } from "./ProjectConfigSchema.js"
export {
  configFileNames,
  type DeployConfig,
  type EnvironmentSettings,
  type Source,
  type TenancySettings
} from "./ProjectConfigSettings.js"

/** The config file to read: DBKIT_CONFIG, else the first dbkit.config.* in `cwd`, else none. */
export const findConfigFile = (cwd: string, env: NodeJS.ProcessEnv): Effect.Effect<string | null, InvalidConfig> =>
  Effect.suspend(() => {
    const named = env.DBKIT_CONFIG?.trim()
    if (named) {
      const file = path.resolve(cwd, named)
      return fs.existsSync(file)
        ? Effect.succeed(file)
        : Effect.fail(new InvalidConfig({ variable: "DBKIT_CONFIG", reason: `names ${named}, which does not exist` }))
    }
    const found = configFileNames.map((name) => path.join(cwd, name)).find((file) => fs.existsSync(file))
    return Effect.succeed(found ?? null)
  })

/** Reads the raw value of a config file (any of the accepted formats). */
export const readConfigFile = (file: string): Effect.Effect<unknown, InvalidConfig> =>
  file.endsWith(".json")
    ? Effect.try({
      try: () => JSON.parse(fs.readFileSync(file, "utf8")) as unknown,
      catch: (cause) => invalid(file, "", `is not valid JSON: ${firstLine(cause)}`)
    })
    : evaluateModule(file)

/** Decodes a config value; the error names the first wrong field. */
export const decode = (file: string, raw: unknown): Effect.Effect<ConfigInput, InvalidConfig> => {
  const decoded = Schema.decodeUnknownEither(ConfigInput, { onExcessProperty: "error", errors: "all" })(raw)
  if (Either.isLeft(decoded)) {
    const { field, reason } = firstIssue(decoded.left)
    return Effect.fail(invalid(file, field, reason))
  }
  return Effect.succeed(decoded.right)
}

/**
 * Reads the deploy configuration: the file (if any), then the variables. `cwd` is where
 * dbkit.config.* is looked for and what relative directories are resolved against.
 */
export const load = (
  options: { readonly cwd?: string | undefined; readonly env?: NodeJS.ProcessEnv | undefined } = {}
): Effect.Effect<DeployConfig, InvalidConfig> =>
  Effect.gen(function*() {
    const cwd = options.cwd ?? process.cwd()
    const env = options.env ?? process.env
    const file = yield* findConfigFile(cwd, env)
    const input: ConfigInput = file === null
      ? {}
      : yield* Effect.flatMap(readConfigFile(file), (raw) => decode(file, raw))
    const fileDir = file === null ? cwd : path.dirname(file)
    const dir = (variable: string, fromFile: string | undefined, fallback: string) =>
      env[variable]?.trim()
        ? path.resolve(cwd, env[variable]!.trim())
        : fromFile !== undefined
        ? path.resolve(fileDir, fromFile)
        : path.resolve(cwd, fallback)
    const migrationsDir = dir("DBKIT_MIGRATIONS_DIR", input.migrationsDir, "migrations")
    const backupDir = dir("DBKIT_BACKUP_DIR", input.backupDir, "backups")
    const resolved = yield* Effect.forEach(environments, (name) =>
      resolveEnvironment(file, name, input.environments?.[name], env, backupDir))
    const variable = (name: string) =>
      env[name]?.trim() || undefined
    /** A module the file names must exist, or the error names the file and the field. */
    const moduleFile = (field: string, named: string, fromVariable?: string) =>
      Effect.suspend(() => {
        const resolved = fromVariable !== undefined ? path.resolve(cwd, named) : path.resolve(fileDir, named)
        if (fs.existsSync(resolved)) return Effect.succeed(resolved)
        return Effect.fail(
          fromVariable !== undefined || file === null
            ? new InvalidConfig({ variable: fromVariable ?? field, reason: `names ${named}, which does not exist` })
            : invalid(file, field, `names ${named}, which does not exist`)
        )
      })
    const seedList = input.seeds === undefined ? [] : typeof input.seeds === "string" ? [input.seeds] : input.seeds
    const seeds = yield* Effect.forEach(seedList, (named, i) =>
      moduleFile(seedList.length > 1 ? `seeds.${i}` : "seeds", named))
    const privacyVariable = variable("DBKIT_PRIVACY_MAP")
    const privacy = privacyVariable !== undefined
      ? yield* moduleFile("privacy", privacyVariable, "DBKIT_PRIVACY_MAP")
      : input.privacy !== undefined
      ? yield* moduleFile("privacy", input.privacy)
      : null
    const tenancyInput = input.tenancy
    const strategyVariable = variable("DBKIT_TENANCY")
    if (strategyVariable !== undefined && strategyVariable !== "rls" && strategyVariable !== "schema") {
      return yield* new InvalidConfig({
        variable: "DBKIT_TENANCY",
        reason: `is "${strategyVariable}"; expected rls or schema`
      })
    }
    const shardsVariable = variable("DBKIT_TENANT_SHARDS")
    const tenancy: TenancySettings = {
      declared: tenancyInput !== undefined,
      strategy: (strategyVariable as "rls" | "schema" | undefined) ?? tenancyInput?.strategy ?? "rls",
      tenantTable: variable("DBKIT_TENANT_TABLE") ?? tenancyInput?.tenantTable,
      migrationsDir: dir("DBKIT_TENANT_MIGRATIONS_DIR", tenancyInput?.migrationsDir, "migrations/tenant"),
      shards: shardsVariable !== undefined
        ? path.resolve(cwd, shardsVariable)
        : typeof tenancyInput?.shards === "string"
        ? yield* moduleFile("tenancy.shards", tenancyInput.shards)
        : tenancyInput?.shards,
      setting: tenancyInput?.setting,
      role: tenancyInput?.role
    }
    return {
      file,
      migrationsDir,
      backupDir,
      seeds,
      privacy,
      relationships: input.integrity?.relationships ?? [],
      retention: input.retention ?? [],
      tenancy,
      cachePrefix: variable("DB_CACHE_PREFIX") ?? input.cache?.prefix ?? null,
      environments: Object.fromEntries(resolved.map((e) => [e.name, e])) as Record<Environment, EnvironmentSettings>
    }
  })

/** The environment named by DB_ENV, else NODE_ENV, else development. */
export const currentEnvironment = (env: NodeJS.ProcessEnv = process.env): Effect.Effect<Environment, InvalidConfig> => {
  const [variable, value] = env.DB_ENV !== undefined
    ? ["DB_ENV", env.DB_ENV]
    : env.NODE_ENV !== undefined
    ? ["NODE_ENV", env.NODE_ENV]
    : ["default", "development"]
  return Either.match(parseEnvironment(value), {
    onLeft: (reason) => Effect.fail(new InvalidConfig({ variable, reason })),
    onRight: Effect.succeed
  })
}

/** An environment's settings, or a typed error when it cannot be deployed to (no URL). */
export const requireUrl = (settings: EnvironmentSettings): Effect.Effect<EnvironmentSettings, InvalidConfig> =>
  Option.isNone(settings.url) && settings.name !== "development" && settings.name !== "test"
    ? Effect.fail(
      new InvalidConfig({
        variable: settings.urlEnv,
        reason: `is not set; it holds the ${settings.name} database's URL`
      })
    )
    : Effect.succeed(settings)
