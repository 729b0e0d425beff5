/**
 * What every Tenancy operation works over: the configured database, its configuration, the
 * strategy and shards, and what is built once per service (withTenant's statement, whether the
 * registry is known to exist). `makeContext` gathers it; the engine modules (withTenant,
 * tenants, provision, deprovision, migrateAll) take it as their first parameter.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Ref from "effect/Ref"
import { DbConfig, type DbConfigShape } from "../Config.js"
import { Database, type DatabaseShape, PgLive } from "../Database.js"
import type { MigratorOptions } from "../migrator/Migrator.js"
import type { MigrationSource } from "../migrator/source.js"
import * as ServerError from "../ServerError.js"
import { TenantMigrationsMissing, UnknownShard } from "./errors.js"
import * as Registry from "./registry.js"
import { DEFAULT_SHARD, type Shards } from "./shards.js"

export interface TenancyOptions {
  readonly strategy: Registry.Strategy
  /**
   * What `migrate-all` applies: for `schema`, the tenant migrations (run in each tenant's
   * schema, also at provisioning); for `rls`, the shared migrations (run once per shard).
   */
  readonly migrations?: MigrationSource | undefined
  /** Where `migrations` come from, for messages (e.g. `migrations/tenant`). */
  readonly migrationsDirectory?: string | undefined
  /** The setting the RLS policies read (default `app.tenant_id`). */
  readonly setting?: string | undefined
  /**
   * A role `withTenant` switches to for the transaction (e.g. `dbkit_app`), for applications
   * that connect as a more privileged user. Leave unset when the application logs in as it.
   */
  readonly role?: string | undefined
  /** The application's own tenants table (id uuid, slug, name), kept in step: e.g. `organizations`. */
  readonly tenantTable?: string | undefined
  /** Other shards by name; "default" is always the configured database. */
  readonly shards?: Shards | undefined
  /** Timeouts for tenant migrations. */
  readonly migrator?: Omit<MigratorOptions, "source" | "schema"> | undefined
}

/** The statement `withTenant` opens a transaction with, and its parameters after the tenant ($1). */
export interface EnterStatement {
  readonly text: string
  readonly params: ReadonlyArray<string>
}

/** One Tenancy service's context record. */
export interface TenancyContext {
  readonly sql: SqlClient.SqlClient
  readonly database: DatabaseShape
  readonly config: DbConfigShape
  /** For the backups deprovisioning takes. */
  readonly options: TenancyOptions
  readonly strategy: Registry.Strategy
  /** The setting the RLS policies read. */
  readonly setting: string
  readonly shards: Shards
  /** The configured database: the default shard's SqlClient and Database. */
  readonly home: Context.Context<SqlClient.SqlClient | Database>
  readonly enter: EnterStatement
  /** Whether this service has seen the registry exist (it never goes away again). */
  readonly registryReady: Ref.Ref<boolean>
}

/**
 * One statement looks the tenant up and sets everything, transaction-locally: the tenant and
 * its transaction stamp (rls) or the search_path (schema), and the role when one is configured.
 */
export const enterStatement = (
  strategy: Registry.Strategy,
  setting: string,
  role: string | undefined
): EnterStatement => {
  const params: Array<string> = []
  const param = (value: string) => {
    params.push(value)
    return `$${params.length + 1}` // $1 is the tenant
  }
  const sets = [
    // rls: the tenant, and beside it (`<setting>_xact`) this transaction's start, so a policy
    // can tell the tenant this transaction set from one a session left on a pooled connection
    // (the reference schema's app_current_tenant(), migration 0007).
    strategy === "rls"
      ? `set_config(${param(setting)}, t.id::text, true), ` +
        `set_config(${param(`${setting}_xact`)}, (EXTRACT(epoch FROM now()))::text, true)`
      : `set_config('search_path', quote_ident(t.schema_name) || ', public', true)`,
    ...(role ? [`set_config('role', ${param(role)}, true)`] : [])
  ].join(", ")
  return {
    text: `SELECT t.slug, t.status, t.strategy, t.id::text AS id, ${sets} FROM dbkit.tenant_lookup($1) t`,
    params
  }
}

/** The context record of a Tenancy service with these options, over the services in scope. */
export const makeContext = (options: TenancyOptions) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const database = yield* Database
    const setting = options.setting ?? "app.tenant_id"
    return {
      sql,
      database,
      config: yield* DbConfig,
      options,
      strategy: options.strategy,
      setting,
      shards: options.shards ?? new Map(),
      home: Context.make(SqlClient.SqlClient, sql).pipe(Context.add(Database, database)),
      enter: enterStatement(options.strategy, setting, options.role),
      registryReady: yield* Ref.make(false)
    } satisfies TenancyContext
  })

/** The registry, created on first use; checked once per service, not before every read. */
export const ensureRegistry = (context: TenancyContext): Effect.Effect<void, SqlError> =>
  Effect.flatMap(
    Ref.get(context.registryReady),
    (ready) => ready ? Effect.void : Effect.zipRight(Registry.ensure, Ref.set(context.registryReady, true))
  ).pipe(
    Effect.provideService(SqlClient.SqlClient, context.sql)
  )

/** The SqlClient and Database of a shard, for the life of the current scope. */
export const shardContext = (context: TenancyContext, shard: string, poolSize = 2) =>
  Effect.gen(function*() {
    if (shard === DEFAULT_SHARD) return context.home
    const url = context.shards.get(shard)
    if (url === undefined) return yield* new UnknownShard({ shard, known: [...context.shards.keys()] })
    return yield* Layer.build(PgLive({ url, poolSize, applicationName: context.config.applicationName }))
  })

/** The configured tenant migrations, or why there are none. */
export const requireMigrations = (context: TenancyContext): Effect.Effect<MigrationSource, TenantMigrationsMissing> =>
  context.options.migrations === undefined
    ? Effect.fail(
      new TenantMigrationsMissing({
        directory: context.options.migrationsDirectory ?? "(no tenant migrations configured)"
      })
    )
    : Effect.succeed(context.options.migrations)

/** The first line of an error, without a password (messages from dbkit never carry one). */
export const describe = (cause: Cause.Cause<unknown>): string =>
  ServerError.describe(Cause.squash(cause), { firstLine: true, max: 500 })
