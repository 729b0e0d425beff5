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

/**
 * The current tenant: the `app.tenant_id` setting, only when this transaction set it (withTenant
 * stamps it with the transaction's start time in `app.tenant_id_xact`); NULL otherwise — unset,
 * '', or a session-level `SET` that a misbehaving client left on a pooled connection, which
 * behind a transaction pooler would otherwise reach the next client. Migration 0007 creates it.
 */
export const currentTenantId = sql`app_current_tenant()`

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
