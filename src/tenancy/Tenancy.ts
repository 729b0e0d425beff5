/**
 * Tenancy: one application, many tenants, isolated by row-level security or by a schema each.
 *
 * - `rls`: shared tables carry `tenant_id`; their policies compare it with the `app.tenant_id`
 *   setting (see the example project, src/example/schema/tenancy.ts), FORCE ROW LEVEL SECURITY applies them to the owner too,
 *   and the application runs as a role without BYPASSRLS.
 * - `schema`: each tenant has a `tenant_<slug>` schema built by the tenant migrations, with its
 *   own history table in it.
 *
 * `withTenant` opens a transaction and, in one statement, looks the tenant up and sets the
 * tenant (rls) or the search_path (schema) — and the role, when one is configured — with
 * `set_config(…, true)`: transaction-local, so the pooled connection goes back with nothing of
 * the tenant left on it, whether the effect succeeded, failed or was interrupted.
 *
 * The registry (`dbkit.tenants`) lives on the configured database; tenants' data may live on
 * other shards (servers or databases) listed in a shard file, which `migrate-all` fans out over.
 *
 * This module holds the service's shape and wiring; the work is in top-level functions over one
 * context record (context.ts): withTenant.ts, tenants.ts (list, get, suspend, resume),
 * provision.ts, deprovision.ts (with exportRows.ts) and migrateAll.ts.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as fs from "node:fs"
import type * as AdvisoryLock from "../AdvisoryLock.js"
import type { BackupError } from "../backup/Backup.js"
import { DbConfig, type InvalidConfig } from "../Config.js"
import type { ConnectError, Database } from "../Database.js"
import type { Guard, GuardError } from "../Guard.js"
import { fromDirectory } from "../migrator/source.js"
import * as Project from "../Project.js"
import * as RlsAudit from "../RlsAudit.js"
import { spanTarget, traced } from "../Tracing.js"
import { makeContext, type TenancyOptions } from "./context.js"
import { deprovision, type DeprovisionOptions, type DeprovisionResult } from "./deprovision.js"
import type {
  DeprovisionFailed,
  InvalidShardFile,
  InvalidTenantAttribute,
  InvalidTenantSlug,
  ProvisionFailed,
  RegistryStrategyConflict,
  TenantMigrationsMissing,
  TenantNotFound,
  TenantStrategyMismatch,
  TenantUnavailable,
  UnknownShard
} from "./errors.js"
import { migrateAll, type MigrateAllOptions, type MigrateAllReport } from "./migrateAll.js"
import { provision, type ProvisionOptions, type ProvisionResult } from "./provision.js"
import type * as Registry from "./registry.js"
import * as ShardFile from "./shards.js"
import * as Tenants from "./tenants.js"
import { type TenantError, withTenant } from "./withTenant.js"

export type { TenancyOptions } from "./context.js"
export type { DeprovisionOptions, DeprovisionResult } from "./deprovision.js"
export type { MigrateAllOptions, MigrateAllReport, TenantMigration } from "./migrateAll.js"
export type { ProvisionOptions, ProvisionResult } from "./provision.js"
export type { MigrationState, Strategy, Tenant, TenantStatus } from "./registry.js"
export type { TenantError } from "./withTenant.js"

/** The Tenancy service, with its layers. */
export class Tenancy extends Context.Tag("dbkit/Tenancy")<Tenancy, {
  readonly strategy: Registry.Strategy
  /**
   * Runs `effect` as `tenant` (its id or slug): in one transaction, seeing only that tenant's
   * rows (rls) or schema (schema). A failure rolls back; nothing stays on the connection.
   */
  readonly withTenant: <A, E, R>(tenant: string, effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E | TenantError, R>
  /** Creates a tenant (registry row, app row, schema and its migrations); idempotent, all or nothing. */
  readonly provision: (
    slug: string,
    options?: ProvisionOptions
  ) => Effect.Effect<
    ProvisionResult,
    | InvalidTenantSlug
    | InvalidTenantAttribute
    | RegistryStrategyConflict
    | UnknownShard
    | TenantStrategyMismatch
    | ProvisionFailed
    | TenantMigrationsMissing
    | AdvisoryLock.LockTimeout
    | SqlError
  >
  readonly list: Effect.Effect<ReadonlyArray<Registry.Tenant>, SqlError>
  /** One tenant by id, slug or domain (the lookup every `--tenant` goes through). */
  readonly get: (tenant: string) => Effect.Effect<Registry.Tenant, TenantNotFound | SqlError>
  /** Stops `withTenant` for the tenant (its data stays). */
  readonly suspend: (slug: string) => Effect.Effect<Registry.Tenant, TenantNotFound | TenantUnavailable | SqlError>
  readonly resume: (slug: string) => Effect.Effect<Registry.Tenant, TenantNotFound | TenantUnavailable | SqlError>
  /**
   * Deletes the tenant and all its data, guarded (DB_TENANT_DEPROVISION_CONFIRM / --yes;
   * production also DB_TENANT_DEPROVISION_ALLOW_PRODUCTION), after backing the data up.
   */
  readonly deprovision: (
    slug: string,
    options?: DeprovisionOptions
  ) => Effect.Effect<
    DeprovisionResult,
    TenantNotFound | UnknownShard | DeprovisionFailed | GuardError | BackupError | ConnectError | SqlError,
    Guard
  >
  /** Applies the migrations to every tenant (schema) or shard (rls), continuing past failures. */
  readonly migrateAll: (
    options?: MigrateAllOptions
  ) => Effect.Effect<MigrateAllReport, TenantMigrationsMissing | SqlError>
  /**
   * Audits the configured database's row-level security (read-only): tenant tables without RLS
   * enabled and forced, policies that fail open, uncovered commands, privileged application
   * roles, foreign keys and sequences shared across tenants, unsafe SECURITY DEFINER functions.
   * The setting and role default to this service's.
   */
  readonly audit: (target?: RlsAudit.AuditTarget) => Effect.Effect<RlsAudit.AuditReport, SqlError>
}>() {
  /** The Tenancy service over the configured database. */
  static get layer(): typeof layer {
    return layer
  }
  /** Tenancy with its strategy, tenant table and shards from the environment. */
  static get layerConfig(): typeof layerConfig {
    return layerConfig
  }
}

/** The service: its context record, and each operation the engine function of that name over it. */
const make = (options: TenancyOptions) =>
  Effect.gen(function*() {
    const context = yield* makeContext(options)
    // The registry reads inside the engine functions ask for a SqlClient: the configured one.
    const onHome = Effect.provideService(SqlClient.SqlClient, context.sql)
    return Tenancy.of(traced("Tenancy", yield* spanTarget, {
      strategy: context.strategy,
      withTenant: (tenant, effect) => withTenant(context, tenant, effect),
      provision: (slug, o) => onHome(provision(context, slug, o)),
      list: onHome(Tenants.all(context)),
      get: (tenant) => onHome(Tenants.get(context, tenant)),
      suspend: (slug) => onHome(Tenants.setStatus(context, slug, "active", "suspended")),
      resume: (slug) => onHome(Tenants.setStatus(context, slug, "suspended", "active")),
      deprovision: (slug, o) => onHome(deprovision(context, slug, o)),
      migrateAll: (o) => onHome(migrateAll(context, o)),
      audit: (target = {}) =>
        RlsAudit.audit(RlsAudit.readOnlyQueries(context.sql), {
          ...target,
          setting: target.setting ?? context.setting,
          roles: target.roles ?? (context.options.role === undefined ? [] : [context.options.role])
        })
    }))
  })

/** The Tenancy service over the configured database. */
export const layer = (
  options: TenancyOptions
): Layer.Layer<Tenancy, never, SqlClient.SqlClient | Database | DbConfig> => Layer.effect(Tenancy, make(options))

/**
 * Tenancy as the project declares it: dbkit.config.ts `tenancy` (strategy, tenant table, tenant
 * migrations, shards, setting, role), overridden by DBKIT_TENANCY, DBKIT_TENANT_MIGRATIONS_DIR,
 * DBKIT_TENANT_TABLE and DBKIT_TENANT_SHARDS. Without either: rls, migrate-all applying the
 * project's migrations to each shard.
 */
export const layerConfig = (
  options: Pick<TenancyOptions, "migrator"> = {}
): Layer.Layer<
  Tenancy,
  InvalidConfig | InvalidShardFile,
  SqlClient.SqlClient | Database | DbConfig
> =>
  Layer.unwrapEffect(
    Effect.gen(function*() {
      const project = yield* Project.current
      const config = yield* DbConfig
      const settings = project.tenancy
      const directory = settings.strategy === "schema" ? settings.migrationsDir : config.migrationsDir
      const shards = settings.shards === undefined
        ? new Map()
        : typeof settings.shards === "string"
        ? yield* ShardFile.load(settings.shards)
        : yield* ShardFile.fromEntries(project.file ?? "dbkit.config.ts", settings.shards)
      return layer({
        ...options,
        strategy: settings.strategy,
        migrations: fs.existsSync(directory) ? fromDirectory(directory) : undefined,
        migrationsDirectory: directory,
        tenantTable: settings.tenantTable,
        setting: settings.setting,
        role: settings.role,
        shards
      })
    })
  )
