/**
 * The tenant registry, `dbkit.tenants`: one row per tenant with its strategy, schema, status and
 * shard, and the outcome of the last `migrate-all` for it. Created on first use, under an
 * advisory lock (CREATE … IF NOT EXISTS alone races with a concurrent creator).
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Effect from "effect/Effect"
import { isUuid, MAX_METADATA_BYTES, MAX_PLAN, MAX_SLUG } from "./validate.js"

export {
  isUuid,
  MAX_METADATA_BYTES,
  MAX_SLUG,
  schemaFor,
  type TenantAttributes,
  validateAttributes,
  validateDomain,
  validateMetadata,
  validatePlan,
  validateSlug
} from "./validate.js"

export type Strategy = "rls" | "schema"
export type TenantStatus = "provisioning" | "active" | "suspended"
export type MigrationState = "pending" | "applied" | "up to date" | "failed"

export interface Tenant {
  readonly id: string
  readonly slug: string
  readonly name: string
  readonly strategy: Strategy
  /** `tenant_<slug>` (each `-` an `_`) for the schema strategy; null for rls. */
  readonly schema: string | null
  readonly status: TenantStatus
  readonly shard: string
  /** The tenant's host name (unique, lower-case), if it has one. */
  readonly domain: string | null
  /** The tenant's plan (short text), if any. */
  readonly plan: string | null
  /** Anything else the application keeps about the tenant: a JSON object. */
  readonly metadata: Readonly<Record<string, unknown>>
  readonly createdAt: string
  /** The last `migrate-all` outcome for this tenant, if it ever ran. */
  readonly migration:
    | { readonly state: MigrationState; readonly error: string | null; readonly at: string | null }
    | null
}

const DDL = `
CREATE SCHEMA IF NOT EXISTS dbkit;
CREATE TABLE IF NOT EXISTS dbkit.tenants (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  slug text NOT NULL UNIQUE,
  name text NOT NULL,
  strategy text NOT NULL CHECK (strategy IN ('rls', 'schema')),
  schema_name text UNIQUE,
  status text NOT NULL DEFAULT 'provisioning' CHECK (status IN ('provisioning', 'active', 'suspended')),
  shard text NOT NULL DEFAULT 'default',
  migration_state text CHECK (migration_state IN ('pending', 'applied', 'up to date', 'failed')),
  migration_error text,
  migrated_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  CHECK ((strategy = 'schema') = (schema_name IS NOT NULL))
)`

/**
 * What registries created before domains, plans and metadata (and slugs with `-`) get, and
 * new ones too: run under the same lock as the DDL, idempotent.
 */
const UPGRADE = `
ALTER TABLE dbkit.tenants
  ADD COLUMN IF NOT EXISTS domain text,
  ADD COLUMN IF NOT EXISTS plan text,
  ADD COLUMN IF NOT EXISTS metadata jsonb NOT NULL DEFAULT '{}'::jsonb;
ALTER TABLE dbkit.tenants DROP CONSTRAINT IF EXISTS tenants_slug_check;
ALTER TABLE dbkit.tenants DROP CONSTRAINT IF EXISTS tenants_slug_shape;
ALTER TABLE dbkit.tenants ADD CONSTRAINT tenants_slug_shape
  CHECK (slug ~ '^[a-z][a-z0-9_-]*$' AND slug !~ '--' AND slug !~ '-$' AND length(slug) <= ${MAX_SLUG});
ALTER TABLE dbkit.tenants DROP CONSTRAINT IF EXISTS tenants_attributes_shape;
ALTER TABLE dbkit.tenants ADD CONSTRAINT tenants_attributes_shape
  CHECK ((domain IS NULL OR (domain = lower(domain) AND length(domain) <= 253))
     AND (plan IS NULL OR length(plan) <= ${MAX_PLAN})
     AND jsonb_typeof(metadata) = 'object' AND octet_length(metadata::text) <= ${MAX_METADATA_BYTES * 2});
CREATE UNIQUE INDEX IF NOT EXISTS tenants_domain_key ON dbkit.tenants (domain) WHERE domain IS NOT NULL`

/**
 * What `withTenant` reads: one tenant by id or slug, through a SECURITY DEFINER function, so
 * an application that logs in as its own unprivileged role can enter its tenants without any
 * privilege on the registry table (it sees only the tenant it names, never the list).
 */
const LOOKUP = `
CREATE OR REPLACE FUNCTION dbkit.tenant_lookup(tenant text)
  RETURNS TABLE (id uuid, slug text, status text, strategy text, schema_name text)
  LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $lookup$
    SELECT t.id, t.slug, t.status, t.strategy, t.schema_name FROM dbkit.tenants t
     WHERE CASE WHEN tenant ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
                THEN t.id = tenant::uuid ELSE t.slug = tenant END
  $lookup$;
REVOKE ALL ON FUNCTION dbkit.tenant_lookup(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dbkit.tenant_lookup(text) TO PUBLIC;
GRANT USAGE ON SCHEMA dbkit TO PUBLIC`

/** Creates (or brings up to date) the registry and its lookup function; idempotent, safe against concurrent callers. */
export const ensure: Effect.Effect<void, SqlError, SqlClient.SqlClient> = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const probe =
    `SELECT to_regclass('dbkit.tenants') IS NOT NULL AND to_regprocedure('dbkit.tenant_lookup(text)') IS NOT NULL
      AND EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = to_regclass('dbkit.tenants') AND conname = 'tenants_attributes_shape') AS e`
  const [found] = yield* sql.unsafe<{ e: boolean }>(probe)
  if (found?.e) return
  yield* sql.withTransaction(
    Effect.gen(function*() {
      yield* sql`SELECT pg_advisory_xact_lock(hashtext('dbkit.tenants'))`
      const [again] = yield* sql.unsafe<{ e: boolean }>(probe)
      if (again?.e) return
      yield* sql.unsafe(DDL)
      yield* sql.unsafe(UPGRADE)
      yield* sql.unsafe(LOOKUP)
    })
  )
})

interface Row {
  readonly id: string
  readonly slug: string
  readonly name: string
  readonly strategy: Strategy
  readonly schema_name: string | null
  readonly status: TenantStatus
  readonly shard: string
  readonly domain: string | null
  readonly plan: string | null
  readonly metadata: Record<string, unknown> | string | null
  readonly created_at: Date | string
  readonly migration_state: MigrationState | null
  readonly migration_error: string | null
  readonly migrated_at: Date | string | null
}

const iso = (value: Date | string | null) => (value === null ? null : new Date(value).toISOString())

export const fromRow = (row: Row): Tenant => ({
  id: row.id,
  slug: row.slug,
  name: row.name,
  strategy: row.strategy,
  schema: row.schema_name,
  status: row.status,
  shard: row.shard,
  domain: row.domain,
  plan: row.plan,
  metadata: typeof row.metadata === "string" ? JSON.parse(row.metadata) : (row.metadata ?? {}),
  createdAt: iso(row.created_at)!,
  migration: row.migration_state === null
    ? null
    : { state: row.migration_state, error: row.migration_error, at: iso(row.migrated_at) }
})

export const COLUMNS =
  "id::text AS id, slug, name, strategy, schema_name, status, shard, domain, plan, metadata, created_at, migration_state, migration_error, migrated_at"

/** Every tenant, by slug (the registry must exist: see `ensure`). */
export const all = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const rows = yield* sql.unsafe<Row>(`SELECT ${COLUMNS} FROM dbkit.tenants ORDER BY slug`)
  return rows.map(fromRow)
})

/** How `find` matches `tenant` against dbkit.tenants: the condition (on `$1`) and the parameter. */
export const lookupBy = (tenant: string): readonly [where: string, key: string] =>
  isUuid(tenant)
    ? ["id = $1::uuid", tenant]
    : tenant.includes(".")
    ? ["domain = $1", tenant.toLowerCase()]
    : ["slug = $1", tenant]

/**
 * One tenant by id, slug or domain — a uuid is an id, a name with a dot a domain (slugs have
 * none), anything else a slug; always a bound parameter (the registry must exist). The one
 * lookup every command's `--tenant` goes through.
 */
export const find = (tenant: string) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const [where, key] = lookupBy(tenant)
    const rows = yield* sql.unsafe<Row>(`SELECT ${COLUMNS} FROM dbkit.tenants WHERE ${where}`, [key])
    return rows[0] ? fromRow(rows[0]) : undefined
  })

/**
 * Records a tenant's `migrate-all` outcome. Its commit does not wait for the WAL flush: the
 * record only steers `--resume`, and one lost in a crash makes that tenant run again (and be
 * found up to date) — not worth a disk flush per tenant.
 */
export const recordMigration = (id: string, state: MigrationState, error: string | null) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql.withTransaction(
      Effect.zipRight(
        sql`SET LOCAL synchronous_commit = off`,
        sql`UPDATE dbkit.tenants SET migration_state = ${state}, migration_error = ${error},
              migrated_at = CASE WHEN ${state} = 'pending' THEN migrated_at ELSE now() END, updated_at = now()
            WHERE id = ${id}::uuid`
      )
    ))
