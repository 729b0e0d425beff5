/**
 * DbConfig: everything dbkit reads from the environment, read once with effect/Config.
 *
 * The database URL stays `Redacted` from here to the driver; an invalid value is an
 * `InvalidConfig` error that names the variable and never echoes a secret.
 */
import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"

/** The environments dbkit knows; they drive guards, seed profiles and defaults. */
export const environments = ["development", "test", "staging", "production"] as const
export type Environment = (typeof environments)[number]

/** Configuration that cannot be used: names the variable, never its (possibly secret) value. */
export class InvalidConfig extends Data.TaggedError("InvalidConfig")<{
  readonly variable: string
  readonly reason: string
}> {
  override get message() {
    return `${this.variable}: ${this.reason}`
  }
}

/** The resolved configuration. */
export interface DbConfigShape {
  /** DATABASE_URL; `None` selects the embedded database (never in staging or production). */
  readonly databaseUrl: Option.Option<Redacted.Redacted<string>>
  /** DATABASE_URL was set, to an empty string: not "unset" where a server is required. */
  readonly databaseUrlEmpty?: boolean | undefined
  readonly environment: Environment
  /** Where the embedded database lives (`memory://` for an in-memory one). */
  readonly dataDir: string
  readonly backupDir: string
  readonly migrationsDir: string
  readonly poolSize: number
  readonly applicationName: string
  readonly connectTimeout: Duration.Duration
}

/** The configuration service. */
export class DbConfig extends Context.Tag("dbkit/DbConfig")<DbConfig, DbConfigShape>() {
  /** DbConfig read from the environment (DATABASE_URL, DB_ENV, DBKIT_*). */
  static get layer(): typeof layer {
    return layer
  }
  /** DbConfig from explicit values; unspecified fields take the defaults. */
  static get layerFrom(): typeof layerFrom {
    return layerFrom
  }
  /** Reads the configuration from the environment. */
  static get load(): typeof load {
    return load
  }
}

const defaults = {
  dataDir: ".dbkit/pglite",
  backupDir: "backups",
  migrationsDir: "migrations",
  poolSize: 10,
  applicationName: "dbkit",
  connectTimeout: Duration.seconds(5)
} as const

/** Checks that a URL is a PostgreSQL URL without ever putting the URL in the error. */
export const validateDatabaseUrl = (
  url: Redacted.Redacted<string>,
  variable = "DATABASE_URL"
): Either.Either<Redacted.Redacted<string>, InvalidConfig> => {
  let parsed: URL
  try {
    parsed = new URL(Redacted.value(url))
  } catch {
    return Either.left(
      new InvalidConfig({
        variable,
        reason: "is not a valid URL (expected postgres://user[:password]@host[:port]/database)"
      })
    )
  }
  if (parsed.protocol !== "postgres:" && parsed.protocol !== "postgresql:") {
    return Either.left(
      new InvalidConfig({
        variable,
        reason: `has protocol "${parsed.protocol}", expected postgres: or postgresql:`
      })
    )
  }
  if (parsed.pathname.replace(/^\//, "") === "") {
    return Either.left(new InvalidConfig({ variable, reason: "names no database (add /<database> to the URL)" }))
  }
  return Either.right(url)
}

/** Reads the environment: DB_ENV, else NODE_ENV, else development. */
/** An environment's name as users write it (any case, spaces around), or why it is none: the one parser. */
export const parseEnvironment = (value: string): Either.Either<Environment, string> => {
  const normalised = value.trim().toLowerCase()
  return (environments as ReadonlyArray<string>).includes(normalised)
    ? Either.right(normalised as Environment)
    : Either.left(`unknown environment "${value}"; expected one of ${environments.join(", ")}`)
}

const environmentConfig: Config.Config<Environment> = Config.string("DB_ENV").pipe(
  Config.map((value) => ({ variable: "DB_ENV", value })),
  Config.orElse(() => Config.string("NODE_ENV").pipe(Config.map((value) => ({ variable: "NODE_ENV", value })))),
  Config.withDefault({ variable: "default", value: "development" }),
  Config.mapOrFail(({ value, variable }) =>
    Either.mapLeft(parseEnvironment(value), (reason) => ConfigError.InvalidData([variable], reason))
  )
)

const rawConfig = Config.all({
  databaseUrl: Config.option(Config.redacted("DATABASE_URL")),
  environment: environmentConfig,
  dataDir: Config.string("DBKIT_DATA_DIR").pipe(Config.withDefault(defaults.dataDir)),
  backupDir: Config.option(Config.string("DBKIT_BACKUP_DIR")),
  migrationsDir: Config.option(Config.string("DBKIT_MIGRATIONS_DIR")),
  poolSize: Config.integer("DB_POOL_SIZE").pipe(
    Config.validate({ message: "must be an integer between 1 and 1000", validation: (n) => n >= 1 && n <= 1000 }),
    Config.withDefault(defaults.poolSize)
  ),
  applicationName: Config.string("DB_APPLICATION_NAME").pipe(Config.withDefault(defaults.applicationName)),
  connectTimeout: Config.duration("DB_CONNECT_TIMEOUT").pipe(Config.withDefault(defaults.connectTimeout))
})

/** Turns effect's ConfigError into the one typed error users see. */
const toInvalidConfig = (error: ConfigError.ConfigError): InvalidConfig => {
  const first = ConfigError.reduceWithContext(
    error,
    undefined,
    {
      andCase: (_, left: InvalidConfig | undefined, right: InvalidConfig | undefined) => left ?? right,
      orCase: (_, left: InvalidConfig | undefined, right: InvalidConfig | undefined) => left ?? right,
      invalidDataCase: (_, path, message) => new InvalidConfig({ variable: path.join("_"), reason: message }),
      missingDataCase: (_, path, message) => new InvalidConfig({ variable: path.join("_"), reason: message }),
      sourceUnavailableCase: (_, path, message) => new InvalidConfig({ variable: path.join("_"), reason: message }),
      unsupportedCase: (_, path, message) => new InvalidConfig({ variable: path.join("_"), reason: message })
    }
  )
  return first ?? new InvalidConfig({ variable: "configuration", reason: String(error) })
}

/** The folders dbkit.config.* in the working directory declares, or undefined without one. */
const projectFolders: Effect.Effect<
  { readonly migrationsDir: string; readonly backupDir: string } | undefined,
  InvalidConfig
> = Effect.gen(
  function*() {
    const ProjectConfig = yield* Effect.promise(() => import("./ProjectConfig.js"))
    const file = yield* ProjectConfig.findConfigFile(process.cwd(), process.env)
    return file === null ? undefined : yield* ProjectConfig.load()
  }
)

/** Reads and validates the configuration from the current ConfigProvider. */
export const load: Effect.Effect<DbConfigShape, InvalidConfig> = Effect.gen(function*() {
  const raw = yield* Effect.mapError(rawConfig, toInvalidConfig)
  const databaseUrl = Option.isSome(raw.databaseUrl) && Redacted.value(raw.databaseUrl.value).trim() === ""
    ? Option.none()
    : raw.databaseUrl
  if (Option.isSome(databaseUrl)) {
    yield* validateDatabaseUrl(databaseUrl.value)
  }
  // Folders the variables leave open come from the project's dbkit.config.* (one door for the
  // command line and for programs), else the defaults.
  const project = Option.isSome(raw.migrationsDir) && Option.isSome(raw.backupDir) ? undefined : yield* projectFolders
  return {
    ...raw,
    migrationsDir: Option.getOrElse(raw.migrationsDir, () => project?.migrationsDir ?? defaults.migrationsDir),
    backupDir: Option.getOrElse(raw.backupDir, () => project?.backupDir ?? defaults.backupDir),
    databaseUrl,
    databaseUrlEmpty: Option.isSome(raw.databaseUrl) && Option.isNone(databaseUrl)
  }
})

/** Environments that must run on a server: a missing DATABASE_URL there is a mistake, never the embedded database. */
export const requiresServer = (environment: Environment): boolean =>
  environment === "staging" || environment === "production"

/**
 * Why this configuration may not use the embedded database, or undefined when it may: in
 * staging and production DATABASE_URL must name a server (a CI job whose secret is missing must
 * fail, not migrate a local PGlite and exit 0).
 */
export const embeddedRefusal = (config: DbConfigShape): InvalidConfig | undefined =>
  Option.isNone(config.databaseUrl) && requiresServer(config.environment)
    ? new InvalidConfig({
      variable: "DATABASE_URL",
      reason:
        `is ${
          config.databaseUrlEmpty === true ? "set but empty" : "not set"
        }, and the environment is ${config.environment}: ` +
        `dbkit never uses the embedded database in ${config.environment}; set DATABASE_URL to the ${config.environment} server ` +
        "(or DB_ENV=development for a local run)"
    })
    : undefined

/** DbConfig read from the environment. */
export const layer: Layer.Layer<DbConfig, InvalidConfig> = Layer.effect(DbConfig, load)

/** DbConfig from explicit values (library users, tests); unspecified fields take the defaults. */
export const layerFrom = (
  config: Partial<DbConfigShape> & { readonly environment?: Environment }
): Layer.Layer<DbConfig> =>
  Layer.succeed(DbConfig, {
    databaseUrl: Option.none(),
    environment: "development",
    ...defaults,
    ...config
  })
