/**
 * Why a tenancy operation cannot go on. Each is a one-line message naming the tenant.
 */
import * as Data from "effect/Data"

/** A slug that cannot name a tenant (or its schema). */
export class InvalidTenantSlug
  extends Data.TaggedError("InvalidTenantSlug")<{ readonly slug: string; readonly reason: string }>
{
  override get message() {
    return `"${this.slug.slice(0, 80)}" is not a valid tenant slug: ${this.reason}`
  }
}

/** Neither an id nor a slug of any tenant in the registry. */
export class TenantNotFound extends Data.TaggedError("TenantNotFound")<{ readonly tenant: string }> {
  override get message() {
    return `no tenant "${this.tenant.slice(0, 80)}" in the registry (dbkit.tenants)`
  }
}

/** The tenant exists but may not be used now (suspended, or still being provisioned). */
export class TenantUnavailable
  extends Data.TaggedError("TenantUnavailable")<{ readonly slug: string; readonly status: string }>
{
  override get message() {
    return this.status === "suspended"
      ? `tenant ${this.slug} is suspended; \`dbkit tenant resume ${this.slug}\` makes it usable again`
      : `tenant ${this.slug} is ${this.status}; run \`dbkit tenant provision ${this.slug}\` again to finish it`
  }
}

/** `withTenant` for one tenant inside `withTenant` for another. */
export class TenantNestingRefused
  extends Data.TaggedError("TenantNestingRefused")<{ readonly outer: string; readonly inner: string }>
{
  override get message() {
    return `withTenant("${
      this.inner.slice(0, 80)
    }") inside withTenant("${this.outer}"): one transaction serves one tenant; run them one after the other`
  }
}

/** The tenant was provisioned with the other strategy (the registry row says which). */
export class TenantStrategyMismatch extends Data.TaggedError("TenantStrategyMismatch")<{
  readonly slug: string
  readonly registered: string
  readonly configured: string
}> {
  override get message() {
    return `tenant ${this.slug} uses the ${this.registered} strategy, but this application is configured for ${this.configured} (DBKIT_TENANCY)`
  }
}

/** A shard named in the registry or on the command line that the shard file does not define. */
export class UnknownShard
  extends Data.TaggedError("UnknownShard")<{ readonly shard: string; readonly known: ReadonlyArray<string> }>
{
  override get message() {
    return `no shard "${this.shard}"; the shard file defines ${
      this.known.length ? this.known.join(", ") : "none (only \"default\", the configured database)"
    }`
  }
}

/** The shard file is missing, unreadable or not the expected shape. */
export class InvalidShardFile
  extends Data.TaggedError("InvalidShardFile")<{ readonly file: string; readonly reason: string }>
{
  override get message() {
    return `shard file ${this.file}: ${this.reason}`
  }
}

/** Schema-per-tenant needs a folder of tenant migrations. */
export class TenantMigrationsMissing
  extends Data.TaggedError("TenantMigrationsMissing")<{ readonly directory: string }>
{
  override get message() {
    return `the schema strategy needs tenant migrations; ${this.directory} does not exist (set DBKIT_TENANT_MIGRATIONS_DIR)`
  }
}

/** Provisioning failed; what it had made was removed again. */
export class ProvisionFailed
  extends Data.TaggedError("ProvisionFailed")<{ readonly slug: string; readonly reason: string }>
{
  override get message() {
    return `could not provision tenant ${this.slug}: ${this.reason}; nothing was left behind`
  }
}

/** `migrate-all` finished with failures (each tenant's result is in the report). */
export class TenantMigrationsFailed extends Data.TaggedError("TenantMigrationsFailed")<{
  readonly failed: number
  readonly total: number
}> {
  override get message() {
    return `${this.failed} of ${this.total} tenant(s) failed to migrate; fix them and run \`dbkit tenant migrate-all --resume\``
  }
}

/** A tenant's domain, plan, metadata or id that the registry cannot take. */
export class InvalidTenantAttribute extends Data.TaggedError("InvalidTenantAttribute")<{
  readonly field: "domain" | "plan" | "metadata" | "id"
  readonly value: string
  readonly reason: string
}> {
  override get message() {
    const shown = this.value.length > 80 ? `${this.value.slice(0, 80)}…` : this.value
    return `${this.field} ${JSON.stringify(shown)} refused: ${this.reason}; nothing was changed`
  }
}

/** The registry holds tenants of one strategy; a tenant of the other would not be reachable by this application. */
export class RegistryStrategyConflict extends Data.TaggedError("RegistryStrategyConflict")<{
  readonly slug: string
  readonly strategy: string
  readonly registered: string
  /** One tenant of the other strategy, and how many there are. */
  readonly example: string
  readonly count: number
}> {
  override get message() {
    return `cannot register tenant ${this.slug} with the ${this.strategy} strategy: the registry holds ${this.count} ${this.registered} tenant(s) (e.g. ${this.example}); one database uses one strategy (check DBKIT_TENANCY / dbkit.config.ts tenancy.strategy)`
  }
}

/** Deprovisioning stopped: nothing of the tenant was deleted, and the backup it had begun was removed. */
export class DeprovisionFailed extends Data.TaggedError("DeprovisionFailed")<{
  readonly slug: string
  readonly reason: string
  /** Rows of another tenant reference this tenant's rows (a foreign key refused the delete). */
  readonly referenced: boolean
}> {
  override get message() {
    return this.referenced
      ? `cannot deprovision tenant ${this.slug}: rows outside it still reference its rows (${this.reason}); remove those references first. Nothing was deleted and no backup file was left`
      : `could not deprovision tenant ${this.slug}: ${this.reason}; nothing was deleted and no backup file was left`
  }
}
