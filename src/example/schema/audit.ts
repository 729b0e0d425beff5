/**
 * Audit trail: one row per data change, per tenant (who, what, which row,
 * which columns). Tenant-owned and isolated by RLS like the other tables.
 */
import { bigint, index, pgTable, text, timestamp } from "drizzle-orm/pg-core"
import { tenantId, tenantIndex, tenantIsolation } from "./tenancy.js"

export const auditLog = pgTable(
  "audit_log",
  {
    id: bigint("id", { mode: "bigint" }).primaryKey().generatedAlwaysAsIdentity(),
    tenantId: tenantId(),
    actor: text("actor").notNull(),
    action: text("action").notNull(),
    tableName: text("table_name").notNull(),
    rowKey: text("row_key").notNull(),
    changedColumns: text("changed_columns").array().notNull().default([]),
    at: timestamp("at", { withTimezone: true }).notNull().defaultNow()
  },
  (t) => [
    tenantIndex("audit_log", t.tenantId),
    index("audit_log_tenant_id_at_idx").on(t.tenantId, t.at),
    tenantIsolation()
  ]
)
