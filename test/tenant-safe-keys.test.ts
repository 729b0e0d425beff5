// Tenant-safe keys in the reference schema (issue 19): foreign-key checks ignore row-level security,
// so every reference between tenant tables is a composite (tenant_id, x_id) key. As the application
// role inside tenant A, a reference to tenant B's row is refused like a reference to no row at all
// (no existence oracle), B keeps control of its rows, and the same-tenant reference works — on the
// server and on the embedded database. Migrations 0005–0006 (NOT VALID, then VALIDATE) apply to a
// database that already has data, leave status and drift clean, and refuse (rolled back, naming the
// key) a database holding a cross-tenant reference until it is fixed.
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as SqlClient from "@effect/sql/SqlClient"
import { describe, expect, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as path from "node:path"
import * as Config from "../src/Config.js"
import type { Database } from "../src/Database.js"
import { referenceSeeds } from "../src/example/seeds/index.js"
import { layer as seederLayer, Seeder } from "../src/seeder/Seeder.js"
import * as Tenancy from "../src/tenancy/Tenancy.js"
import { backends, tempDir } from "./support/databases.js"
import { withMigrator } from "./support/migrations.js"

const referenceMigrations = path.resolve(import.meta.dirname, "../migrations")
const BEFORE = "0004_audit_triggers"
const TENANT_SAFE = ["0005_tenant_safe_keys", "0006_tenant_safe_keys_validate"]
/** The migration after them (the policies' transaction stamp), pending or applied beside them. */
const STAMP = "0007_tenant_transaction_stamp"
/** A uuid no row has: refusing it must look exactly like refusing another tenant's row. */
const NOBODY = "00000000-0000-4000-8000-000000000019"

/** The composite keys (referencing table, name) and the single-column keys they replace. */
const compositeKeys = [
  ["user_roles", "user_roles_tenant_id_user_id_fk"],
  ["accounts", "accounts_tenant_id_parent_id_fk"],
  ["invoices", "invoices_tenant_id_customer_id_fk"],
  ["invoice_lines", "invoice_lines_tenant_id_invoice_id_fk"],
  ["invoice_lines", "invoice_lines_tenant_id_account_id_fk"],
  ["payments", "payments_tenant_id_invoice_id_fk"]
] as const
const replacedKeys = [
  "user_roles_user_id_users_id_fk",
  "accounts_parent_id_accounts_id_fk",
  "invoices_customer_id_customers_id_fk",
  "invoice_lines_invoice_id_invoices_id_fk",
  "invoice_lines_account_id_accounts_id_fk",
  "payments_invoice_id_invoices_id_fk"
]

const tenancySupport = Layer.merge(
  Config.layerFrom({ environment: "development", backupDir: tempDir("dbkit-tenant-keys-") }),
  NodeContext.layer
)
/** The reference schema migrated, and Tenancy entering tenants as the application role `dbkit_app`. */
const migratedWithTenancy = (base: Layer.Layer<SqlClient.SqlClient | Database>) =>
  Layer.mergeAll(
    Tenancy.layer({ strategy: "rls", role: "dbkit_app", tenantTable: "organizations" }),
    Layer.effectDiscard(Effect.orDie(withMigrator(referenceMigrations, undefined, (m) => m.migrate())))
  ).pipe(Layer.provide(tenancySupport), Layer.provideMerge(base))

const migrate = (to?: string) => withMigrator(referenceMigrations, undefined, (m) => m.migrate({ to }))
const status = withMigrator(referenceMigrations, undefined, (m) => m.status)

/** Runs SQL and returns the rows (text parameters; the server casts them to the column types). */
const run = <A extends object = { id: string }>(text: string, params: ReadonlyArray<unknown> = []) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) => sql.unsafe<A>(text, params))

interface Violation {
  readonly code: string | undefined
  readonly message: string
  readonly detail: string
}
/** SQLSTATE, message and detail of the driver error under an SqlError (pg and PGlite both carry them). */
const violationOf = (error: unknown): Violation => {
  let current: unknown = error
  for (let depth = 0; depth < 4 && current instanceof Error; depth++) {
    const { code, detail } = current as { code?: unknown; detail?: unknown }
    if (typeof code === "string" && /^[0-9A-Z]{5}$/.test(code)) {
      return { code, message: current.message, detail: typeof detail === "string" ? detail : "" }
    }
    current = current.cause
  }
  return { code: undefined, message: String(error), detail: "" }
}

/** The effect must fail with a foreign-key violation (23503) of `constraint`. */
const expectForeignKeyViolation = <A, E, R>(effect: Effect.Effect<A, E, R>, constraint: string) =>
  Effect.gen(function*() {
    const exit = yield* Effect.exit(effect)
    if (Exit.isSuccess(exit)) return expect.fail(`expected ${constraint} to refuse the row, but it was written`)
    const violation = violationOf(yield* Effect.flip(exit))
    expect(violation.code, violation.message).toBe("23503")
    expect(violation.message).toContain(`foreign key constraint "${constraint}"`)
    return violation
  })

/** Every row of the tenant tables, as the superuser sees them, to show a refusal changed nothing. */
const tenantRows = Effect.all(
  ["customers", "accounts", "invoices", "invoice_lines", "payments", "users", "user_roles"].map((table) =>
    run<{ row: string }>(`SELECT t::text AS row FROM ${table} t ORDER BY 1`)
  )
)

interface TenantFixture {
  readonly id: string
  readonly customer: string
  readonly account: string
  readonly invoice: string
  readonly user: string
  readonly role: string
}
/** A tenant with one row in each referenced table, written as that tenant through the policies. */
const tenantWithRows = (tenancy: Tenancy.Tenancy["Type"], slug: string) =>
  Effect.gen(function*() {
    const { tenant } = yield* tenancy.provision(slug, { name: `Tenant ${slug}` })
    const one = (text: string, params: ReadonlyArray<unknown>) => Effect.map(run(text, params), (rows) => rows[0]!.id)
    return yield* tenancy.withTenant(
      tenant.id,
      Effect.gen(function*() {
        const customer = yield* one(
          `INSERT INTO customers (tenant_id, name) VALUES ($1, 'Customer') RETURNING id::text AS id`,
          [tenant.id]
        )
        const account = yield* one(
          `INSERT INTO accounts (tenant_id, code, name, type) VALUES ($1, '4000', 'Sales', 'revenue') RETURNING id::text AS id`,
          [tenant.id]
        )
        const invoice = yield* one(
          `INSERT INTO invoices (tenant_id, number, customer_id, issue_date, due_date, currency)
           VALUES ($1, 'INV-1', $2, '2026-01-01', '2026-01-31', 'EUR') RETURNING id::text AS id`,
          [tenant.id, customer]
        )
        const user = yield* one(
          `INSERT INTO users (tenant_id, email, name) VALUES ($1, $2, 'User') RETURNING id::text AS id`,
          [tenant.id, `user@${slug}.example`]
        )
        const role = yield* one(
          `INSERT INTO roles (tenant_id, name) VALUES ($1, 'clerk') RETURNING id::text AS id`,
          [tenant.id]
        )
        return { id: tenant.id, customer, account, invoice, user, role } satisfies TenantFixture
      })
    )
  })

/** Inserts an invoice of tenant `a` for `customer`, as tenant `a`. */
const invoiceFor = (tenancy: Tenancy.Tenancy["Type"], a: TenantFixture, customer: string, number: string) =>
  tenancy.withTenant(
    a.id,
    run(
      `INSERT INTO invoices (tenant_id, number, customer_id, issue_date, due_date, currency)
       VALUES ($1, $2, $3, '2026-02-01', '2026-02-28', 'EUR') RETURNING id::text AS id`,
      [a.id, number, customer]
    )
  )

/** The foreign keys of these names that exist: how many columns each has and whether it is validated. */
const keysNamed = (names: ReadonlyArray<string>) =>
  run<{ name: string; columns: number; validated: boolean }>(
    `SELECT conname AS name, cardinality(conkey) AS columns, convalidated AS validated
       FROM pg_constraint WHERE contype = 'f' AND conname = ANY($1::text[]) ORDER BY conname`,
    [names]
  )

const withSeeds = Effect.flatMap(Seeder, (seeder) => seeder.run()).pipe(
  Effect.provide(
    seederLayer({ seeds: referenceSeeds }).pipe(Layer.provide(Config.layerFrom({
      environment: "development"
    })))
  )
)

for (const backend of await backends()) {
  const prefix = `keys_${backend.name}`
  describe(`Tenant-safe keys on the ${backend.name} database`, () => {
    layer(migratedWithTenancy(backend.layer), { excludeTestServices: true })("cross-tenant references", (it) => {
      it.effect("as tenant A, an invoice naming tenant B's customer is refused (23503) exactly like a uuid nobody has, nothing changes, B can still delete that customer, and A's own customer works", () =>
        Effect.gen(function*() {
          const tenancy = yield* Tenancy.Tenancy
          const a = yield* tenantWithRows(tenancy, `${prefix}_a`)
          const b = yield* tenantWithRows(tenancy, `${prefix}_b`)
          const [lone] = yield* tenancy.withTenant(
            b.id,
            run(`INSERT INTO customers (tenant_id, name) VALUES ($1, 'Lone') RETURNING id::text AS id`, [b.id])
          )
          const bLoneCustomer = lone!.id
          const before = yield* tenantRows

          const refused = yield* expectForeignKeyViolation(
            invoiceFor(tenancy, a, bLoneCustomer, "X-1"),
            "invoices_tenant_id_customer_id_fk"
          )
          const unknown = yield* expectForeignKeyViolation(
            invoiceFor(tenancy, a, NOBODY, "X-1"),
            "invoices_tenant_id_customer_id_fk"
          )
          // No oracle: B's customer and no customer at all give the same error (under RLS the server
          // leaves the key values out of the detail).
          expect(refused.detail).toBe(`Key is not present in table "customers".`)
          expect(refused).toEqual(unknown)
          expect(yield* tenantRows).toEqual(before)

          const deleted = yield* tenancy.withTenant(
            b.id,
            run(`DELETE FROM customers WHERE id = $1 RETURNING id::text AS id`, [bLoneCustomer])
          )
          expect(deleted).toEqual([{ id: bLoneCustomer }])

          const [own] = yield* invoiceFor(tenancy, a, a.customer, "INV-2")
          const seenByA = yield* tenancy.withTenant(
            a.id,
            run<{ customer: string }>(`SELECT customer_id::text AS customer FROM invoices WHERE id = $1`, [own!.id])
          )
          expect(seenByA).toEqual([{ customer: a.customer }])
        }))

      it.effect("every reference between tenant tables refuses tenant B's row as tenant A — invoice lines, payments, account parents, user roles, and an update — while A's own rows are accepted", () =>
        Effect.gen(function*() {
          const tenancy = yield* Tenancy.Tenancy
          const a = yield* tenantWithRows(tenancy, `${prefix}_c`)
          const b = yield* tenantWithRows(tenancy, `${prefix}_d`)
          const line = (invoice: string, account: string) =>
            run(
              `INSERT INTO invoice_lines (tenant_id, invoice_id, description, unit_price, amount, account_id)
           VALUES ($1, $2, 'Work', 10, 10, $3) RETURNING id::text AS id`,
              [a.id, invoice, account]
            )
          const payment = (invoice: string) =>
            run(
              `INSERT INTO payments (tenant_id, invoice_id, amount, method) VALUES ($1, $2, 10, 'card') RETURNING id::text AS id`,
              [a.id, invoice]
            )
          const subAccount = (parent: string, code: string) =>
            run(
              `INSERT INTO accounts (tenant_id, code, name, type, parent_id) VALUES ($1, $2, 'Sub', 'revenue', $3)
           RETURNING id::text AS id`,
              [a.id, code, parent]
            )
          const userRole = (user: string) =>
            run(
              `INSERT INTO user_roles (tenant_id, user_id, role_id) VALUES ($1, $2, $3) RETURNING user_id::text AS id`,
              [a.id, user, a.role]
            )
          const recustomer = (customer: string) =>
            run(`UPDATE invoices SET customer_id = $2 WHERE id = $1 RETURNING id::text AS id`, [a.invoice, customer])
          const cases = [
            ["invoice_lines_tenant_id_invoice_id_fk", line(b.invoice, a.account), line(a.invoice, a.account)],
            ["invoice_lines_tenant_id_account_id_fk", line(a.invoice, b.account), line(a.invoice, a.account)],
            ["payments_tenant_id_invoice_id_fk", payment(b.invoice), payment(a.invoice)],
            ["accounts_tenant_id_parent_id_fk", subAccount(b.account, "4100"), subAccount(a.account, "4100")],
            ["user_roles_tenant_id_user_id_fk", userRole(b.user), userRole(a.user)],
            ["invoices_tenant_id_customer_id_fk", recustomer(b.customer), recustomer(a.customer)]
          ] as const

          for (const [constraint, cross] of cases) {
            const before = yield* tenantRows
            yield* expectForeignKeyViolation(tenancy.withTenant(a.id, cross), constraint)
            expect(yield* tenantRows, constraint).toEqual(before)
          }
          for (const [constraint, , own] of cases) {
            expect(yield* tenancy.withTenant(a.id, own), constraint).toHaveLength(1)
          }
        }))
    })

    layer(backend.layer, { excludeTestServices: true })("migrating a seeded database", (it) => {
      it.effect("0005 and 0006 apply to a database seeded at 0004: every key composite and validated, no row lost, status and drift clean", () =>
        Effect.gen(function*() {
          yield* Effect.orDie(migrate(BEFORE))
          yield* Effect.orDie(withSeeds)
          const before = yield* tenantRows
          expect(before.find((rows) => rows.length === 0), "seeds wrote every table").toBeUndefined()

          const result = yield* Effect.orDie(migrate())
          expect(result.applied.map((m) => m.name)).toEqual([...TENANT_SAFE, STAMP])
          expect(yield* tenantRows).toEqual(before)
          expect(yield* keysNamed([...compositeKeys.map(([, name]) => name), ...replacedKeys])).toEqual(
            compositeKeys.map(([, name]) => ({ name, columns: 2, validated: true })).sort((x, y) =>
              x.name < y.name ? -1 : 1
            )
          )
          const after = yield* Effect.orDie(status)
          expect(after.pending).toEqual([])
          expect(after.failed).toEqual([])
          expect(after.changed).toEqual([])
          expect(after.applied.map((m) => m.name).slice(-3)).toEqual([...TENANT_SAFE, STAMP])
          const drift = yield* Effect.orDie(withMigrator(referenceMigrations, undefined, (m) => m.drift()))
          expect(drift.differences).toEqual([])
        }))
    })

    layer(backend.layer, { excludeTestServices: true })("a cross-tenant row written before 0006", (it) => {
      it.effect("makes 0006 fail and roll back, naming the key, with the old keys still in place; once the row is fixed it applies", () =>
        Effect.gen(function*() {
          yield* Effect.orDie(migrate(BEFORE))
          const [a, b] = yield* run(
            `INSERT INTO organizations (slug, name) VALUES ('tenant_a', 'A'), ('tenant_b', 'B') RETURNING id::text AS id`
          )
          const [bCustomer] = yield* run(
            `INSERT INTO customers (tenant_id, name) VALUES ($1, 'B customer') RETURNING id::text AS id`,
            [b!.id]
          )
          // What the single-column key allowed: A's invoice pointing at B's customer.
          const [crossInvoice] = yield* run(
            `INSERT INTO invoices (tenant_id, number, customer_id, issue_date, due_date, currency)
             VALUES ($1, 'INV-1', $2, '2026-01-01', '2026-01-31', 'EUR') RETURNING id::text AS id`,
            [a!.id, bCustomer!.id]
          )

          const failure = yield* Effect.flip(migrate())
          expect(failure._tag).toBe("MigrationFailed")
          if (failure._tag !== "MigrationFailed") return
          expect(failure.migration).toBe(TENANT_SAFE[1])
          expect(failure.transactional).toBe(true)
          expect(failure.serverMessage).toContain("invoices_tenant_id_customer_id_fk")
          const halfway = yield* Effect.orDie(status)
          expect(halfway.applied.map((m) => m.name)).toContain(TENANT_SAFE[0])
          expect(halfway.pending).toEqual([TENANT_SAFE[1], STAMP])
          expect(halfway.failed).toEqual([])
          expect((yield* keysNamed(replacedKeys)).map((k) => k.name)).toEqual([...replacedKeys].sort())

          yield* run(`DELETE FROM invoices WHERE id = $1 RETURNING id::text AS id`, [crossInvoice!.id])
          const fixed = yield* Effect.orDie(migrate())
          expect(fixed.applied.map((m) => m.name)).toEqual([TENANT_SAFE[1], STAMP])
          expect(yield* keysNamed(replacedKeys)).toEqual([])
        }))
    })
  })
}
