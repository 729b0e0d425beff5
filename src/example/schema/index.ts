/**
 * The reference application schema (multi-tenant accounting app): every table,
 * enum and the application role, plus `tenantTables`, the tables that carry a
 * NOT NULL `tenant_id` and the standard `tenant_isolation` RLS policy.
 * drizzle.config.ts points drizzle-kit here.
 */
import { accounts, customers, invoiceLines, invoices, payments } from "./accounting.js"
import { auditLog } from "./audit.js"
import { userRoles, users } from "./auth.js"

export * from "./accounting.js"
export * from "./audit.js"
export * from "./auth.js"
export * from "./tenancy.js"

/** Tables with `tenant_id uuid not null` (roles is excluded: its tenant_id is nullable). */
export const tenantTables = [
  users,
  userRoles,
  customers,
  accounts,
  invoices,
  invoiceLines,
  payments,
  auditLog
] as const
