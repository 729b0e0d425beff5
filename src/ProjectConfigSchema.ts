/**
 * The schema of dbkit.config.* (effect/Schema): what the file may say, per environment and for
 * the project, and how a decoding error names its field.
 */
import * as Duration from "effect/Duration"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import * as path from "node:path"
import { InvalidConfig } from "./Config.js"
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

/**
 * Where this environment's pgBackRest is (`backup --physical`, `restore --physical`, `pitr`):
 * what DBKIT_PGBACKREST_* stand for; a variable that is set wins. Relative paths are from the
 * config file's folder. The cipher pass is never written here: `cipherPassEnv` names its variable.
 */
export const PitrInput = Schema.Struct({
  stanza: Schema.String.pipe(Schema.minLength(1, { message: () => "must not be empty" })),
  configFile: Schema.optional(Schema.String),
  repoPath: Schema.optional(Schema.String),
  /** The system user pgBackRest and pg_ctl run as. */
  user: Schema.optional(Schema.String),
  /** Where pg_ctl is. */
  binDir: Schema.optional(Schema.String),
  cipherPassEnv: Schema.optional(VariableName)
})

/**
 * A job `dbkit serve` runs on a schedule, as written in the file. Only its shape is checked
 * here; src/serve/jobs/schema.ts checks its cron, `run` and time zone when the jobs are read.
 */
export const JobInput = Schema.Struct({
  run: Schema.String,
  cron: Schema.String,
  verify: Schema.optional(Schema.Boolean),
  timeZone: Schema.optional(Schema.String)
})

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
  /** This environment's pgBackRest stanza and repository (point-in-time recovery). */
  pitr: Schema.optional(PitrInput),
  /** The post-deploy health check: which verdict fails the deploy, and threshold overrides. */
  health: Schema.optional(Schema.Struct({
    failOn: Schema.optional(Schema.Literal("critical", "warn")),
    thresholds: Schema.optional(HealthThresholds)
  })),
  /** Jobs `dbkit serve` runs on a schedule here, by name: `{ nightly: { run: "backup", cron: "0 3 * * *" } }`. */
  jobs: Schema.optional(Schema.Record({ key: Schema.String, value: JobInput }))
})
export type EnvironmentInput = typeof EnvironmentInput.Encoded

const NonEmpty = Schema.String.pipe(Schema.minLength(1, { message: () => "must not be empty" }))

/** A module of the project, relative to the config file's folder. */
const ModulePath = NonEmpty.pipe(
  Schema.pattern(/\.(ts|mts|cts|js|mjs|cjs|json)$/, { message: () => "expected a module file such as \"db/seeds.ts\"" })
)

/** A relationship the schema does not enforce with a foreign key (`db validate` checks it). */
export const RelationshipInput = Schema.Struct({
  table: NonEmpty,
  column: NonEmpty,
  references: NonEmpty.pipe(
    Schema.pattern(/^[^.\s]+(\.[^.\s]+){1,2}$/, { message: () => "expected table.column or schema.table.column" })
  ),
  where: Schema.optional(Schema.String)
})

/** A retention rule (`db cleanup` applies it). */
export const RetentionInput = Schema.Struct({
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

export const invalid = (file: string, field: string, reason: string) =>
  new InvalidConfig({ variable: field === "" ? file : `${path.basename(file)}: ${field}`, reason })

/** The first schema error, naming its field (`environments.staging.lint`). */
export const firstIssue = (error: ParseResult.ParseError): { field: string; reason: string } => {
  const issues = ParseResult.ArrayFormatter.formatErrorSync(error)
  // The deepest issue is the precise one ("environments.staging.lint"), not its parent's summary.
  const issue = [...issues].sort((a, b) => b.path.length - a.path.length)[0]
  return { field: issue ? issue.path.map(String).join(".") : "", reason: issue?.message ?? String(error) }
}
