// Privacy on the reference schema: a person seeded across every table is exported completely (and nobody else is),
// erasure leaves no trace of the declared values anywhere in a dump of the whole database while the invoices stay,
// a refused or failing erasure changes nothing, the audit triggers record changes without values, and the map warns
// about columns that look personal but are undeclared. On the server, and the core of it on the embedded database.
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as SqlClient from "@effect/sql/SqlClient"
import { describe, expect, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import { spawnSync } from "node:child_process"
import * as crypto from "node:crypto"
import * as path from "node:path"
import * as Config from "../src/Config.js"
import type { Database } from "../src/Database.js"
import referenceMap from "../src/example/schema/privacy.js"
import { fromDirectory } from "../src/migrator/source.js"
import { makeKeyring } from "../src/privacy/fieldCrypto.js"
import * as Privacy from "../src/privacy/Privacy.js"
import * as Tenancy from "../src/tenancy/Tenancy.js"
import { EmbeddedLive, ScratchDatabase, serverAvailable, ServerLive, tempDir } from "./support/databases.js"
import { withMigrator, writeFolder } from "./support/migrations.js"
import { NonInteractiveGuard } from "./support/terminal.js"

const server = await serverAvailable()
const referenceMigrations = path.resolve(import.meta.dirname, "../migrations")
const keyring = makeKeyring([["k1", crypto.randomBytes(32)]])

const Support = Layer.mergeAll(
  Config.layerFrom({ environment: "development", backupDir: tempDir("dbkit-privacy-") }),
  NodeContext.layer,
  NonInteractiveGuard()
)

const withPrivacy = <R>(base: Layer.Layer<SqlClient.SqlClient | Database | R>) =>
  Layer.mergeAll(
    Privacy.layer({ map: referenceMap, keyring }),
    Tenancy.layer({ strategy: "rls", tenantTable: "organizations" }),
    Layer.effectDiscard(Effect.orDie(withMigrator(referenceMigrations, undefined, (m) => m.migrate())))
  ).pipe(Layer.provide(Support), Layer.provideMerge(base))

interface Person {
  readonly email: string
  readonly userId: string
  readonly customerId: string
  readonly invoiceIds: ReadonlyArray<string>
  readonly name: string
  readonly phone: string
  readonly address: string
  readonly taxId: string
}

/** One person across every table of a tenant: a user with a role, a customer with two invoices (lines, payments), audit entries they made. */
const seedPerson = (tenantId: string, email: string, tag: string) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const p = {
      email,
      userId: crypto.randomUUID(),
      customerId: crypto.randomUUID(),
      invoiceIds: [crypto.randomUUID(), crypto.randomUUID()],
      name: `Person ${tag} Lovelace`,
      phone: `+44 20 7946 ${tag.padStart(4, "0").slice(-4)}`,
      address: `${tag} Analytical Street, London`,
      taxId: `GB${tag}99887766`
    } satisfies Person
    const roleId = crypto.randomUUID()
    const accountId = crypto.randomUUID()
    yield* sql.withTransaction(Effect.gen(function*() {
      yield* sql`SELECT set_config('app.actor', ${email}, true)`
      yield* sql`INSERT INTO users (id, tenant_id, email, name) VALUES (${p.userId}, ${tenantId}, ${email}, ${p.name})`
      yield* sql`INSERT INTO roles (id, tenant_id, name) VALUES (${roleId}, ${tenantId}, ${`role-${tag}`})`
      yield* sql`INSERT INTO user_roles (tenant_id, user_id, role_id) VALUES (${tenantId}, ${p.userId}, ${roleId})`
      yield* sql`INSERT INTO customers (id, tenant_id, name, email, phone, address, tax_id)
                 VALUES (${p.customerId}, ${tenantId}, ${p.name}, ${email.toUpperCase()}, ${p.phone}, ${p.address}, ${
        keyring.encrypt(p.taxId)
      })`
      yield* sql`INSERT INTO accounts (id, tenant_id, code, name, type) VALUES (${accountId}, ${tenantId}, ${`4000-${tag}`}, 'Sales', 'revenue')`
      for (const [i, invoiceId] of p.invoiceIds.entries()) {
        yield* sql`INSERT INTO invoices (id, tenant_id, number, customer_id, issue_date, due_date, currency, total)
                   VALUES (${invoiceId}, ${tenantId}, ${`INV-${tag}-${i}`}, ${p.customerId}, '2026-01-01', '2026-02-01', 'EUR', 150)`
        yield* sql`INSERT INTO invoice_lines (tenant_id, invoice_id, description, unit_price, amount, account_id)
                   VALUES (${tenantId}, ${invoiceId}, 'Consulting', 100, 100, ${accountId}), (${tenantId}, ${invoiceId}, 'Travel', 50, 50, ${accountId})`
        yield* sql`INSERT INTO payments (tenant_id, invoice_id, amount, method) VALUES (${tenantId}, ${invoiceId}, 150, 'card')`
      }
      yield* sql`UPDATE invoices SET status = 'issued' WHERE customer_id = ${p.customerId}`
    }))
    return p
  })

const ids = (rows: ReadonlyArray<Record<string, unknown>>, column = "id") => rows.map((r) => String(r[column])).sort()

const dumpOf = (url: Redacted.Redacted<string>) => {
  const result = spawnSync("pg_dump", ["--no-owner", Redacted.value(url)], {
    encoding: "utf8",
    maxBuffer: 256 * 1024 * 1024
  })
  if (result.status !== 0) throw new Error(`pg_dump failed: ${result.stderr}`)
  return result.stdout
}

/** Everything in the tables that a failed or refused erasure must leave as it was. */
const snapshot = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const tables = ["users", "user_roles", "customers", "invoices", "invoice_lines", "payments", "audit_log"]
  const out: Record<string, string> = {}
  for (const table of tables) {
    const [row] = yield* sql.unsafe<{ h: string | null }>(
      `SELECT md5(string_agg(t::text, '|' ORDER BY t::text)) AS h FROM ${table} t`
    )
    out[table] = row?.h ?? ""
  }
  return out
})

const expectFailure = <A, E>(exit: Exit.Exit<A, E>, tag: string) => {
  expect(Exit.isFailure(exit)).toBe(true)
  if (Exit.isFailure(exit)) expect(JSON.stringify(exit.cause)).toContain(tag)
}

describe.runIf(server)("privacy on the server", () => {
  layer(withPrivacy(ServerLive))((it) => {
    it.effect("export follows foreign keys from the person's rows to everything that references them, decrypts, and stays in the tenant", () =>
      Effect.gen(function*() {
        const tenancy = yield* Tenancy.Tenancy
        const privacy = yield* Privacy.Privacy
        const sql = yield* SqlClient.SqlClient
        const acme = (yield* tenancy.provision("acme_export")).tenant
        const globex = (yield* tenancy.provision("globex_export")).tenant
        const jane = yield* seedPerson(acme.id, "jane.export@example.com", "1")
        yield* seedPerson(acme.id, "someone.else@example.com", "2")
        yield* seedPerson(globex.id, "jane.export@example.com", "3")

        const exported = yield* privacy.exportSubject({ email: "Jane.Export@example.com", tenant: "acme_export" })
        const byTable = Object.fromEntries(exported.tables.map((t) => [t.table, t.rows]))
        expect(Object.keys(byTable).sort()).toEqual(
          [
            "public.customers",
            "public.invoice_lines",
            "public.invoices",
            "public.payments",
            "public.user_roles",
            "public.users"
          ]
        )
        // Completeness, against the database itself.
        const expectIds = (query: string) => sql.unsafe<{ id: string }>(query).pipe(Effect.map((rows) => ids(rows)))
        expect(ids(byTable["public.users"]!)).toEqual([jane.userId])
        expect(ids(byTable["public.customers"]!)).toEqual([jane.customerId])
        expect(ids(byTable["public.invoices"]!)).toEqual([...jane.invoiceIds].sort())
        expect(ids(byTable["public.invoice_lines"]!)).toEqual(
          yield* expectIds(`SELECT id FROM invoice_lines WHERE invoice_id IN ('${jane.invoiceIds.join("','")}')`)
        )
        expect(ids(byTable["public.payments"]!)).toEqual(
          yield* expectIds(`SELECT id FROM payments WHERE invoice_id IN ('${jane.invoiceIds.join("','")}')`)
        )
        expect(ids(byTable["public.user_roles"]!, "user_id")).toEqual([jane.userId])
        expect(byTable["public.invoice_lines"]!.length).toBe(4)
        // Decrypted, whole rows.
        const customer = byTable["public.customers"]![0]!
        expect(customer).toMatchObject({
          name: jane.name,
          phone: jane.phone,
          address: jane.address,
          tax_id: jane.taxId
        })
        // Nobody else's rows: not the other person, not the same email in another tenant.
        for (const rows of Object.values(byTable)) for (const row of rows) expect(row.tenant_id).toBe(acme.id)
        // The audit trail about those rows, and what the person did.
        expect(exported.audit.length).toBeGreaterThanOrEqual(11)
        expect(exported.audit.every((a) => a.tenant_id === acme.id)).toBe(true)
        expect(exported.audit.some((a) => a.action === "update" && a.table_name === "invoices")).toBe(true)
        expect(exported.tables.find((t) => t.table === "public.customers")!.retained).toContain("commercial")
        expect(JSON.stringify(exported)).not.toContain("enc:v1:")

        // No tenant: both tenants' rows; an unknown tenant and an unknown email are typed errors.
        const everywhere = yield* privacy.exportSubject({ email: "jane.export@example.com" })
        expect(everywhere.tables.find((t) => t.table === "public.customers")!.rows.length).toBe(2)
        expectFailure(
          yield* Effect.exit(privacy.exportSubject({ email: "jane.export@example.com", tenant: "nope" })),
          "TenantNotFound"
        )
        expectFailure(
          yield* Effect.exit(privacy.exportSubject({ email: "nobody@example.com", tenant: "acme_export" })),
          "SubjectNotFound"
        )
        expectFailure(
          yield* Effect.exit(privacy.exportSubject({ email: "not an email", tenant: "acme_export" })),
          "InvalidSubject"
        )
      }))

    it.effect("erase: dry run and refusal change nothing; the erasure leaves no declared value in a dump of the database, keeps the invoices, and is audited without values", () =>
      Effect.gen(function*() {
        const tenancy = yield* Tenancy.Tenancy
        const privacy = yield* Privacy.Privacy
        const sql = yield* SqlClient.SqlClient
        const scratch = yield* ScratchDatabase
        const acme = (yield* tenancy.provision("acme_erase")).tenant
        const globex = (yield* tenancy.provision("globex_erase")).tenant
        const email = "grace.erase@example.com"
        const grace = yield* seedPerson(acme.id, email, "77")
        const bystander = yield* seedPerson(acme.id, "bystander@example.com", "78")
        const twin = yield* seedPerson(globex.id, email, "79")

        const before = yield* snapshot
        const plan = yield* privacy.erase({ email, tenant: "acme_erase", dryRun: true })
        expect(plan.steps.map((s) => [s.table, s.rows, s.action])).toEqual([
          ["public.users", 1, "delete"],
          ["public.customers", 1, "erase"],
          ["public.user_roles", 1, "cascade"],
          ["public.invoices", 2, "keep"],
          ["public.invoice_lines", 4, "keep"],
          ["public.payments", 2, "keep"]
        ])
        expect(plan.auditActors).toBeGreaterThan(0)
        expect(yield* snapshot).toEqual(before)

        // The guard: no confirmation, nothing changes.
        expectFailure(yield* Effect.exit(privacy.erase({ email, tenant: "acme_erase" })), "ConfirmationRequired")
        expect(yield* snapshot).toEqual(before)

        const done = yield* privacy.erase({ email, tenant: "acme_erase", yes: true })
        expect(done.recorded).toBe(2)

        const dump = dumpOf(scratch.url)
        const dumpOfAcme = dump.split("\n").filter((line) => line.includes(acme.id)).join("\n").toLowerCase()
        expect(dumpOfAcme).not.toContain(email)
        for (const value of [grace.name, grace.phone, grace.address, grace.taxId]) expect(dump).not.toContain(value)
        // The same email in another tenant, and the bystander, are untouched.
        const [twinRow] = yield* sql<
          { email: string; name: string }
        >`SELECT email, name FROM customers WHERE id = ${twin.customerId}`
        expect(twinRow).toEqual({ email: email.toUpperCase(), name: twin.name })
        expect(dump).toContain(bystander.name)
        // The law's records stay, without the person.
        expect(
          (yield* sql<{ n: number }>`SELECT count(*)::int AS n FROM invoices WHERE customer_id = ${grace.customerId}`)[
            0
          ]!.n
        ).toBe(2)
        const [kept] = yield* sql<
          { name: string; email: string; phone: string | null; address: string | null; tax_id: string | null }
        >`
          SELECT name, email, phone, address, tax_id FROM customers WHERE id = ${grace.customerId}`
        expect(kept!.name).toBe("[erased]")
        expect(kept!.email).toMatch(/^erased-[0-9a-f]{32}@erased\.invalid$/)
        expect([kept!.phone, kept!.address, kept!.tax_id]).toEqual([null, null, null])
        expect((yield* sql<{ n: number }>`SELECT count(*)::int AS n FROM users WHERE id = ${grace.userId}`)[0]!.n).toBe(
          0
        )
        expect(
          (yield* sql<{ n: number }>`SELECT count(*)::int AS n FROM user_roles WHERE user_id = ${grace.userId}`)[0]!.n
        ).toBe(0)
        // Recorded: which rows and columns, never the values.
        const records = yield* sql<
          { action: string; table_name: string; row_key: string; changed_columns: Array<string> }
        >`
          SELECT action, table_name, row_key, changed_columns FROM audit_log WHERE tenant_id = ${acme.id} AND action = 'erase' ORDER BY table_name`
        expect(records).toEqual([
          {
            action: "erase",
            table_name: "customers",
            row_key: grace.customerId,
            changed_columns: ["name", "email", "phone", "address", "tax_id"]
          },
          { action: "erase", table_name: "users", row_key: grace.userId, changed_columns: ["*"] }
        ])

        // Erased means gone: a second request finds nothing.
        expectFailure(yield* Effect.exit(privacy.erase({ email, tenant: "acme_erase", yes: true })), "SubjectNotFound")
      }))

    it.effect("an erasure a constraint refuses is rolled back whole", () =>
      Effect.gen(function*() {
        const tenancy = yield* Tenancy.Tenancy
        const privacy = yield* Privacy.Privacy
        const sql = yield* SqlClient.SqlClient
        const acme = (yield* tenancy.provision("acme_blocked")).tenant
        const ada = yield* seedPerson(acme.id, "ada.blocked@example.com", "90")
        yield* sql`CREATE TABLE referrals (id serial PRIMARY KEY, tenant_id uuid NOT NULL, user_id uuid NOT NULL REFERENCES users (id) ON DELETE RESTRICT)`
        yield* sql`INSERT INTO referrals (tenant_id, user_id) VALUES (${acme.id}, ${ada.userId})`
        const before = yield* snapshot
        const exit = yield* Effect.exit(
          privacy.erase({ email: "ada.blocked@example.com", tenant: "acme_blocked", yes: true })
        )
        expectFailure(exit, "ErasureFailed")
        expect(yield* snapshot).toEqual(before)
        const [customer] = yield* sql<{ name: string }>`SELECT name FROM customers WHERE id = ${ada.customerId}`
        expect(customer!.name).toBe(ada.name)
        yield* sql`DROP TABLE referrals`
      }))

    it.effect("audit triggers record who changed which columns of which row, never values; the app role cannot rewrite the trail; the report sums it", () =>
      Effect.gen(function*() {
        const tenancy = yield* Tenancy.Tenancy
        const privacy = yield* Privacy.Privacy
        const sql = yield* SqlClient.SqlClient
        const acme = (yield* tenancy.provision("acme_audit")).tenant
        const p = yield* seedPerson(acme.id, "audited@example.com", "55")
        yield* sql.withTransaction(Effect.gen(function*() {
          yield* sql`SELECT set_config('app.actor', 'user:42', true)`
          yield* sql`UPDATE customers SET phone = '+1 555 0100' WHERE id = ${p.customerId}`
          yield* sql`UPDATE customers SET phone = phone WHERE id = ${p.customerId}` // no change: no entry
          yield* sql`DELETE FROM payments WHERE invoice_id = ${p.invoiceIds[0]!}`
        }))
        const entries = yield* sql<
          { actor: string; action: string; table_name: string; row_key: string; changed_columns: Array<string> }
        >`
          SELECT actor, action, table_name, row_key, changed_columns FROM audit_log WHERE tenant_id = ${acme.id} AND actor = 'user:42' ORDER BY id`
        expect(entries.map((e) => [e.action, e.table_name, e.changed_columns])).toEqual([
          ["update", "customers", ["phone"]],
          ["delete", "payments", []]
        ])
        expect(entries[0]!.row_key).toBe(p.customerId)
        const all = yield* sql<
          { t: string }
        >`SELECT string_agg(a::text, '|') AS t FROM audit_log a WHERE tenant_id = ${acme.id}`
        for (const value of [p.phone, "+1 555 0100", p.name, p.address]) expect(all[0]!.t).not.toContain(value)

        // The application role appends, but cannot change or remove entries.
        const asApp = (...statements: Array<string>) =>
          sql.withTransaction(Effect.gen(function*() {
            yield* sql`SELECT set_config('app.tenant_id', ${acme.id}, true),
                              set_config('app.tenant_id_xact', (EXTRACT(epoch FROM now()))::text, true)`
            yield* sql`SET LOCAL ROLE dbkit_app`
            for (const statement of statements) yield* sql.unsafe(statement)
          })).pipe(Effect.exit)
        expect(Exit.isFailure(yield* asApp(`DELETE FROM audit_log`))).toBe(true)
        expect(Exit.isFailure(yield* asApp(`UPDATE audit_log SET actor = 'nobody'`))).toBe(true)
        expect(Exit.isSuccess(yield* asApp(`UPDATE customers SET address = 'Elsewhere' WHERE id = '${p.customerId}'`)))
          .toBe(true)
        // The app role's change is recorded too, and it may not skip auditing.
        expect(
          Exit.isSuccess(
            yield* asApp(
              `SELECT set_config('dbkit.audit', 'off', true)`,
              `UPDATE customers SET address = 'Again' WHERE id = '${p.customerId}'`
            )
          )
        ).toBe(true)
        const [appEntries] = yield* sql<
          { n: number }
        >`SELECT count(*)::int AS n FROM audit_log WHERE tenant_id = ${acme.id} AND table_name = 'customers' AND changed_columns = '{address}'`
        expect(appEntries!.n).toBe(2)

        const report = yield* privacy.auditReport({ tenant: "acme_audit" })
        const [total] = yield* sql<{ n: number }>`SELECT count(*)::int AS n FROM audit_log WHERE tenant_id = ${acme.id}`
        expect(report.total).toBe(total!.n)
        expect(report.byTable.find((t) => t.table === "customers")).toMatchObject({ insert: 1, update: 3 })
        expect(report.byTable.find((t) => t.table === "payments")).toMatchObject({ insert: 2, delete: 1 })
        expect(report.byActor.find((a) => a.actor === "user:42")!.entries).toBe(2)
        const empty = yield* privacy.auditReport({
          tenant: "acme_audit",
          from: new Date("2000-01-01"),
          to: new Date("2000-02-01")
        })
        expect(empty.total).toBe(0)
      }))

    it.effect("map: the reference map matches the schema; an undeclared column that looks personal is reported until declared or dropped", () =>
      Effect.gen(function*() {
        const privacy = yield* Privacy.Privacy
        const sql = yield* SqlClient.SqlClient
        const clean = yield* privacy.map
        expect(clean.undeclared).toEqual([])
        expect(clean.missing).toEqual([])
        expect(clean.tables.find((t) => t.table === "public.customers")!.columns.find((c) => c.column === "tax_id"))
          .toMatchObject({ encrypted: true, present: true })
        yield* sql`ALTER TABLE invoices ADD COLUMN billing_email text, ADD COLUMN contact_phone text`
        const dirty = yield* privacy.map
        expect(dirty.undeclared).toEqual([
          { column: "public.invoices.billing_email", looksLike: "email" },
          { column: "public.invoices.contact_phone", looksLike: "phone" }
        ])
        yield* sql`ALTER TABLE invoices DROP COLUMN billing_email, DROP COLUMN contact_phone`
        yield* sql`ALTER TABLE customers RENAME COLUMN phone TO phone_number`
        const missing = yield* privacy.map
        expect(missing.missing).toEqual(["column public.customers.phone does not exist"])
        expectFailure(yield* Effect.exit(privacy.exportSubject({ email: "x@example.com" })), "PrivacyMapMismatch")
        yield* sql`ALTER TABLE customers RENAME COLUMN phone_number TO phone`
      }))
  })
})

/** Schema-per-tenant: each tenant's tables live in its own schema; the map's tables are looked up there. */
const tenantMigrations = writeFolder({
  "0001_people.sql": `
    CREATE TABLE users (id uuid PRIMARY KEY, email text NOT NULL UNIQUE, name text NOT NULL);
    CREATE TABLE user_roles (user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE, role text NOT NULL, PRIMARY KEY (user_id, role));
    CREATE TABLE customers (id uuid PRIMARY KEY, name text NOT NULL, email text, phone text, address text, tax_id text);
    CREATE TABLE invoices (id uuid PRIMARY KEY, customer_id uuid NOT NULL REFERENCES customers (id), total numeric NOT NULL);`
})

describe.runIf(server)("privacy with a schema per tenant", () => {
  const schemaTenancy = Layer.mergeAll(
    Privacy.layer({ map: { ...referenceMap, auditLog: null }, keyring }),
    Tenancy.layer({ strategy: "schema", migrations: fromDirectory(tenantMigrations) })
  ).pipe(Layer.provide(Support), Layer.provideMerge(ServerLive))
  layer(schemaTenancy)((it) => {
    it.effect("export and erase look in the tenant's schema only", () =>
      Effect.gen(function*() {
        const tenancy = yield* Tenancy.Tenancy
        const privacy = yield* Privacy.Privacy
        const sql = yield* SqlClient.SqlClient
        for (const slug of ["north", "south"]) {
          yield* tenancy.provision(slug)
          const userId = crypto.randomUUID()
          const customerId = crypto.randomUUID()
          yield* sql.unsafe(`INSERT INTO tenant_${slug}.users VALUES ('${userId}', 'kim@example.com', 'Kim ${slug}')`)
          yield* sql.unsafe(`INSERT INTO tenant_${slug}.user_roles VALUES ('${userId}', 'admin')`)
          yield* sql.unsafe(
            `INSERT INTO tenant_${slug}.customers VALUES ('${customerId}', 'Kim ${slug}', 'kim@example.com', '+1 ${slug}', NULL, NULL)`
          )
          yield* sql.unsafe(
            `INSERT INTO tenant_${slug}.invoices VALUES ('${crypto.randomUUID()}', '${customerId}', 10)`
          )
        }
        const exported = yield* privacy.exportSubject({ email: "kim@example.com", tenant: "north" })
        expect(exported.tables.map((t) => [t.table, t.rows.length])).toEqual([
          ["tenant_north.users", 1],
          ["tenant_north.customers", 1],
          ["tenant_north.user_roles", 1],
          ["tenant_north.invoices", 1]
        ])
        expect(exported.tables[0]!.rows[0]!.name).toBe("Kim north")
        yield* privacy.erase({ email: "kim@example.com", tenant: "north", yes: true })
        const north = yield* sql<
          { n: number }
        >`SELECT count(*)::int AS n FROM tenant_north.customers WHERE email = 'kim@example.com' OR name LIKE 'Kim%'`
        const south = yield* sql<
          { n: number }
        >`SELECT count(*)::int AS n FROM tenant_south.customers WHERE email = 'kim@example.com' AND name = 'Kim south'`
        expect([north[0]!.n, south[0]!.n]).toEqual([0, 1])
        expect((yield* sql<{ n: number }>`SELECT count(*)::int AS n FROM tenant_north.invoices`)[0]!.n).toBe(1)
        expect((yield* sql<{ n: number }>`SELECT count(*)::int AS n FROM tenant_north.users`)[0]!.n).toBe(0)
      }))
  })
})

describe("privacy on the embedded database", () => {
  layer(withPrivacy(EmbeddedLive))((it) => {
    it.effect("export and erase work the same way", () =>
      Effect.gen(function*() {
        const tenancy = yield* Tenancy.Tenancy
        const privacy = yield* Privacy.Privacy
        const sql = yield* SqlClient.SqlClient
        const acme = (yield* tenancy.provision("acme")).tenant
        const p = yield* seedPerson(acme.id, "embedded@example.com", "5")
        const exported = yield* privacy.exportSubject({ email: "embedded@example.com", tenant: "acme" })
        expect(exported.tables.map((t) => [t.table, t.rows.length])).toEqual([
          ["public.users", 1],
          ["public.customers", 1],
          ["public.user_roles", 1],
          ["public.invoices", 2],
          ["public.invoice_lines", 4],
          ["public.payments", 2]
        ])
        expect(exported.tables[1]!.rows[0]!.tax_id).toBe(p.taxId)
        yield* privacy.erase({ email: "embedded@example.com", tenant: "acme", yes: true })
        const [left] = yield* sql<{ n: number }>`
          SELECT count(*)::int AS n FROM customers WHERE lower(email) = 'embedded@example.com' OR name = ${p.name} OR phone = ${p.phone}`
        expect(left!.n).toBe(0)
        expect(
          (yield* sql<{ n: number }>`SELECT count(*)::int AS n FROM invoices WHERE customer_id = ${p.customerId}`)[0]!.n
        ).toBe(2)
      }))
  })
})
