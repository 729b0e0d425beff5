/** Resolving one environment: the defaults, then the file, then its DBKIT_<ENV>_* variables. */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as path from "node:path"
import { type Environment, InvalidConfig, validateDatabaseUrl } from "./Config.js"
import { describeUrl } from "./Database.js"
import { EnvironmentInput, firstIssue, invalid } from "./ProjectConfigSchema.js"
import { defaults, type EnvironmentSettings, type Source } from "./ProjectConfigSettings.js"
import type { Thresholds } from "./Thresholds.js"

/** A URL written in the file must carry no password; variables are for secrets. */
const checkFileUrl = (file: string, name: Environment, url: string) =>
  Effect.gen(function*() {
    const field = `environments.${name}.url`
    let parsed: URL
    try {
      parsed = new URL(url)
    } catch {
      return yield* invalid(file, field, "is not a valid URL")
    }
    if (parsed.password !== "") {
      return yield* invalid(
        file,
        field,
        `contains a password; secrets never go in the config file: put the URL in a variable (e.g. ${name.toUpperCase()}_DATABASE_URL) and name it with urlEnv`
      )
    }
    return yield* validateDatabaseUrl(Redacted.make(url), `${path.basename(file)}: ${field}`)
  })

const variablePrefix = (name: Environment) => `DBKIT_${name.toUpperCase()}_`

/** Overrides for one environment from DBKIT_<ENV>_* variables, decoded with the file's schema. */
const overridesFor = (name: Environment, env: NodeJS.ProcessEnv) =>
  Effect.gen(function*() {
    const prefix = variablePrefix(name)
    const read = (suffix: string) => {
      const value = env[`${prefix}${suffix}`]
      return value === undefined || value.trim() === "" ? undefined : value.trim()
    }
    const number = (suffix: string) => {
      const value = read(suffix)
      return value === undefined ? undefined : Number(value)
    }
    const fields: Array<[string, string, unknown]> = [
      ["urlEnv", "URL_ENV", read("URL_ENV")],
      ["lint", "LINT", read("LINT")],
      ["seedProfile", "SEED_PROFILE", read("SEED_PROFILE")],
      ["lockTimeout", "LOCK_TIMEOUT", read("LOCK_TIMEOUT")],
      ["statementTimeout", "STATEMENT_TIMEOUT", read("STATEMENT_TIMEOUT")],
      ["confirm", "CONFIRM_DEPLOYS", read("CONFIRM_DEPLOYS")],
      ["keepLast", "BACKUP_KEEP_LAST", number("BACKUP_KEEP_LAST")],
      ["keepDays", "BACKUP_KEEP_DAYS", number("BACKUP_KEEP_DAYS")]
    ]
    const set = fields.filter(([, , value]) => value !== undefined)
    const sources: Record<string, Source> = {}
    const input: Record<string, unknown> = {}
    for (const [field, suffix, value] of set) {
      sources[field] = `env:${prefix}${suffix}`
      if (field === "confirm") input.guards = { confirm: ["1", "true", "yes"].includes(String(value).toLowerCase()) }
      else if (field === "keepLast" || field === "keepDays") {
        input.backupRetention = { ...(input.backupRetention as object | undefined), [field]: value }
      } else input[field] = value
    }
    const decoded = Schema.decodeUnknownEither(EnvironmentInput, { onExcessProperty: "error" })(input)
    if (Either.isLeft(decoded)) {
      const { field, reason } = firstIssue(decoded.left)
      const variable = set.find(([f]) => field.startsWith(f === "keepLast" || f === "keepDays" ? "backupRetention" : f))
      return yield* new InvalidConfig({ variable: variable ? `${prefix}${variable[1]}` : `${prefix}*`, reason })
    }
    return { input: decoded.right, sources }
  })

/** Resolves one environment: defaults, then the file, then its variables; finds its URL. */
export const resolveEnvironment = (
  file: string | null,
  name: Environment,
  fromFile: EnvironmentInput | undefined,
  env: NodeJS.ProcessEnv,
  backupDir: string
): Effect.Effect<EnvironmentSettings, InvalidConfig> =>
  Effect.gen(function*() {
    const base = defaults[name]
    const overrides = yield* overridesFor(name, env)
    const sources: Record<string, Source> = {}
    const pick = <K extends keyof EnvironmentInput>(key: K): EnvironmentInput[K] | undefined => {
      const fromEnv = overrides.input[key]
      if (fromEnv !== undefined) {
        sources[key] = overrides.sources[key] ??
          overrides.sources[key === "backupRetention" ? "keepLast" : "confirm"] ?? "default"
        return fromEnv as EnvironmentInput[K]
      }
      if (fromFile?.[key] !== undefined) {
        sources[key] = "file"
        return fromFile[key]
      }
      sources[key] = "default"
      return undefined
    }
    if (file !== null && fromFile?.url !== undefined) yield* checkFileUrl(file, name, fromFile.url)
    if (fromFile?.url !== undefined && fromFile.urlEnv !== undefined && file !== null) {
      return yield* invalid(file, `environments.${name}`, "give url or urlEnv, not both")
    }
    const urlEnv = pick("urlEnv") ?? (name === "development" ? "DATABASE_URL" : `${name.toUpperCase()}_DATABASE_URL`)
    const seedProfile = pick("seedProfile") ?? base.seedProfile
    if (name === "production" && seedProfile !== "reference") {
      return yield* new InvalidConfig({
        variable: sources.seedProfile === "file" && file
          ? `${path.basename(file)}: environments.production.seedProfile`
          : String(sources.seedProfile),
        reason: `production takes reference seeds only, not "${seedProfile}"`
      })
    }
    const guards = pick("guards")
    const confirm = name === "production" ? true : guards?.confirm ?? base.confirm
    const lockTimeout = pick("lockTimeout")
    const statementTimeout = pick("statementTimeout")
    const retention = pick("backupRetention")
    const health = pick("health")
    const pitr = pick("pitr")
    const fromConfig = (dir: string | undefined) =>
      dir === undefined ? undefined : path.resolve(file === null ? "." : path.dirname(file), dir)

    // The URL: the named variable; for the current DB_ENV also DATABASE_URL; else the file's url.
    const current = (env.DB_ENV ?? env.NODE_ENV ?? "development").trim().toLowerCase() === name
    const candidates: Array<[string, string | undefined]> = [[urlEnv, env[urlEnv]]]
    if (current && urlEnv !== "DATABASE_URL") candidates.push(["DATABASE_URL", env.DATABASE_URL])
    const fromVariable = candidates.find(([, value]) => value !== undefined && value.trim() !== "")
    let url: Option.Option<Redacted.Redacted<string>> = Option.none()
    let urlSource: EnvironmentSettings["urlSource"] = "unset"
    if (fromVariable) {
      url = Option.some(yield* validateDatabaseUrl(Redacted.make(fromVariable[1]!.trim()), fromVariable[0]))
      urlSource = `env:${fromVariable[0]}`
    } else if (fromFile?.url !== undefined) {
      url = Option.some(Redacted.make(fromFile.url))
      urlSource = "file"
    }
    const target = Option.match(url, {
      onSome: (u) => describeUrl(u).target,
      onNone: () => (name === "development" || name === "test" ? "embedded" : `(${urlEnv} not set)`)
    })
    return {
      name,
      urlEnv,
      url,
      urlSource,
      target,
      confirm,
      seedProfile,
      lint: pick("lint") ?? base.lint,
      lockTimeout: lockTimeout === undefined
        ? Duration.seconds(5)
        : Option.getOrThrow(Duration.decodeUnknown(lockTimeout)),
      statementTimeout: statementTimeout === undefined ? Option.none() : Duration.decodeUnknown(statementTimeout),
      backupRetention: retention ?? base.backupRetention,
      health: { failOn: health?.failOn ?? "critical", thresholds: (health?.thresholds ?? {}) as Partial<Thresholds> },
      jobs: fromFile?.jobs ?? {},
      pitr: pitr === undefined ? undefined : {
        ...pitr,
        configFile: fromConfig(pitr.configFile),
        repoPath: fromConfig(pitr.repoPath),
        binDir: fromConfig(pitr.binDir)
      },
      backupDir: path.join(backupDir, name),
      sources
    } satisfies EnvironmentSettings
  })
