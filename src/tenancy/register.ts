/**
 * The registry's write path: a new tenant admitted beside the others (one strategy per registry,
 * no two slugs sharing a schema name, no domain twice) and written; and `register`, which records
 * a tenant whose rows already exist — the path `dbkit seed` takes for each organization it makes.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Effect from "effect/Effect"
import { InvalidTenantAttribute, InvalidTenantSlug, RegistryStrategyConflict } from "./errors.js"
import { ensure, find, type Strategy, type Tenant, type TenantStatus } from "./registry.js"
import { isUuid, schemaFor, type TenantAttributes, validateAttributes, validateSlug } from "./validate.js"

/** A tenant about to be written to the registry, its slug and attributes already validated. */
export interface NewTenant {
  readonly id?: string | undefined
  readonly slug: string
  readonly name: string
  readonly strategy: Strategy
  readonly status: TenantStatus
  readonly shard: string
  readonly attributes: TenantAttributes
}

/**
 * Refuses a new tenant the registry cannot hold beside the ones it has: one of the other
 * strategy there already, a slug whose schema name another slug has (`a-b` beside `a_b`), or a
 * domain another tenant has. `id` is the tenant's own row, when it exists (never a conflict).
 */
export const admit = (tenant: NewTenant, id?: string) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const self = id ?? "00000000-0000-0000-0000-000000000000"
    const [other] = yield* sql.unsafe<{ slug: string; strategy: Strategy; n: number }>(
      `SELECT min(slug) AS slug, min(strategy) AS strategy, count(*)::int AS n FROM dbkit.tenants
        WHERE strategy <> $1 AND id <> $2::uuid HAVING count(*) > 0`,
      [tenant.strategy, self]
    )
    if (other) {
      return yield* new RegistryStrategyConflict({
        slug: tenant.slug,
        strategy: tenant.strategy,
        registered: other.strategy,
        example: other.slug,
        count: other.n
      })
    }
    const schema = schemaFor(tenant.slug)
    const [twin] = yield* sql.unsafe<{ slug: string }>(
      `SELECT slug FROM dbkit.tenants WHERE replace(slug, '-', '_') = $1 AND slug <> $2 AND id <> $3::uuid LIMIT 1`,
      [tenant.slug.replaceAll("-", "_"), tenant.slug, self]
    )
    if (twin) {
      return yield* new InvalidTenantSlug({
        slug: tenant.slug,
        reason:
          `tenant ${twin.slug} exists, and both would use schema ${schema}; choose a slug that differs in more than - and _`
      })
    }
    if (tenant.attributes.domain !== null) {
      const [holder] = yield* sql.unsafe<{ slug: string }>(
        `SELECT slug FROM dbkit.tenants WHERE domain = $1 AND id <> $2::uuid`,
        [tenant.attributes.domain, self]
      )
      if (holder) {
        return yield* new InvalidTenantAttribute({
          field: "domain",
          value: tenant.attributes.domain,
          reason: `tenant ${holder.slug} already has it`
        })
      }
    }
  })

/** Writes a new tenant's row (after `admit`); its id. An existing row with the same id is kept as it is. */
export const insert = (tenant: NewTenant) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql.unsafe<{ id: string }>(
      `INSERT INTO dbkit.tenants (id, slug, name, strategy, schema_name, status, shard, domain, plan, metadata)
       VALUES (coalesce($1::uuid, gen_random_uuid()), $2, $3, $4, $5, $6, $7, $8, $9, $10::jsonb)
       ON CONFLICT (id) DO UPDATE SET updated_at = dbkit.tenants.updated_at
       RETURNING id::text AS id`,
      [
        tenant.id ?? null,
        tenant.slug,
        tenant.name,
        tenant.strategy,
        tenant.strategy === "schema" ? schemaFor(tenant.slug) : null,
        tenant.status,
        tenant.shard,
        tenant.attributes.domain,
        tenant.attributes.plan,
        JSON.stringify(tenant.attributes.metadata)
      ]
    )).pipe(Effect.map(([row]) => row!.id))

/** A tenant to register whose data someone else has already made (say, a seed's organization). */
export interface Registration {
  readonly id: string
  readonly slug: string
  readonly name?: string | undefined
  readonly strategy: Strategy
  readonly domain?: string | undefined
  readonly plan?: string | undefined
  readonly metadata?: unknown
}

/**
 * Registers an existing tenant's row — the same id and slug as the application's own row —
 * as active, in the caller's transaction; already registered (same id and slug) is done. The
 * registry's write path for seeds: validated and admitted as `provision` does.
 */
export const register = (
  tenant: Registration
): Effect.Effect<
  Tenant,
  InvalidTenantSlug | InvalidTenantAttribute | RegistryStrategyConflict | SqlError,
  SqlClient.SqlClient
> =>
  Effect.gen(function*() {
    yield* validateSlug(tenant.slug)
    if (!isUuid(tenant.id)) {
      return yield* new InvalidTenantAttribute({ field: "id", value: tenant.id, reason: "it is not a uuid" })
    }
    const attributes = yield* validateAttributes(tenant)
    yield* ensure
    const existing = yield* find(tenant.id)
    if (existing !== undefined) {
      if (existing.slug === tenant.slug && existing.strategy === tenant.strategy) return existing
      return yield* new InvalidTenantAttribute({
        field: "id",
        value: tenant.id,
        reason: `it is already tenant ${existing.slug} (${existing.strategy})`
      })
    }
    const bySlug = yield* find(tenant.slug)
    if (bySlug !== undefined) {
      return yield* new InvalidTenantSlug({
        slug: tenant.slug,
        reason: `tenant ${tenant.slug} has another id (${bySlug.id})`
      })
    }
    const row: NewTenant = {
      id: tenant.id,
      slug: tenant.slug,
      name: tenant.name ?? tenant.slug,
      strategy: tenant.strategy,
      status: "active",
      shard: "default",
      attributes
    }
    yield* admit(row)
    yield* insert(row)
    return (yield* find(tenant.id))!
  })
