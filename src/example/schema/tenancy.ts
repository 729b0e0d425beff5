/**
 * Tenancy: the `organizations` table (the tenants), the application role
 * `dbkit_app`, and the shared helpers every tenant-owned table uses — the
 * `tenant_id` column and the `tenant_isolation` row-level-security policy.
 */
import { sql } from "drizzle-orm"
import { index, type PgColumn, pgEnum, pgPolicy, pgRole, pgTable, text, timestamp, uuid } from "drizzle-orm/pg-core"

/**
 * The role the application connects as (or `SET ROLE`s to). It is cluster-wide,
 * so it is declared `.existing()`: drizzle-kit never emits CREATE ROLE for it.
 * Migration 0000_app_role creates it idempotently instead.
 */
export const appRole = pgRole("dbkit_app").existing()

/** The current tenant, from the `app.tenant_id` setting; NULL when unset or ''. */
export const currentTenantId = sql`nullif(current_setting('app.tenant_id', true), '')::uuid`

/** Row filter for tables that carry a `tenant_id` column. */
export const tenantMatches = sql`tenant_id = ${currentTenantId}`

export const organizationStatus = pgEnum("organization_status", ["active", "suspended", "archived"])

export const organizations = pgTable(
  "organizations",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    slug: text("slug").notNull().unique("organizations_slug_unique"),
    name: text("name").notNull(),
    status: organizationStatus("status").notNull().default("active"),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow()
  },
  () => [
    // The app role may read its own organization only; tenants are managed by the owner role.
    pgPolicy("tenant_self", {
      as: "permissive",
      for: "select",
      to: appRole,
      using: sql`id = ${currentTenantId}`
    })
  ]
)

/** `tenant_id uuid not null references organizations(id) on delete cascade` */
export const tenantId = () =>
  uuid("tenant_id")
    .notNull()
    .references(() => organizations.id, { onDelete: "cascade" })

/** The standard policy: rows are visible and writable only within the current tenant. */
export const tenantIsolation = () =>
  pgPolicy("tenant_isolation", {
    as: "permissive",
    for: "all",
    to: appRole,
    using: tenantMatches,
    withCheck: tenantMatches
  })

/** Index on `tenant_id`, named `<table>_tenant_id_idx`. */
export const tenantIndex = (table: string, column: PgColumn) => index(`${table}_tenant_id_idx`).on(column)
