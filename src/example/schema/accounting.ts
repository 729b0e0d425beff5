/**
 * Accounting: customers, the chart of accounts, invoices with their lines,
 * and payments. Every table is tenant-owned and isolated by RLS.
 *
 * Tenant-safe keys: a reference from one of these tables to another is a composite
 * `(tenant_id, x_id) → (tenant_id, id)` foreign key onto the parent's `UNIQUE (tenant_id, id)`,
 * so a row can only reference a row of its own tenant. Foreign-key checks ignore RLS, so a
 * single-column key would let tenant A point at (and pin) tenant B's rows (migrations 0005–0006).
 */
import { sql } from "drizzle-orm"
import {
  char,
  check,
  date,
  foreignKey,
  index,
  numeric,
  pgEnum,
  pgTable,
  text,
  timestamp,
  unique,
  uuid
} from "drizzle-orm/pg-core"
import { tenantId, tenantIndex, tenantIsolation } from "./tenancy.js"

export const accountType = pgEnum("account_type", ["asset", "liability", "equity", "revenue", "expense"])
export const invoiceStatus = pgEnum("invoice_status", ["draft", "issued", "paid", "void"])
export const paymentMethod = pgEnum("payment_method", ["bank_transfer", "card", "cash", "check", "other"])

export const customers = pgTable(
  "customers",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    tenantId: tenantId(),
    name: text("name").notNull(),
    email: text("email"),
    phone: text("phone"),
    address: text("address"),
    /** Encrypted in the application (src/privacy/fieldCrypto.ts): `enc:v1:<key id>:…`. */
    taxId: text("tax_id"),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow()
  },
  (t) => [
    unique("customers_tenant_id_id_unique").on(t.tenantId, t.id),
    tenantIndex("customers", t.tenantId),
    tenantIsolation()
  ]
)

/** Chart of accounts; `parent_id` builds the account tree. */
export const accounts = pgTable(
  "accounts",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    tenantId: tenantId(),
    code: text("code").notNull(),
    name: text("name").notNull(),
    type: accountType("type").notNull(),
    parentId: uuid("parent_id"),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow()
  },
  (t) => [
    unique("accounts_tenant_id_code_unique").on(t.tenantId, t.code),
    unique("accounts_tenant_id_id_unique").on(t.tenantId, t.id),
    foreignKey({
      name: "accounts_tenant_id_parent_id_fk",
      columns: [t.tenantId, t.parentId],
      foreignColumns: [t.tenantId, t.id]
    }).onDelete("restrict"),
    tenantIndex("accounts", t.tenantId),
    index("accounts_parent_id_idx").on(t.parentId),
    tenantIsolation()
  ]
)

export const invoices = pgTable(
  "invoices",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    tenantId: tenantId(),
    number: text("number").notNull(),
    customerId: uuid("customer_id").notNull(),
    status: invoiceStatus("status").notNull().default("draft"),
    issueDate: date("issue_date").notNull(),
    dueDate: date("due_date").notNull(),
    currency: char("currency", { length: 3 }).notNull(),
    total: numeric("total", { precision: 14, scale: 2 }).notNull().default("0"),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow()
  },
  (t) => [
    unique("invoices_tenant_id_number_unique").on(t.tenantId, t.number),
    unique("invoices_tenant_id_id_unique").on(t.tenantId, t.id),
    foreignKey({
      name: "invoices_tenant_id_customer_id_fk",
      columns: [t.tenantId, t.customerId],
      foreignColumns: [customers.tenantId, customers.id]
    }).onDelete("restrict"),
    tenantIndex("invoices", t.tenantId),
    index("invoices_customer_id_idx").on(t.customerId),
    check("invoices_due_after_issue", sql`due_date >= issue_date`),
    tenantIsolation()
  ]
)

export const invoiceLines = pgTable(
  "invoice_lines",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    tenantId: tenantId(),
    invoiceId: uuid("invoice_id").notNull(),
    description: text("description").notNull(),
    quantity: numeric("quantity").notNull().default("1"),
    unitPrice: numeric("unit_price", { precision: 14, scale: 2 }).notNull(),
    amount: numeric("amount", { precision: 14, scale: 2 }).notNull(),
    accountId: uuid("account_id").notNull()
  },
  (t) => [
    foreignKey({
      name: "invoice_lines_tenant_id_invoice_id_fk",
      columns: [t.tenantId, t.invoiceId],
      foreignColumns: [invoices.tenantId, invoices.id]
    }).onDelete("cascade"),
    foreignKey({
      name: "invoice_lines_tenant_id_account_id_fk",
      columns: [t.tenantId, t.accountId],
      foreignColumns: [accounts.tenantId, accounts.id]
    }).onDelete("restrict"),
    tenantIndex("invoice_lines", t.tenantId),
    index("invoice_lines_invoice_id_idx").on(t.invoiceId),
    index("invoice_lines_account_id_idx").on(t.accountId),
    tenantIsolation()
  ]
)

export const payments = pgTable(
  "payments",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    tenantId: tenantId(),
    invoiceId: uuid("invoice_id").notNull(),
    amount: numeric("amount", { precision: 14, scale: 2 }).notNull(),
    paidAt: timestamp("paid_at", { withTimezone: true }).notNull().defaultNow(),
    method: paymentMethod("method").notNull()
  },
  (t) => [
    foreignKey({
      name: "payments_tenant_id_invoice_id_fk",
      columns: [t.tenantId, t.invoiceId],
      foreignColumns: [invoices.tenantId, invoices.id]
    }).onDelete("restrict"),
    tenantIndex("payments", t.tenantId),
    index("payments_invoice_id_idx").on(t.invoiceId),
    check("payments_amount_positive", sql`amount > 0`),
    tenantIsolation()
  ]
)
