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
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import { createRequire } from "node:module"
import * as path from "node:path"
import { type Environment, environments, InvalidConfig, parseEnvironment, validateDatabaseUrl } from "./Config.js"
import { describeUrl } from "./Database.js"
import { makeDirectories } from "./Directories.js"
import { thresholdNames, type Thresholds } from "./Thresholds.js"

const DurationInput = Schema.Union(Schema.Number, Schema.String).pipe(
  Schema.filter((value) => Option.isSome(Duration.decodeUnknown(value)), {
    message: () => `expected a duration such as "5 seconds", "500 millis" or a number of milliseconds`
  })
)

const VariableName = Schema.String.pipe(
  Schema.pattern(/^[A-Za-z_][A-Za-z0-9_]*$/, {
    message: () => "expected an environment variable name such as STAGING_DATABASE_URL"
  })
)

const Lint = Schema.Literal("strict", "warn", "off")
const SeedProfile = Schema.Literal("reference", "development", "test")

const HealthThresholds = Schema.Struct(
  Object.fromEntries(thresholdNames.map((name) => [name, Schema.optional(Schema.Number)])) as Record<
    keyof Thresholds,
    Schema.optional<typeof Schema.Number>
  >
)

/** One environment, as written in the file. Every field is optional. */
export const EnvironmentInput = Schema.Struct({
  /** The variable holding this environment's URL (default DATABASE_URL for development, else <ENV>_DATABASE_URL). */
  urlEnv: Schema.optional(VariableName),
  /** A URL without a password (a local socket, a trust or certificate login). Prefer `urlEnv`. */
  url: Schema.optional(Schema.String),
  /** `confirm`: deploys and promotions into it need DB_DEPLOY_CONFIRM=1 / --yes (always on in production). */
  guards: Schema.optional(Schema.Struct({ confirm: Schema.optional(Schema.Boolean) })),
  /** Which seeds belong here (production: reference only). */
  seedProfile: Schema.optional(SeedProfile),
  /** `strict`: a deploy runs `migrate plan --strict` and stops on risky statements; `warn` reports them. */
  lint: Schema.optional(Lint),
  /** `lock_timeout` for each migration. */
  lockTimeout: Schema.optional(DurationInput),
  /** `statement_timeout` for each migration (default none). */
  statementTimeout: Schema.optional(DurationInput),
  /** Which safety backups a successful deploy keeps (the newest verified one always stays). */
  backupRetention: Schema.optional(Schema.Struct({
    keepLast: Schema.optional(Schema.Int.pipe(Schema.greaterThanOrEqualTo(1))),
    keepDays: Schema.optional(Schema.Number.pipe(Schema.greaterThanOrEqualTo(0)))
  })),
  /** The post-deploy health check: which verdict fails the deploy, and threshold overrides. */
  health: Schema.optional(Schema.Struct({
    failOn: Schema.optional(Schema.Literal("critical", "warn")),
    thresholds: Schema.optional(HealthThresholds)
  }))
})
export type EnvironmentInput = typeof EnvironmentInput.Encoded

const NonEmpty = Schema.String.pipe(Schema.minLength(1, { message: () => "must not be empty" }))

/** A module of the project, relative to the config file's folder. */
const ModulePath = NonEmpty.pipe(
  Schema.pattern(/\.(ts|mts|cts|js|mjs|cjs|json)$/, { message: () => "expected a module file such as \"db/seeds.ts\"" })
)

/** A relationship the schema does not enforce with a foreign key (`db validate` checks it). */
const RelationshipInput = Schema.Struct({
  table: NonEmpty,
  column: NonEmpty,
  references: NonEmpty.pipe(
    Schema.pattern(/^[^.\s]+(\.[^.\s]+){1,2}$/, { message: () => "expected table.column or schema.table.column" })
  ),
  where: Schema.optional(Schema.String)
})

/** A retention rule (`db cleanup` applies it). */
const RetentionInput = Schema.Struct({
  name: Schema.optional(NonEmpty),
  table: NonEmpty,
  timestampColumn: NonEmpty,
  keep: DurationInput,
  tenantScoped: Schema.optional(Schema.Boolean),
  where: Schema.optional(Schema.String)
})

const ShardInput = Schema.Union(Schema.Struct({ url: NonEmpty }), Schema.Struct({ urlEnv: VariableName }))

/** How tenants are isolated, and where their migrations and shards are. */
const TenancyInput = Schema.Struct({
  strategy: Schema.Literal("rls", "schema"),
  /** The application's own tenants table (id uuid, slug, name), kept in step, e.g. organizations. */
  tenantTable: Schema.optional(NonEmpty),
  /** The schema strategy's tenant migrations (default migrations/tenant). */
  migrationsDir: Schema.optional(NonEmpty),
  /** Other shards: a JSON shard file, or the shards themselves. */
  shards: Schema.optional(Schema.Union(NonEmpty, Schema.Record({ key: Schema.String, value: ShardInput }))),
  /** The setting the RLS policies read (default app.tenant_id). */
  setting: Schema.optional(NonEmpty),
  /** A role withTenant switches to for the transaction. */
  role: Schema.optional(NonEmpty)
})

/** The whole file. */
export const ConfigInput = Schema.Struct({
  migrationsDir: Schema.optional(Schema.String),
  backupDir: Schema.optional(Schema.String),
  /** The project's seeds: module(s) exporting `Seeder.make(…)` seeds (default export: an array). */
  seeds: Schema.optional(Schema.Union(ModulePath, Schema.Array(ModulePath))),
  /** The project's personal-data map: a module whose default export is `definePrivacy(…)`. */
  privacy: Schema.optional(ModulePath),
  /** Relationships without a foreign key, for `db validate`. */
  integrity: Schema.optional(Schema.Struct({ relationships: Schema.optional(Schema.Array(RelationshipInput)) })),
  /** Retention rules, for `db cleanup`. */
  retention: Schema.optional(Schema.Array(RetentionInput)),
  tenancy: Schema.optional(TenancyInput),
  /** The application's Redis cache, for `reset --with-cache`: the key prefix its keys start with. */
  cache: Schema.optional(Schema.Struct({ prefix: Schema.optional(NonEmpty) })),
  environments: Schema.optional(Schema.Struct({
    development: Schema.optional(EnvironmentInput),
    test: Schema.optional(EnvironmentInput),
    staging: Schema.optional(EnvironmentInput),
    production: Schema.optional(EnvironmentInput)
  }))
})
export type ConfigInput = typeof ConfigInput.Encoded

/** Types a `dbkit.config.ts` (`export default defineConfig({ environments: { … } })`); returns it unchanged. */
export const defineConfig = (config: ConfigInput): ConfigInput => config

/** Where a setting came from, for `env list`. */
export type Source = "default" | "file" | `env:${string}`

/** One environment, resolved: file, then variables, over the defaults. */
export interface EnvironmentSettings {
  readonly name: Environment
  readonly urlEnv: string
  /** The URL to connect with; `None` for the embedded database (development and test only) or when unset. */
  readonly url: Option.Option<Redacted.Redacted<string>>
  /** Where the URL came from: the variable that held it, the file, or nothing. */
  readonly urlSource: "unset" | "file" | `env:${string}`
  /** `user@host:port/db` (never a password), or "embedded", or "(STAGING_DATABASE_URL not set)". */
  readonly target: string
  readonly confirm: boolean
  readonly seedProfile: "reference" | "development" | "test"
  readonly lint: "strict" | "warn" | "off"
  readonly lockTimeout: Duration.Duration
  readonly statementTimeout: Option.Option<Duration.Duration>
  readonly backupRetention: { readonly keepLast?: number | undefined; readonly keepDays?: number | undefined }
  readonly health: { readonly failOn: "critical" | "warn"; readonly thresholds: Partial<Thresholds> }
  /** Safety backups of this environment go here (`<backupDir>/<name>`), so retention never touches another's. */
  readonly backupDir: string
  readonly sources: Readonly<Record<string, Source>>
}

/** The project's tenancy, resolved (DBKIT_TENANCY, DBKIT_TENANT_* override the file). */
export interface TenancySettings {
  /** Whether the file declares tenancy (else the defaults: rls). */
  readonly declared: boolean
  readonly strategy: "rls" | "schema"
  readonly tenantTable: string | undefined
  /** Absolute; the schema strategy's tenant migrations. */
  readonly migrationsDir: string
  /** A shard file (absolute), the shards themselves, or none. */
  readonly shards: string | Readonly<Record<string, { readonly url: string } | { readonly urlEnv: string }>> | undefined
  readonly setting: string | undefined
  readonly role: string | undefined
}

export interface DeployConfig {
  /** The file read, or null when there is none (defaults only). */
  readonly file: string | null
  readonly migrationsDir: string
  readonly backupDir: string
  /** The seed modules (absolute paths), in order; empty when the project declares none. */
  readonly seeds: ReadonlyArray<string>
  /** The personal-data map module (absolute), or null. */
  readonly privacy: string | null
  readonly relationships: ReadonlyArray<typeof RelationshipInput.Type>
  readonly retention: ReadonlyArray<typeof RetentionInput.Type>
  readonly tenancy: TenancySettings
  /** The cache key prefix (DB_CACHE_PREFIX overrides the file), or null. */
  readonly cachePrefix: string | null
  readonly environments: Readonly<Record<Environment, EnvironmentSettings>>
}

const defaults: Record<Environment, {
  confirm: boolean
  seedProfile: EnvironmentSettings["seedProfile"]
  lint: EnvironmentSettings["lint"]
  backupRetention: EnvironmentSettings["backupRetention"]
}> = {
  development: { confirm: false, seedProfile: "development", lint: "warn", backupRetention: { keepLast: 5 } },
  test: { confirm: false, seedProfile: "test", lint: "warn", backupRetention: { keepLast: 5 } },
  staging: { confirm: true, seedProfile: "reference", lint: "warn", backupRetention: { keepLast: 10 } },
  production: {
    confirm: true,
    seedProfile: "reference",
    lint: "strict",
    backupRetention: { keepLast: 30, keepDays: 30 }
  }
}

/** The files looked for, in order, when DBKIT_CONFIG is not set. */
export const configFileNames = [
  "dbkit.config.ts",
  "dbkit.config.mts",
  "dbkit.config.mjs",
  "dbkit.config.js",
  "dbkit.config.json"
]

const invalid = (file: string, field: string, reason: string) =>
  new InvalidConfig({ variable: field === "" ? file : `${path.basename(file)}: ${field}`, reason })

/** The first schema error, naming its field (`environments.staging.lint`). */
const firstIssue = (error: ParseResult.ParseError): { field: string; reason: string } => {
  const issues = ParseResult.ArrayFormatter.formatErrorSync(error)
  // The deepest issue is the precise one ("environments.staging.lint"), not its parent's summary.
  const issue = [...issues].sort((a, b) => b.path.length - a.path.length)[0]
  return { field: issue ? issue.path.map(String).join(".") : "", reason: issue?.message ?? String(error) }
}

/** Requires `esbuild` from the project, else from dbkit's own install. */
const loadEsbuild = (file: string): typeof import("esbuild") | undefined => {
  const bases = [
    path.join(process.cwd(), "package.json"),
    file,
    typeof __filename === "string" ? __filename : undefined
  ]
  for (const base of bases) {
    if (base === undefined) continue
    try {
      return createRequire(base)("esbuild") as typeof import("esbuild")
    } catch {
      // try the next place
    }
  }
  return undefined
}

/**
 * What `import … from "dbkit"` gives a module: a stub's source (the config file needs only
 * `defineConfig`, and loading the library would slow every command's start), or the running
 * library itself (seeds and privacy maps build on it: one copy of every class and tag).
 */
export type DbkitImport = string | { readonly library: unknown; readonly cacheRoot: string }

const STUB = "export const defineConfig = (config) => config"

/**
 * Transpiles and evaluates a JavaScript or TypeScript module; returns its default export (else
 * its exports). Its other imports are required from the module's folder (the project's
 * node_modules).
 */
export const evaluateModule = (file: string, dbkit: DbkitImport = STUB) =>
  Effect.gen(function*() {
    const stub = typeof dbkit === "string" ? dbkit : null
    const root = typeof dbkit === "string" ? path.dirname(file) : dbkit.cacheRoot
    const cached = readCompiled(file, stub, root)
    const code = cached ?? (yield* compile(file, stub, root))
    const module = { exports: {} as Record<string, unknown> }
    const projectRequire = createRequire(file)
    const requireFor = typeof dbkit === "string"
      ? projectRequire
      : Object.assign((id: string) => (id === "dbkit" ? dbkit.library : projectRequire(id)), projectRequire)
    yield* Effect.try({
      try: () =>
        new Function("module", "exports", "require", "__filename", "__dirname", code)(
          module,
          module.exports,
          requireFor,
          file,
          path.dirname(file)
        ),
      catch: (cause) => invalid(file, "", `failed while loading: ${firstLine(cause)}`)
    })
    const exported = module.exports
    return "default" in exported ? exported.default : exported
  })

/**
 * Compiled config modules are kept in `.dbkit/cache/` beside the file, with the size and mtime of
 * every file that went into them: a command reuses the code while none changed, instead of
 * starting esbuild each time (~0.1 s of every command's start-up).
 */
const cacheFileOf = (file: string, dbkitStub: string | null, root: string) =>
  path.join(
    root,
    ".dbkit",
    "cache",
    `module-${createHash("sha256").update(`${file}\0${dbkitStub ?? "(library)"}`).digest("hex").slice(0, 16)}.json`
  )

interface CompiledModule {
  readonly inputs: ReadonlyArray<{ readonly file: string; readonly size: number; readonly mtimeMs: number }>
  readonly code: string
}

const readCompiled = (file: string, dbkitStub: string | null, root: string): string | undefined => {
  try {
    const cached = JSON.parse(fs.readFileSync(cacheFileOf(file, dbkitStub, root), "utf8")) as CompiledModule
    for (const input of cached.inputs) {
      const stat = fs.statSync(input.file)
      if (stat.size !== input.size || stat.mtimeMs !== input.mtimeMs) return undefined
    }
    return typeof cached.code === "string" ? cached.code : undefined
  } catch {
    return undefined
  }
}

const writeCompiled = (
  file: string,
  dbkitStub: string | null,
  root: string,
  inputs: ReadonlyArray<string>,
  code: string
) => {
  try {
    const target = cacheFileOf(file, dbkitStub, root)
    makeDirectories(path.dirname(target))
    const entry: CompiledModule = {
      inputs: inputs.map((input) => {
        const stat = fs.statSync(input)
        return { file: input, size: stat.size, mtimeMs: stat.mtimeMs }
      }),
      code
    }
    const temp = `${target}.${process.pid}.tmp`
    fs.writeFileSync(temp, JSON.stringify(entry), { mode: 0o600 })
    fs.renameSync(temp, target)
  } catch {
    // a read-only project: compile every time
  }
}

const compile = (file: string, dbkitStub: string | null, root: string) =>
  Effect.gen(function*() {
    const esbuild = loadEsbuild(file)
    if (esbuild === undefined) {
      return yield* invalid(
        file,
        "",
        "reading a .ts/.mjs/.js config needs the esbuild package (install it, or use dbkit.config.json)"
      )
    }
    const output = yield* Effect.tryPromise({
      try: () =>
        esbuild.build({
          metafile: true,
          entryPoints: [file],
          bundle: true,
          platform: "node",
          format: "cjs",
          target: "node20",
          write: false,
          logLevel: "silent",
          packages: "external",
          plugins: [{
            name: "dbkit-define-config",
            setup(build) {
              // The running library, given to the module's `require("dbkit")`.
              if (dbkitStub === null) {
                build.onResolve({ filter: /^dbkit$/ }, () => ({ path: "dbkit", external: true }))
                return
              }
              // `import { defineConfig } from "dbkit"` needs nothing of dbkit at run time.
              build.onResolve({ filter: /^dbkit$/ }, () => ({ path: "dbkit", namespace: "dbkit-stub" }))
              build.onLoad({ filter: /.*/, namespace: "dbkit-stub" }, () => ({
                contents: dbkitStub,
                loader: "js",
                resolveDir: path.dirname(file)
              }))
            }
          }]
        }),
      catch: (cause) => invalid(file, "", `cannot be compiled: ${firstLine(cause)}`)
    })
    const code = output.outputFiles?.[0]?.text ?? ""
    // The files bundled into it (the stub's namespace is not a file).
    const inputs = Object.keys(output.metafile?.inputs ?? {}).filter((input) => !input.includes(":")).map((input) =>
      path.resolve(input)
    )
    writeCompiled(file, dbkitStub, root, inputs.includes(file) ? inputs : [file, ...inputs], code)
    return code
  })

const firstLine = (cause: unknown) => (cause instanceof Error ? cause.message : String(cause)).split("\n")[0] ?? ""

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
const resolveEnvironment = (
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
      backupDir: path.join(backupDir, name),
      sources
    } satisfies EnvironmentSettings
  })

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
