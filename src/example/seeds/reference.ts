/**
 * Reference data: safe in production, idempotent, run on every `dbkit seed`.
 *
 * Every statement is an upsert (INSERT … ON CONFLICT), so a second run changes nothing and a
 * changed description is brought up to date. Ids are derived from the natural key (md5 of a
 * fixed label), not drawn at random, so the same rows have the same ids in every database and
 * timestamps are fixed dates, never now(): reference data is byte-identical everywhere.
 *
 * Each returns the rows its data holds (an upsert's affected count would be 0 on every run after
 * the first), which is what `seed list` shows for it.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { type Seed, Seeder } from "dbkit"
import * as Effect from "effect/Effect"
import { targetOrganizations } from "./shared.js"

/** The application's permissions: key and what it allows. */
export const permissionList: ReadonlyArray<{ readonly key: string; readonly description: string }> = [
  { key: "invoices.read", description: "View invoices and their lines" },
  { key: "invoices.write", description: "Create and edit draft invoices" },
  { key: "invoices.approve", description: "Issue and void invoices" },
  { key: "payments.read", description: "View payments received" },
  { key: "payments.write", description: "Record and correct payments" },
  { key: "customers.read", description: "View customers" },
  { key: "customers.write", description: "Create and edit customers" },
  { key: "accounts.read", description: "View the chart of accounts" },
  { key: "accounts.write", description: "Create and edit accounts in the chart of accounts" },
  { key: "users.manage", description: "Invite and remove users and assign their roles" },
  { key: "audit.read", description: "Read the audit log" },
  { key: "settings.manage", description: "Change the organization's settings" }
]

/** The global roles (tenant_id NULL) every organization can assign. */
export const roleList: ReadonlyArray<{ readonly name: string; readonly description: string }> = [
  { name: "owner", description: "Owns the organization: every permission, including users and settings" },
  { name: "admin", description: "Administers the organization: every permission" },
  { name: "accountant", description: "Keeps the books: reads and writes invoices, payments, customers and accounts" },
  { name: "viewer", description: "Reads everything, changes nothing" }
]

const allKeys = permissionList.map((p) => p.key)

/** Which permissions each global role has. */
export const rolePermissionList: ReadonlyArray<{ readonly role: string; readonly permission: string }> = [
  ...allKeys.map((permission) => ({ role: "owner", permission })),
  ...allKeys.map((permission) => ({ role: "admin", permission })),
  ...["invoices", "payments", "customers", "accounts"].flatMap((area) =>
    ["read", "write"].map((verb) => ({ role: "accountant", permission: `${area}.${verb}` }))
  ),
  ...allKeys.filter((key) => key.endsWith(".read")).map((permission) => ({ role: "viewer", permission }))
]

export type AccountType = "asset" | "liability" | "equity" | "revenue" | "expense"

/** A small standard chart of accounts: five roots by type, their children one level down. */
export const chartOfAccountsList: ReadonlyArray<{
  readonly code: string
  readonly name: string
  readonly type: AccountType
  readonly parent: string | null
}> = [
  { code: "1000", name: "Assets", type: "asset", parent: null },
  { code: "1100", name: "Cash and bank", type: "asset", parent: "1000" },
  { code: "1200", name: "Accounts receivable", type: "asset", parent: "1000" },
  { code: "1300", name: "Inventory", type: "asset", parent: "1000" },
  { code: "1500", name: "Fixed assets", type: "asset", parent: "1000" },
  { code: "2000", name: "Liabilities", type: "liability", parent: null },
  { code: "2100", name: "Accounts payable", type: "liability", parent: "2000" },
  { code: "2200", name: "VAT payable", type: "liability", parent: "2000" },
  { code: "2300", name: "Accrued expenses", type: "liability", parent: "2000" },
  { code: "2500", name: "Loans", type: "liability", parent: "2000" },
  { code: "3000", name: "Equity", type: "equity", parent: null },
  { code: "3100", name: "Share capital", type: "equity", parent: "3000" },
  { code: "3200", name: "Retained earnings", type: "equity", parent: "3000" },
  { code: "4000", name: "Revenue", type: "revenue", parent: null },
  { code: "4100", name: "Product sales", type: "revenue", parent: "4000" },
  { code: "4200", name: "Service revenue", type: "revenue", parent: "4000" },
  { code: "4300", name: "Subscription revenue", type: "revenue", parent: "4000" },
  { code: "4900", name: "Other income", type: "revenue", parent: "4000" },
  { code: "5000", name: "Expenses", type: "expense", parent: null },
  { code: "5100", name: "Cost of goods sold", type: "expense", parent: "5000" },
  { code: "5200", name: "Salaries and wages", type: "expense", parent: "5000" },
  { code: "5300", name: "Rent", type: "expense", parent: "5000" },
  { code: "5400", name: "Software and subscriptions", type: "expense", parent: "5000" },
  { code: "5500", name: "Travel", type: "expense", parent: "5000" },
  { code: "5600", name: "Professional fees", type: "expense", parent: "5000" },
  { code: "5900", name: "Bank fees", type: "expense", parent: "5000" }
]

/** The chart in levels: roots first, then their children, so each level finds its parents. */
const chartLevels = (() => {
  const levels: Array<Array<(typeof chartOfAccountsList)[number]>> = []
  const depth = new Map<string, number>()
  const depthOf = (code: string): number => {
    const known = depth.get(code)
    if (known !== undefined) return known
    const account = chartOfAccountsList.find((a) => a.code === code)
    const d = account?.parent == null ? 0 : depthOf(account.parent) + 1
    depth.set(code, d)
    return d
  }
  for (const account of chartOfAccountsList) (levels[depthOf(account.code)] ??= []).push(account)
  return levels
})()

/** Reference rows carry this date instead of now(), so they are the same in every database. */
const REFERENCE_CREATED_AT = "2025-01-01T00:00:00Z"

export const permissions: Seed = Seeder.make({
  name: "permissions",
  profile: "reference",
  description: "The application's permissions (upserted by key)",
  expects: () => ({ permissions: permissionList.length }),
  run: () =>
    Effect.flatMap(SqlClient.SqlClient, (sql) =>
      sql`
        INSERT INTO permissions (id, key, description)
        SELECT md5('dbkit/permission/' || p.key)::uuid, p.key, p.description
          FROM json_to_recordset(${JSON.stringify(permissionList)}::json) AS p(key text, description text)
        ON CONFLICT (key) DO UPDATE SET description = EXCLUDED.description
          WHERE permissions.description IS DISTINCT FROM EXCLUDED.description`.pipe(Effect.as(permissionList.length)))
})

export const roles: Seed = Seeder.make({
  name: "roles",
  profile: "reference",
  description: "Global roles owner, admin, accountant, viewer and their permissions",
  dependsOn: ["permissions"],
  expects: () => ({ roles: roleList.length, role_permissions: rolePermissionList.length }),
  run: () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      // roles_tenant_id_name_unique is UNIQUE NULLS NOT DISTINCT, so it is an arbiter for global
      // roles (tenant_id NULL) too.
      yield* sql`
        INSERT INTO roles (id, tenant_id, name, description, created_at)
        SELECT md5('dbkit/role/' || r.name)::uuid, NULL, r.name, r.description, ${REFERENCE_CREATED_AT}::timestamptz
          FROM json_to_recordset(${JSON.stringify(roleList)}::json) AS r(name text, description text)
        ON CONFLICT (tenant_id, name) DO UPDATE SET description = EXCLUDED.description
          WHERE roles.description IS DISTINCT FROM EXCLUDED.description`
      yield* sql`
        INSERT INTO role_permissions (role_id, permission_id)
        SELECT r.id, p.id
          FROM json_to_recordset(${JSON.stringify(rolePermissionList)}::json) AS m(role text, permission text)
          JOIN roles r ON r.tenant_id IS NULL AND r.name = m.role
          JOIN permissions p ON p.key = m.permission
        ON CONFLICT DO NOTHING`
      return roleList.length + rolePermissionList.length
    })
})

export const chartOfAccounts: Seed = Seeder.make({
  name: "chart_of_accounts",
  profile: "reference",
  description: "A standard chart of accounts for every organization (or the --tenant one)",
  // Orders it after generated organizations when both run; in production `organizations` is
  // not selected, and a dependency that is declared but not selected only orders.
  dependsOn: ["organizations"],
  run: (context) =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const targets = yield* targetOrganizations(context.tenant)
      if (targets.length === 0) return 0
      const ids = JSON.stringify(targets.map((t) => t.id))
      // Level by level, so a child finds its parent (existing or just inserted) by code; an
      // account the organization already has keeps its name and place (the chart is theirs).
      for (const level of chartLevels) {
        yield* sql`
          INSERT INTO accounts (id, tenant_id, code, name, type, parent_id, created_at)
          SELECT md5(o.id::text || '/account/' || a.code)::uuid, o.id, a.code, a.name, a.type::account_type,
                 (SELECT p.id FROM accounts p WHERE p.tenant_id = o.id AND p.code = a.parent), o.created_at
            FROM organizations o
            CROSS JOIN json_to_recordset(${
          JSON.stringify(level)
        }::json) AS a(code text, name text, type text, parent text)
           WHERE o.id IN (SELECT value::uuid FROM json_array_elements_text(${ids}::json))
          ON CONFLICT (tenant_id, code) DO NOTHING`
      }
      return targets.length * chartOfAccountsList.length
    })
})

/** The reference seeds in declaration order. */
export const referenceProfileSeeds: ReadonlyArray<Seed> = [permissions, roles, chartOfAccounts]
