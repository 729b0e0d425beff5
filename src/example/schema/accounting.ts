/**
 * Accounting: customers, the chart of accounts, invoices with their lines,
 * and payments. Every table is tenant-owned and isolated by RLS.
 */
import { sql } from "drizzle-orm"
import {
  type AnyPgColumn,
  char,
  check,
  date,
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
  (t) => [tenantIndex("customers", t.tenantId), tenantIsolation()]
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
    parentId: uuid("parent_id").references((): AnyPgColumn => accounts.id, { onDelete: "restrict" }),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow()
  },
  (t) => [
    unique("accounts_tenant_id_code_unique").on(t.tenantId, t.code),
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
    customerId: uuid("customer_id")
      .notNull()
      .references(() => customers.id, { onDelete: "restrict" }),
    status: invoiceStatus("status").notNull().default("draft"),
    issueDate: date("issue_date").notNull(),
    dueDate: date("due_date").notNull(),
    currency: char("currency", { length: 3 }).notNull(),
    total: numeric("total", { precision: 14, scale: 2 }).notNull().default("0"),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow()
  },
  (t) => [
    unique("invoices_tenant_id_number_unique").on(t.tenantId, t.number),
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
    invoiceId: uuid("invoice_id")
      .notNull()
      .references(() => invoices.id, { onDelete: "cascade" }),
    description: text("description").notNull(),
    quantity: numeric("quantity").notNull().default("1"),
    unitPrice: numeric("unit_price", { precision: 14, scale: 2 }).notNull(),
    amount: numeric("amount", { precision: 14, scale: 2 }).notNull(),
    accountId: uuid("account_id")
      .notNull()
      .references(() => accounts.id, { onDelete: "restrict" })
  },
  (t) => [
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
    invoiceId: uuid("invoice_id")
      .notNull()
      .references(() => invoices.id, { onDelete: "restrict" }),
    amount: numeric("amount", { precision: 14, scale: 2 }).notNull(),
    paidAt: timestamp("paid_at", { withTimezone: true }).notNull().defaultNow(),
    method: paymentMethod("method").notNull()
  },
  (t) => [
    tenantIndex("payments", t.tenantId),
    index("payments_invoice_id_idx").on(t.invoiceId),
    check("payments_amount_positive", sql`amount > 0`),
    tenantIsolation()
  ]
)
