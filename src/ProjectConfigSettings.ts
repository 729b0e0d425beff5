/** The deploy configuration resolved: each environment's settings and where they came from, and the defaults. */
import * as Duration from "effect/Duration"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import type { Environment } from "./Config.js"
import type { JobInput } from "./ProjectConfigSchema.js"
import type { PitrInput } from "./ProjectConfigSchema.js"
import { RelationshipInput, RetentionInput } from "./ProjectConfigSchema.js"
import type { Thresholds } from "./Thresholds.js"

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
  /** The scheduled jobs, as the file writes them (src/serve/jobs/ checks and parses them). */
  readonly jobs: Readonly<Record<string, typeof JobInput.Type>>
  /** Its pgBackRest settings from the file (paths absolute), or undefined; DBKIT_PGBACKREST_* override them. */
  readonly pitr?: typeof PitrInput.Type | undefined
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

export const defaults: Record<Environment, {
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
