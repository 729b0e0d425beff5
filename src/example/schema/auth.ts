/**
 * Users and access control: tenant users, roles (global when tenant_id is NULL,
 * otherwise tenant-defined), global permissions, and the join tables.
 */
import { sql } from "drizzle-orm"
import { foreignKey, index, pgPolicy, pgTable, primaryKey, text, timestamp, unique, uuid } from "drizzle-orm/pg-core"
import { appRole, currentTenantId, organizations, tenantId, tenantIndex, tenantIsolation } from "./tenancy.js"

export const users = pgTable(
  "users",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    tenantId: tenantId(),
    email: text("email").notNull(),
    name: text("name").notNull(),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow()
  },
  (t) => [
    unique("users_tenant_id_email_unique").on(t.tenantId, t.email),
    unique("users_tenant_id_id_unique").on(t.tenantId, t.id),
    tenantIndex("users", t.tenantId),
    tenantIsolation()
  ]
)

/** Global reference data: no tenant_id, read-only for the app role. */
export const permissions = pgTable("permissions", {
  id: uuid("id").primaryKey().defaultRandom(),
  key: text("key").notNull().unique("permissions_key_unique"),
  description: text("description").notNull().default("")
})

/**
 * Roles: tenant_id NULL = a global role every tenant can see (read-only);
 * otherwise a tenant's own role. Not in `tenantTables` because tenant_id is nullable.
 */
export const roles = pgTable(
  "roles",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    tenantId: uuid("tenant_id").references(() => organizations.id, { onDelete: "cascade" }),
    name: text("name").notNull(),
    description: text("description").notNull().default(""),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow()
  },
  (t) => [
    unique("roles_tenant_id_name_unique").on(t.tenantId, t.name).nullsNotDistinct(),
    tenantIndex("roles", t.tenantId),
    pgPolicy("roles_visible", {
      as: "permissive",
      for: "select",
      to: appRole,
      using: sql`tenant_id is null or tenant_id = ${currentTenantId}`
    }),
    tenantIsolation()
  ]
)

/** Permissions granted to a role; writable only for the current tenant's own roles. */
export const rolePermissions = pgTable(
  "role_permissions",
  {
    roleId: uuid("role_id")
      .notNull()
      .references(() => roles.id, { onDelete: "cascade" }),
    permissionId: uuid("permission_id")
      .notNull()
      .references(() => permissions.id, { onDelete: "cascade" })
  },
  (t) => [
    primaryKey({ name: "role_permissions_pk", columns: [t.roleId, t.permissionId] }),
    index("role_permissions_permission_id_idx").on(t.permissionId),
    pgPolicy("role_permissions_visible", {
      as: "permissive",
      for: "select",
      to: appRole,
      using: sql`exists (select 1 from roles r where r.id = role_id)`
    }),
    pgPolicy("tenant_isolation", {
      as: "permissive",
      for: "all",
      to: appRole,
      using: sql`exists (select 1 from roles r where r.id = role_id and r.tenant_id = ${currentTenantId})`,
      withCheck: sql`exists (select 1 from roles r where r.id = role_id and r.tenant_id = ${currentTenantId})`
    })
  ]
)

export const userRoles = pgTable(
  "user_roles",
  {
    tenantId: tenantId(),
    userId: uuid("user_id").notNull(),
    // Not tenant-safe: roles.tenant_id is NULL for global roles, so (tenant_id, role_id) cannot
    // reference roles; a role of another tenant is kept out by the application, not by this key.
    roleId: uuid("role_id")
      .notNull()
      .references(() => roles.id, { onDelete: "cascade" })
  },
  (t) => [
    primaryKey({ name: "user_roles_pk", columns: [t.userId, t.roleId] }),
    // Tenant-safe: the user must belong to the row's tenant (see accounting.ts).
    foreignKey({
      name: "user_roles_tenant_id_user_id_fk",
      columns: [t.tenantId, t.userId],
      foreignColumns: [users.tenantId, users.id]
    }).onDelete("cascade"),
    tenantIndex("user_roles", t.tenantId),
    index("user_roles_role_id_idx").on(t.roleId),
    tenantIsolation()
  ]
)
