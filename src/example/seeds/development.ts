/**
 * Development data: organizations with their users, customers, invoices, lines and payments —
 * generated, deterministic, never in production, run once.
 *
 * Everything is drawn from the seed's `Random`: ids, names, dates (from fixed base dates, never
 * the clock) and amounts (integer cents, so every total is the exact sum of its lines). Each
 * organization gets its own sequence (`random.fork(slug)`), so its data does not depend on the
 * other organizations, on their order, or on `--tenant`; and a generator that runs twice from
 * the same fork yields the same rows, which is how invoices, their lines and their payments are
 * written by three COPYs without holding them in memory.
 *
 * An organization that already holds rows of a kind is skipped for that kind, so a `--tenant`
 * run over a generated organization, or a full run after a `--tenant` run, adds no duplicates.
 * Every organization is registered as a tenant (dbkit.tenants, same id and slug) in the same
 * transaction that writes it: seeding and `tenant provision` keep one registry.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { type CopyValue, Random, registerTenant, type Seed, Seeder } from "dbkit"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import {
  BASE_2024,
  BASE_2025,
  dateText,
  DAY_MS,
  flatMapRows,
  MissingPrerequisite,
  money,
  sizes,
  type TargetOrganization,
  targetOrganizations
} from "./shared.js"

type Row = ReadonlyArray<CopyValue>

// ---------------------------------------------------------------------------------------------
// organizations

type OrganizationStatus = "active" | "suspended" | "archived"

interface GeneratedOrganization {
  readonly id: string
  readonly slug: string
  readonly name: string
  readonly status: OrganizationStatus
  readonly createdAt: Date
}

/** Organization `index` (0-based): the same at every scale, its slug made unique by the index. */
export const generatedOrganization = (random: Random.Random, index: number): GeneratedOrganization => {
  const r = random.fork(`organization/${index}`)
  const name = Random.companyName(r)
  const roll = r.next()
  return {
    id: r.uuid(),
    slug: `${Random.slugOf(name)}-${index + 1}`,
    name,
    status: roll < 0.85 ? "active" : roll < 0.95 ? "suspended" : "archived",
    createdAt: r.date(new Date(BASE_2024), 365)
  }
}

/** The organization `--tenant SLUG` creates when it is missing: "acme-trading" → "Acme Trading". */
export const tenantOrganization = (random: Random.Random, slug: string): GeneratedOrganization => {
  const r = random.fork(`tenant/${slug}`)
  const name = slug.split(/[^A-Za-z0-9]+/).filter((w) => w !== "").map((w) => w[0]!.toUpperCase() + w.slice(1)).join(
    " "
  )
  return {
    id: r.uuid(),
    slug,
    name: name === "" ? slug : name,
    status: "active",
    createdAt: r.date(new Date(BASE_2024), 365)
  }
}

export const organizations: Seed = Seeder.make({
  name: "organizations",
  profile: "development",
  description: "5 × scale organizations (or the --tenant one), mostly active",
  tables: ["organizations"],
  expects: (scale) => ({ organizations: sizes.organizations(scale) }),
  run: (context) =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const existing = new Set((yield* sql<{ slug: string }>`SELECT slug FROM organizations`).map((r) => r.slug))
      const wanted = Option.match(context.tenant, {
        onSome: (slug) => [tenantOrganization(context.random, slug)],
        onNone: () =>
          Array.from({ length: sizes.organizations(context.scale) }, (_, i) => generatedOrganization(context.random, i))
      })
      const rows = wanted
        .filter((o) => !existing.has(o.slug))
        .map((o): Row => [o.id, o.slug, o.name, o.status, o.createdAt])
      yield* context.copy("organizations", ["id", "slug", "name", "status", "created_at"], rows)
      // One registry: each organization is a tenant, registered with the same id and slug in this
      // seed's transaction (so `tenant list`, `audit report --tenant` and withTenant know it), or neither.
      const seeded = yield* sql<{ id: string; slug: string; name: string }>`
        SELECT id::text AS id, slug, name FROM organizations WHERE slug IN ${sql.in(wanted.map((o) => o.slug))}
         ORDER BY slug`
      for (const o of seeded) yield* registerTenant({ id: o.id, slug: o.slug, name: o.name, strategy: "rls" })
    })
})

// ---------------------------------------------------------------------------------------------
// users and their roles

interface GeneratedUser {
  readonly user: Row
  readonly roles: ReadonlyArray<Row>
}

/** 3–8 users on the organization's domain, unique emails; the first is its one owner. */
export const usersOf = (
  org: TargetOrganization,
  r: Random.Random,
  roleIds: ReadonlyMap<string, string>
): ReadonlyArray<GeneratedUser> => {
  const n = r.int(sizes.usersPerOrganization.min, sizes.usersPerOrganization.max)
  const emails = new Set<string>()
  const users: Array<GeneratedUser> = []
  for (let i = 0; i < n; i++) {
    const id = r.uuid()
    const name = Random.personName(r)
    let email = Random.emailOf(name, org.slug)
    for (let k = 2; emails.has(email); k++) email = Random.emailOf(name, org.slug, k)
    emails.add(email)
    const createdAt = r.date(new Date(org.createdMs), 90)
    const role = i === 0 ? "owner" : i === 1 && n >= 5 ? "admin" : r.bool(0.6) ? "accountant" : "viewer"
    users.push({ user: [id, org.id, email, name, createdAt], roles: [[org.id, id, roleIds.get(role)!]] })
  }
  return users
}

const globalRoleIds = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const rows = yield* sql<{ id: string; name: string }>`SELECT id::text AS id, name FROM roles WHERE tenant_id IS NULL`
  const ids = new Map(rows.map((r) => [r.name, r.id]))
  for (const name of ["owner", "admin", "accountant", "viewer"]) {
    if (!ids.has(name)) {
      return yield* new MissingPrerequisite({ what: `global role ${name}`, hint: "run the reference seed roles first" })
    }
  }
  return ids as ReadonlyMap<string, string>
})

export const users: Seed = Seeder.make({
  name: "users",
  profile: "development",
  description: "3–8 users per organization on its domain, one owner each, with global roles",
  dependsOn: ["organizations", "roles"],
  tables: ["user_roles", "users"],
  expects: (scale) => ({
    users: sizes.organizations(scale) * sizes.usersPerOrganization.min,
    user_roles: sizes.organizations(scale) * sizes.usersPerOrganization.min
  }),
  run: (context) =>
    Effect.gen(function*() {
      const targets = (yield* targetOrganizations(context.tenant, "users")).filter((o) => !o.populated)
      const roleIds = yield* globalRoleIds
      const generate = (org: TargetOrganization) => usersOf(org, context.random.fork(org.slug), roleIds)
      yield* context.copy(
        "users",
        ["id", "tenant_id", "email", "name", "created_at"],
        flatMapRows(targets, (org) => generate(org).map((u) => u.user))
      )
      yield* context.copy(
        "user_roles",
        ["tenant_id", "user_id", "role_id"],
        flatMapRows(targets, (org) => generate(org).flatMap((u) => u.roles))
      )
    })
})

// ---------------------------------------------------------------------------------------------
// customers

/** Customers of one organization: mostly companies, some people, a few without an email. */
export function* customersOf(org: TargetOrganization, r: Random.Random, n: number): Generator<Row> {
  for (let i = 0; i < n; i++) {
    const id = r.uuid()
    const company = r.bool(0.7)
    const name = company ? Random.companyName(r) : Random.personName(r)
    const email = r.bool(0.1)
      ? null
      : company
      ? Random.emailOf("accounts", Random.slugOf(name))
      : Random.emailOf(name, "mail", r.int(1, 99))
    yield [id, org.id, name, email, r.date(new Date(org.createdMs), 180)]
  }
}

export const customers: Seed = Seeder.make({
  name: "customers",
  profile: "development",
  description: "100 × scale customers, about 20 per organization (a --tenant run: 20 × scale for it)",
  dependsOn: ["organizations"],
  tables: ["customers"],
  expects: (scale) => ({ customers: sizes.organizations(scale) * sizes.customersPerOrganization(scale) }),
  run: (context) =>
    Effect.gen(function*() {
      const targets = (yield* targetOrganizations(context.tenant, "customers")).filter((o) => !o.populated)
      const n = sizes.customersPerOrganization(context.scale, Option.isSome(context.tenant))
      yield* context.copy(
        "customers",
        ["id", "tenant_id", "name", "email", "created_at"],
        flatMapRows(targets, (org) => customersOf(org, context.random.fork(org.slug), n))
      )
    })
})

// ---------------------------------------------------------------------------------------------
// invoices, invoice lines, payments

type InvoiceStatus = "draft" | "issued" | "paid" | "void"
type PaymentMethod = "bank_transfer" | "card" | "cash" | "check" | "other"

/** Which revenue account a line item is booked to (when the organization's chart has it). */
const revenueCodeOf: Readonly<Record<string, string>> = {
  "Consulting hours": "4200",
  "Software licence (monthly)": "4300",
  "Support plan": "4300",
  "Hardware maintenance": "4200",
  "Training session": "4200",
  "Cloud hosting": "4300",
  "Design work": "4200",
  "Travel expenses": "4900",
  "Data migration": "4200",
  "Security audit": "4200"
}

export interface InvoiceInputs {
  readonly customerIds: ReadonlyArray<string>
  /** Revenue accounts by code (leaf accounts first choice). */
  readonly revenue: ReadonlyMap<string, string>
  readonly revenueLeaves: ReadonlyArray<string>
}

export interface GeneratedInvoice {
  readonly invoice: Row
  readonly lines: ReadonlyArray<Row>
  readonly payments: ReadonlyArray<Row>
}

const statusFor = (r: Random.Random, dayOfYear: number): InvoiceStatus => {
  const roll = r.next()
  // Recent invoices are more often still open; older ones mostly paid.
  if (dayOfYear >= 330) return roll < 0.3 ? "draft" : roll < 0.85 ? "issued" : roll < 0.97 ? "paid" : "void"
  return roll < 0.04 ? "draft" : roll < 0.26 ? "issued" : roll < 0.94 ? "paid" : "void"
}

const methodFor = (r: Random.Random): PaymentMethod => {
  const roll = r.next()
  return roll < 0.6 ? "bank_transfer" : roll < 0.85 ? "card" : roll < 0.9 ? "check" : roll < 0.95 ? "cash" : "other"
}

/** `total` cents in `parts` positive parts (exactly; the last takes the rest). */
const split = (r: Random.Random, total: number, parts: number): ReadonlyArray<number> => {
  const out: Array<number> = []
  let rest = total
  for (let i = parts - 1; i > 0 && rest > i; i--) {
    const part = Math.min(rest - i, Math.max(1, Math.floor((rest * r.int(25, 60)) / 100)))
    out.push(part)
    rest -= part
  }
  out.push(rest)
  return out
}

/**
 * One organization's invoices in issue order (numbered INV-2025-00001…), each with 1–5 lines
 * and the payments its status implies. Pure over `r`: the same fork gives the same invoices.
 */
export function* invoicesOf(
  org: TargetOrganization,
  r: Random.Random,
  inputs: InvoiceInputs,
  n: number
): Generator<GeneratedInvoice> {
  const currency = r.pick(Random.currencies)
  const spacing = 365 / n
  for (let i = 0; i < n; i++) {
    const id = r.uuid()
    const day = Math.min(364, Math.floor(i * spacing) + r.int(0, Math.max(0, Math.ceil(spacing) - 1)))
    const issue = BASE_2025 + day * DAY_MS
    const terms = r.pick([14, 30, 30, 60] as const)
    const status = statusFor(r, day)
    const customer = r.pick(inputs.customerIds)
    const lineCount = r.int(1, 5)
    const lines: Array<Row> = []
    let total = 0
    for (let l = 0; l < lineCount; l++) {
      const [description, min, max] = r.pick(Random.lineItems)
      const unit = r.int(min * 100, max * 100)
      const quantity = r.int(1, 20)
      const amount = unit * quantity
      total += amount
      const mapped = inputs.revenue.get(revenueCodeOf[description] ?? "")
      const account = mapped ?? r.pick(inputs.revenueLeaves)
      lines.push([r.uuid(), org.id, id, description, quantity, money(unit), money(amount), account])
    }
    const payments: Array<Row> = []
    const pay = (amounts: ReadonlyArray<number>) => {
      let at = issue + r.int(0, 8) * DAY_MS
      for (const amount of amounts) {
        at += r.int(1, terms + 10) * DAY_MS
        payments.push([
          r.uuid(),
          org.id,
          id,
          money(amount),
          new Date(at + r.int(8 * 3_600_000, 18 * 3_600_000)),
          methodFor(r)
        ])
      }
    }
    if (status === "paid") pay(split(r, total, r.bool(0.75) ? 1 : r.int(2, 3)))
    else if (status === "issued" && r.bool(0.25) && total > 1) pay([r.int(1, total - 1)])
    const createdAt = new Date(issue + r.int(8 * 3_600_000, 18 * 3_600_000))
    yield {
      invoice: [
        id,
        org.id,
        `INV-2025-${String(i + 1).padStart(5, "0")}`,
        customer,
        status,
        dateText(issue),
        dateText(issue + terms * DAY_MS),
        currency,
        money(total),
        createdAt
      ],
      lines,
      payments
    }
  }
}

const invoiceInputs = (org: TargetOrganization) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const customerRows = yield* sql<{ id: string }>`
      SELECT id::text AS id FROM customers WHERE tenant_id = ${org.id} ORDER BY id`
    if (customerRows.length === 0) {
      return yield* new MissingPrerequisite({ what: `customers of ${org.slug}`, hint: "run the seed customers first" })
    }
    const accountRows = yield* sql<{ id: string; code: string; leaf: boolean }>`
      SELECT id::text AS id, code, parent_id IS NOT NULL AS leaf FROM accounts
       WHERE tenant_id = ${org.id} AND type = 'revenue' ORDER BY code COLLATE "C"`
    if (accountRows.length === 0) {
      return yield* new MissingPrerequisite({
        what: `revenue accounts of ${org.slug}`,
        hint: "run the reference seed chart_of_accounts first"
      })
    }
    const leaves = accountRows.filter((a) => a.leaf === true || (a.leaf as unknown) === "t")
    return {
      customerIds: customerRows.map((c) => c.id),
      revenue: new Map(accountRows.map((a) => [a.code, a.id])),
      revenueLeaves: (leaves.length > 0 ? leaves : accountRows).map((a) => a.id)
    } satisfies InvoiceInputs
  })

export const invoices: Seed = Seeder.make({
  name: "invoices",
  profile: "development",
  description:
    "250 × scale invoices, about 50 per organization (a --tenant run: 50 × scale for it), with 1–5 lines each and the payments their status implies",
  dependsOn: ["customers", "chart_of_accounts"],
  tables: ["payments", "invoice_lines", "invoices"],
  expects: (scale) => {
    const n = sizes.organizations(scale) * sizes.invoicesPerOrganization(scale)
    return { invoices: n, invoice_lines: n, payments: Math.floor(n / 10) }
  },
  run: (context) =>
    Effect.gen(function*() {
      const targets = (yield* targetOrganizations(context.tenant, "invoices")).filter((o) => !o.populated)
      const n = sizes.invoicesPerOrganization(context.scale, Option.isSome(context.tenant))
      // One organization at a time: its customer ids in memory, its rows streamed by three
      // passes over the same generator.
      for (const org of targets) {
        const inputs = yield* invoiceInputs(org)
        const generate = () => invoicesOf(org, context.random.fork(org.slug), inputs, n)
        yield* context.copy(
          "invoices",
          [
            "id",
            "tenant_id",
            "number",
            "customer_id",
            "status",
            "issue_date",
            "due_date",
            "currency",
            "total",
            "created_at"
          ],
          flatMapRows(generate(), (g) => [g.invoice])
        )
        yield* context.copy(
          "invoice_lines",
          ["id", "tenant_id", "invoice_id", "description", "quantity", "unit_price", "amount", "account_id"],
          flatMapRows(generate(), (g) => g.lines)
        )
        yield* context.copy(
          "payments",
          ["id", "tenant_id", "invoice_id", "amount", "paid_at", "method"],
          flatMapRows(generate(), (g) => g.payments)
        )
      }
    })
})

/** The development seeds in declaration order. */
export const developmentProfileSeeds: ReadonlyArray<Seed> = [organizations, users, customers, invoices]
