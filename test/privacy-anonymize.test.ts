// `dbkit privacy anonymize`: fakes (deterministic within a run, realistic, never the original, within the column's type),
// an anonymized copy on the server that holds no original value of a declared column — not in its tables, not in a
// pg_dump of it — with the same rows, keys and joins, consistent fakes across tables and encrypted columns faked through
// the keyring; no database left behind by a failure midway, an interrupt or a SIGKILL; in place only when confirmed and
// never in production; on the embedded database in place, honouring column types; keys never in the output.
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as SqlClient from "@effect/sql/SqlClient"
import { describe, expect, it, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import { execFile, spawn } from "node:child_process"
import { randomBytes } from "node:crypto"
import * as path from "node:path"
import pg from "pg"
import { afterAll, beforeAll } from "vitest"
import { exitCodeOfTag } from "../src/cli/exitCodes.js"
import * as Config from "../src/Config.js"
import { anonymize } from "../src/privacy/anonymize.js"
import type { PrivacyMap } from "../src/privacy/declare.js"
import { fake, ibanValid } from "../src/privacy/fake.js"
import { makeKeyring, parseEnvelope } from "../src/privacy/fieldCrypto.js"
import { nodeFlags, runCli } from "./support/cli.js"
import {
  admin,
  createScratchDatabase,
  dropScratchDatabase,
  EmbeddedLive,
  serverAvailable,
  uniqueName,
  urlFor
} from "./support/databases.js"
import { withMigrator } from "./support/migrations.js"
import { NonInteractiveGuard } from "./support/terminal.js"

const server = await serverAvailable()
const referenceMigrations = path.resolve(import.meta.dirname, "../migrations")
const bin = path.resolve(import.meta.dirname, "../bin/dbkit.mjs")

// ---------------------------------------------------------------------------------------------
// helpers

const withClient = async <A>(url: string, f: (client: pg.Client) => Promise<A>): Promise<A> => {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    return await f(client)
  } finally {
    await client.end()
  }
}
const rowsOf = <A = any>(url: string, text: string, params: Array<unknown> = []) =>
  withClient(url, async (c) => (await c.query(text, params)).rows as Array<A>)
const databaseExists = async (name: string) =>
  (await admin<{ e: boolean }>("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1) AS e", [name]))[0]!.e

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** Waits (polling) until `condition` holds; false if it never did within the deadline. */
const eventually = async (condition: () => Promise<boolean>, deadlineMs = 60_000) => {
  const until = Date.now() + deadlineMs
  while (Date.now() < until) {
    if (await condition()) return true
    await sleep(20)
  }
  return false
}

const pgDumpOf = (url: string) =>
  new Promise<string>((resolve, reject) => {
    const u = new URL(url)
    execFile("pg_dump", ["--format=p"], {
      env: {
        ...process.env,
        PGHOST: u.hostname,
        PGPORT: u.port || "5432",
        PGUSER: decodeURIComponent(u.username),
        PGDATABASE: u.pathname.slice(1)
      },
      maxBuffer: 512 * 1024 * 1024
    }, (error, stdout) => (error ? reject(error) : resolve(stdout)))
  })

/** A deterministic PRNG (mulberry32), so the test data is the same every run. */
const prng = (seed: number) => () => {
  seed = (seed + 0x6d2b79f5) | 0
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}

// Test people whose names, streets and numbers come from lists the fakes never use, so "no original value appears in
// the copy" is a fair test (a fake name may, by design, be some other real person's name).
const FIRST = [
  "Gudrun",
  "Wolfram",
  "Hildegard",
  "Siegfried",
  "Brunhilde",
  "Ottokar",
  "Waltraud",
  "Reinhold",
  "Irmgard",
  "Gottfried",
  "Mechthild",
  "Eberhard",
  "Adelheid",
  "Leopold",
  "Roswitha",
  "Volkmar"
]
const LAST = [
  "Achterberg",
  "Bräutigam",
  "Dinkelacker",
  "Eichhorn",
  "Feuerstein",
  "Grünewald",
  "Hagedorn",
  "Immergrün",
  "Jungbluth",
  "Kesselring",
  "Lichtenau",
  "Morgenroth",
  "Nachtigall",
  "Ochsenknecht",
  "Pfefferkorn",
  "Quellmalz"
]
const ascii = (s: string) => s.normalize("NFKD").replace(/[\u0300-\u036f]/g, "").toLowerCase()

// Field keys: k2 active, k1 older (some values are still under it).
const key1 = randomBytes(32)
const key2 = randomBytes(32)
const keyring = makeKeyring([["k2", key2], ["k1", key1]])
const oldKeyring = makeKeyring([["k1", key1]])
const FIELD_KEYS = `k2:${key2.toString("base64")},k1:${key1.toString("base64")}`
const secrets = [key1.toString("base64"), key2.toString("base64"), key1.toString("hex"), key2.toString("hex")]

/** Every output of every run, to check that no key ever appears in one. */
const outputs: Array<string> = []
const cli = async (args: ReadonlyArray<string>, env: Record<string, string | undefined>) => {
  const result = await runCli(args, env, { timeoutMs: 180_000 })
  outputs.push(result.stdout, result.stderr)
  return result
}

/** The exit code main.ts gives an error tag (1 until the tag is in exitCodes.ts). */
const exitFor = (tag: string) => exitCodeOfTag(tag)

const USERS_PER_TENANT = 600
const CUSTOMERS_PER_TENANT = 900

/** Two tenants of users and customers: customers share emails with users (their own tenant's and the other's). */
const populate = (url: string) =>
  withClient(url, async (c) => {
    const random = prng(20261123)
    const pick = <T>(items: ReadonlyArray<T>) => items[Math.floor(random() * items.length)]!
    const digits = (n: number) => Array.from({ length: n }, () => Math.floor(random() * 10)).join("")
    await c.query("BEGIN")
    const tenants = (await c.query(
      `INSERT INTO organizations (slug, name) VALUES ('nordwind', 'Nordwind Handels AG'), ('suedlicht', 'Südlicht Logistik GmbH') RETURNING id, slug`
    )).rows as Array<{ id: string; slug: string }>
    const emailsByTenant = new Map<string, Array<string>>()
    let n = 0
    for (const tenant of tenants) {
      const emails: Array<string> = []
      const users: Array<[string, string]> = []
      for (let i = 0; i < USERS_PER_TENANT; i++) {
        const first = pick(FIRST)
        const last = pick(LAST)
        // Every tenant's users 0..99 are the same people (same email in both tenants).
        const email = i < 100
          ? `${ascii(first)}.shared${i}@gemeinsam.test`
          : `${ascii(first)}.${ascii(last)}.${++n}@${tenant.slug}.test`
        emails.push(email)
        users.push([email, `${first} ${last}`])
      }
      emailsByTenant.set(tenant.id, emails)
      await c.query(
        `INSERT INTO users (tenant_id, email, name) SELECT $1, e, nm FROM unnest($2::text[], $3::text[]) AS u(e, nm)`,
        [tenant.id, users.map((u) => u[0]), users.map((u) => u[1])]
      )
    }
    for (const tenant of tenants) {
      const own = emailsByTenant.get(tenant.id)!
      const other = emailsByTenant.get(tenants.find((t) => t.id !== tenant.id)!.id)!
      const rows: Array<Array<string | null>> = []
      for (let i = 0; i < CUSTOMERS_PER_TENANT; i++) {
        const roll = random()
        const first = pick(FIRST)
        const last = pick(LAST)
        const email = roll < 0.4
          ? pick(own)
          : roll < 0.5
          ? pick(other)
          : roll < 0.6
          ? null
          : `${ascii(last)}.${++n}@kunde.test`
        const phone = random() < 0.15 ? null : `+49 ${pick(["30", "40", "89", "221"])} ${digits(9)}`
        const address = random() < 0.1
          ? null
          : `${pick(["Hauptstraße", "Bahnhofstraße", "Schillerweg", "Goethering"])} ${
            1 + Math.floor(random() * 300)
          }, ${digits(5)} ${pick(["Berlin", "Hamburg", "München", "Köln"])}`
        const taxPlain = digits(11)
        const taxId = random() < 0.1 ? null : (random() < 0.3 ? oldKeyring : keyring).encrypt(taxPlain)
        rows.push([`${first} ${last}`, email, phone, address, taxId])
      }
      await c.query(
        `INSERT INTO customers (tenant_id, name, email, phone, address, tax_id)
         SELECT $1, a, b, c, d, e FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[]) AS r(a, b, c, d, e)`,
        [tenant.id, ...[0, 1, 2, 3, 4].map((k) => rows.map((r) => r[k]))]
      )
      // Invoices keep pointing at their customers.
      await c.query(
        `INSERT INTO invoices (tenant_id, number, customer_id, issue_date, due_date, currency, total)
         SELECT tenant_id, 'INV-' || row_number() OVER (), id, date '2026-01-01', date '2026-02-01', 'EUR', 100
           FROM customers WHERE tenant_id = $1`,
        [tenant.id]
      )
    }
    await c.query("COMMIT")
  })

interface Personal {
  readonly users: Array<{ id: string; tenant_id: string; email: string; name: string }>
  readonly customers: Array<
    {
      id: string
      tenant_id: string
      name: string
      email: string | null
      phone: string | null
      address: string | null
      tax_id: string | null
    }
  >
}

const personalOf = async (url: string): Promise<Personal> => ({
  users: await rowsOf(url, "SELECT id::text, tenant_id::text, email, name FROM users ORDER BY id"),
  customers: await rowsOf(
    url,
    "SELECT id::text, tenant_id::text, name, email, phone, address, tax_id FROM customers ORDER BY id"
  )
})

/** Every personal value, decrypted where encrypted (and the ciphertexts too). */
const valuesOf = (p: Personal) => {
  const values = new Set<string>()
  const add = (v: string | null) => v !== null && v !== "" && values.add(v)
  for (const u of p.users) [u.email, u.name].forEach(add)
  for (const c of p.customers) {
    ;[c.name, c.email, c.phone, c.address, c.tax_id].forEach(add)
    if (c.tax_id !== null) add(keyring.decrypt(c.tax_id))
  }
  return values
}

const tableCounts = (url: string) =>
  rowsOf<{ table: string; n: number }>(
    url,
    `SELECT format('%I.%I', schemaname, relname) AS table,
            (xpath('/row/n/text()', query_to_xml(format('SELECT count(*) AS n FROM %I.%I', schemaname, relname), false, true, '')))[1]::text::int AS n
       FROM pg_stat_user_tables ORDER BY 1`
  )

// ---------------------------------------------------------------------------------------------
// fakes

describe("fake values", () => {
  const runKey = randomBytes(32)

  it("are the same for the same input within a run, different in another run, and never the original", () => {
    expect(fake("email", "maria@firma.test", runKey)).toBe(fake("email", "maria@firma.test", runKey))
    expect(fake("email", "maria@firma.test", runKey)).not.toBe(fake("email", "maria@firma.test", randomBytes(32)))
    // The category is part of the input: the same text faked as a name and as an email differs in kind.
    expect(fake("name", "Maria Schmidt", runKey)).toMatch(/^\S+ \S+$/)
    const categories = [
      "email",
      "name",
      "phone",
      "address",
      "iban",
      "tax_id",
      "date_of_birth",
      "ip_address",
      "identifier",
      "free_text"
    ] as const
    // A fake that would equal its original is derived again: names come from the same lists as the fakes, so over many
    // run keys some first draws hit the original.
    for (const category of categories) {
      for (let i = 0; i < 300; i++) {
        const original = category === "name" ? "Maria Schmidt" : `${category}-${i}`
        expect(fake(category, original, randomBytes(32))).not.toBe(original)
      }
    }
    // Blank values hold nothing personal and stay.
    expect(fake("email", "", runKey)).toBe("")
  })

  it("are realistic per category: unique emails, valid IBANs, dates, private/documentation IPs, shapes kept", () => {
    const emails = new Set(Array.from({ length: 20_000 }, (_, i) => fake("email", `person${i}@firma.test`, runKey)))
    expect(emails.size).toBe(20_000)
    for (const email of [...emails].slice(0, 50)) {
      expect(email).toMatch(/^[a-z]+\.[a-z]+\.[0-9a-f]{12}@example\.(com|org|net)$/)
    }
    for (let i = 0; i < 200; i++) {
      const iban = fake("iban", `DE89 3704 0044 0532 0130 ${String(i % 100).padStart(2, "0")}`, runKey)
      expect(ibanValid(iban)).toBe(true)
      expect(iban).toMatch(/^DE\d{2}( \d{4}){4} \d{2}$/)
    }
    expect(ibanValid(fake("iban", "not an iban", runKey))).toBe(true)
    expect(ibanValid("DE89370400440532013000")).toBe(true) // the textbook example
    expect(fake("phone", "+49 30 1234567", runKey)).toMatch(/^\+49 \d{2} \d{7}$/)
    expect(fake("tax_id", "DE123456789", runKey)).toMatch(/^DE\d{9}$/)
    const dob = fake("date_of_birth", "1984-07-12", runKey)
    expect(dob).toMatch(/^\d{4}-\d{2}-\d{2}$/)
    expect(Number(dob.slice(0, 4))).toBeGreaterThanOrEqual(1940)
    expect(fake("date_of_birth", "12.07.1984", runKey)).toMatch(/^\d{2}\.\d{2}\.\d{4}$/)
    expect(fake("ip_address", "203.0.113.9", runKey)).toMatch(/^10\.\d+\.\d+\.\d+$/)
    expect(fake("ip_address", "2a00:1450::1", runKey)).toMatch(/^2001:db8(:[0-9a-f]{1,4}){6}$/)
    expect(fake("ip_address", "192.168.7.0/24", runKey, { kind: "cidr" })).toMatch(/^10\.\d+\.\d+\.0\/24$/)
    expect(fake("identifier", "x", runKey, { kind: "uuid" })).toMatch(
      /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/
    )
    expect(fake("identifier", "9223372036854775807", runKey, { kind: "integer" })).toMatch(/^1\d{18}$/)
    // Short identifiers are topped up to 64 bits so different ones stay different.
    const ids = new Set(Array.from({ length: 5000 }, (_, i) => fake("identifier", `u${i % 10}`, runKey)))
    expect(ids.size).toBe(10)
    expect(new Set(Array.from({ length: 5000 }, (_, i) => fake("identifier", `CUST-${i}`, runKey))).size).toBe(5000)
    const text = fake("free_text", "Called on Monday about the overdue invoice, prefers email.", runKey)
    expect(text).toMatch(/^[A-Z][a-z ]+\.$/)
  })

  it("fit varchar(n): emails keep their uniqueness tag and domain first", () => {
    const short = Array.from(
      { length: 2000 },
      (_, i) => fake("email", `a.very.long.name.${i}@example-firm.test`, runKey, { maxLength: 30 })
    )
    for (const email of short) expect(email.length).toBeLessThanOrEqual(30)
    expect(new Set(short).size).toBe(2000)
    expect(Array.from(fake("name", "Maria Schmidt", runKey, { maxLength: 6 })).length).toBeLessThanOrEqual(6)
    expect(fake("identifier", "ab", runKey, { maxLength: 8 }).length).toBeLessThanOrEqual(8)
  })
})

// ---------------------------------------------------------------------------------------------
// on the server

describe.skipIf(!server)("dbkit privacy anonymize on the server", () => {
  let source: { name: string; url: string }
  let original: Personal
  const made: Array<string> = []
  const env = () => ({ DATABASE_URL: source.url, DBKIT_FIELD_KEYS: FIELD_KEYS })

  beforeAll(async () => {
    source = await createScratchDatabase("dbkit_anon_src")
    const migrated = await runCli(["migrate"], { DATABASE_URL: source.url }, { timeoutMs: 120_000 })
    if (migrated.code !== 0) throw new Error(`migrate failed: ${migrated.stderr}`)
    await populate(source.url)
    original = await personalOf(source.url)
  })
  afterAll(async () => {
    for (const name of made) await admin(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`)
    await dropScratchDatabase(source.name)
  })

  it("--into: the same rows and keys, no original value of a declared column (tables and pg_dump), consistent fakes, encrypted columns faked through the keyring", async () => {
    const into = uniqueName("dbkit_anon_copy")
    made.push(into)
    const auditBefore = (await rowsOf(source.url, "SELECT count(*)::int AS n FROM audit_log"))[0].n
    const run = await cli(["privacy", "anonymize", "--into", into, "--json"], env())
    expect(run.stderr).toContain(`dbkit privacy anonymize --into ${into} · development · `)
    expect(run.code).toBe(0)
    const report = JSON.parse(run.stdout)
    expect(report.mode).toBe("into")
    expect(report.database).toBe(into)
    expect(
      report.tables.map((t: { table: string; rows: number; columns: Array<string> }) => [t.table, t.rows, t.columns])
    ).toEqual([
      ["public.users", 2 * USERS_PER_TENANT, ["email", "name"]],
      ["public.customers", 2 * CUSTOMERS_PER_TENANT, ["name", "email", "phone", "address", "tax_id"]]
    ])
    expect(report.rows).toBe(2 * (USERS_PER_TENANT + CUSTOMERS_PER_TENANT))
    const copyUrl = urlFor(into)
    // Same tables, same row counts (audit_log too: the rewrite was not audited), same keys, joins intact.
    expect(await tableCounts(copyUrl)).toEqual(await tableCounts(source.url))
    expect((await rowsOf(copyUrl, "SELECT count(*)::int AS n FROM audit_log"))[0].n).toBe(auditBefore)
    const copy = await personalOf(copyUrl)
    expect(copy.users.map((u) => [u.id, u.tenant_id])).toEqual(original.users.map((u) => [u.id, u.tenant_id]))
    expect(copy.customers.map((c) => [c.id, c.tenant_id])).toEqual(original.customers.map((c) => [c.id, c.tenant_id]))
    expect(
      (await rowsOf(copyUrl, "SELECT count(*)::int AS n FROM invoices i JOIN customers c ON c.id = i.customer_id"))[0].n
    ).toBe(2 * CUSTOMERS_PER_TENANT)
    // Not one original value (nor an original ciphertext) is left anywhere in the declared columns…
    const before = valuesOf(original)
    const after = valuesOf(copy)
    expect([...after].filter((v) => before.has(v))).toEqual([])
    // …nor anywhere in a dump of the copy.
    const dump = await pgDumpOf(copyUrl)
    expect(dump).toContain("COPY public.customers")
    const originals = [
      ...new Set([
        ...original.users.flatMap((u) => [u.email, u.name]),
        ...original.customers.flatMap((
          c
        ) => [c.email, c.phone, c.address, c.name, c.tax_id, c.tax_id && keyring.decrypt(c.tax_id)])
      ].filter((v): v is string => v !== null))
    ]
    expect(originals.length).toBeGreaterThan(1000)
    expect(originals.filter((value) => dump.includes(value))).toEqual([])
    // Consistency: the same address gets the same fake in users and customers, and across tenants.
    const userFake = new Map(original.users.map((u, i) => [u.email, copy.users[i]!.email] as const))
    let shared = 0
    original.customers.forEach((c, i) => {
      if (c.email !== null && userFake.has(c.email)) {
        shared++
        expect(copy.customers[i]!.email).toBe(userFake.get(c.email))
      }
      expect(copy.customers[i]!.email === null).toBe(c.email === null)
    })
    expect(shared).toBeGreaterThan(500)
    const sharedAcrossTenants = original.users.filter((u) => u.email.includes(".shared"))
    const fakesOfShared = new Map<string, Set<string>>()
    for (const u of sharedAcrossTenants) {
      const fakeEmail = copy.users[original.users.indexOf(u)]!.email
      fakesOfShared.set(u.email, (fakesOfShared.get(u.email) ?? new Set()).add(fakeEmail))
    }
    expect([...fakesOfShared.values()].every((set) => set.size === 1)).toBe(true)
    // Distinct stays distinct: as many different emails as before (the unique constraint held, and more).
    const distinct = (p: Personal) =>
      new Set([...p.users.map((u) => u.email), ...p.customers.flatMap((c) => (c.email ? [c.email] : []))]).size
    expect(distinct(copy)).toBe(distinct(original))
    for (const u of copy.users.slice(0, 20)) expect(u.email).toMatch(/@example\.(com|org|net)$/)
    // Encrypted columns: under the active key, decrypting to a fake of the same shape.
    original.customers.forEach((c, i) => {
      const now = copy.customers[i]!.tax_id
      if (c.tax_id === null) return expect(now).toBeNull()
      expect(parseEnvelope(now!)?.keyId).toBe("k2")
      const plain = keyring.decrypt(now!)
      expect(plain).toMatch(/^\d{11}$/)
      expect(plain).not.toBe(keyring.decrypt(c.tax_id))
    })
    // Reachable again once done, like any new database.
    expect((await admin(`SELECT has_database_privilege('public', $1, 'CONNECT') AS ok`, [into]))[0].ok).toBe(true)
  })

  it("a failure midway (a fake that breaks a CHECK constraint) drops the new database; nothing is left behind", async () => {
    const into = uniqueName("dbkit_anon_fail")
    made.push(into)
    await rowsOf(
      source.url,
      `ALTER TABLE customers ADD CONSTRAINT customers_real_email CHECK (email IS NULL OR email NOT LIKE '%@example.%')`
    )
    try {
      // users is rewritten first and succeeds; customers then fails.
      const run = await cli(["privacy", "anonymize", "--into", into, "--verbose"], env())
      expect(run.code).toBe(exitFor("AnonymizeFailed"))
      expect(run.stderr).toContain("anonymizing public.customers failed")
      expect(run.stderr).toContain("customers_real_email")
      expect(run.stderr).toContain(`the new database ${into} was dropped`)
      expect(await databaseExists(into)).toBe(false)
    } finally {
      await rowsOf(source.url, "ALTER TABLE customers DROP CONSTRAINT customers_real_email")
    }
  })

  it("an interrupted or killed (SIGKILL) run leaves no new database behind", async () => {
    const start = (into: string) => {
      const child = spawn(process.execPath, [
        ...nodeFlags,
        bin,
        "privacy",
        "anonymize",
        "--into",
        into,
        "--batch-size",
        "5"
      ], {
        env: { ...process.env, ...env(), CI: "true" },
        stdio: ["ignore", "pipe", "pipe"]
      })
      let stderr = ""
      child.stderr.on("data", (d) => (stderr += d))
      child.stdout.resume()
      const exited = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)))
      return { child, exited, stderr: () => stderr }
    }
    const connected = async (into: string, application: string) =>
      (await admin<{ n: number }>(
        `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND application_name = $2`,
        [into, application]
      ))[0]!.n > 0
    // 1. SIGKILL as soon as the new database exists (while pg_dump | psql fills it): the guardian drops it.
    const first = uniqueName("dbkit_anon_kill")
    made.push(first)
    const a = start(first)
    expect(await eventually(() => databaseExists(first))).toBe(true)
    a.child.kill("SIGKILL")
    await a.exited
    expect(await eventually(async () => !(await databaseExists(first)))).toBe(true)
    // 2. SIGKILL in the middle of the rewrite (some rows faked, others still original).
    const second = uniqueName("dbkit_anon_kill")
    made.push(second)
    const b = start(second)
    expect(await eventually(() => connected(second, "dbkit-anonymize"))).toBe(true)
    b.child.kill("SIGKILL")
    await b.exited
    expect(await eventually(async () => !(await databaseExists(second)))).toBe(true)
    // 3. Ctrl-C (SIGINT) in the middle of the rewrite: the process drops it before it exits.
    const third = uniqueName("dbkit_anon_int")
    made.push(third)
    const c = start(third)
    expect(await eventually(() => connected(third, "dbkit-anonymize"))).toBe(true)
    c.child.kill("SIGINT")
    expect(await c.exited).toBe(130)
    expect(await databaseExists(third)).toBe(false)
    outputs.push(a.stderr(), b.stderr(), c.stderr())
  })

  it("refuses before creating anything: an existing or invalid name, encrypted columns without keys, a map that does not fit", async () => {
    const existing = await cli(["privacy", "anonymize", "--into", source.name], env())
    expect(existing.code).toBe(exitFor("AnonymizeTargetExists"))
    expect(existing.stderr).toContain(`database ${source.name} already exists`)
    const invalid = await cli(["privacy", "anonymize", "--into", "bad-name; DROP"], env())
    expect(invalid.code).toBe(2)
    expect(invalid.stderr).toContain("is not a valid database name")
    const into = uniqueName("dbkit_anon_nokeys")
    const noKeys = await cli(["privacy", "anonymize", "--into", into], { DATABASE_URL: source.url })
    expect(noKeys.code).toBe(exitFor("FieldKeysInvalid"))
    expect(noKeys.stderr).toContain("public.customers.tax_id")
    expect(await databaseExists(into)).toBe(false)
    const neither = await cli(["privacy", "anonymize"], env())
    expect(neither.code).toBe(2)
    expect(neither.stderr).toContain("--into NEWDB")
    // A map naming a column this database lacks.
    const mapFile = path.join(await import("node:os").then((os) => os.tmpdir()), `${uniqueName("map")}.json`)
    await import("node:fs").then((fs) =>
      fs.writeFileSync(
        mapFile,
        JSON.stringify({
          tables: [{
            schema: "public",
            table: "users",
            key: ["id"],
            tenantColumn: null,
            subject: null,
            onErase: "delete",
            reason: null,
            columns: [{
              column: "birthday",
              category: "date_of_birth",
              erase: "null",
              encrypted: false,
              nullable: true
            }]
          }]
        })
      )
    )
    const mismatch = await cli(["privacy", "anonymize", "--into", into], { ...env(), DBKIT_PRIVACY_MAP: mapFile })
    expect(mismatch.code).toBe(exitFor("PrivacyMapMismatch"))
    expect(mismatch.stderr).toContain("public.users.birthday does not exist")
    expect(await databaseExists(into)).toBe(false)
  })

  it("in place: refused without confirmation, in production even with the variables, and for a role row-level security filters; confirmed, it rewrites every declared value in one go", async () => {
    const target = uniqueName("dbkit_anon_inplace")
    made.push(target)
    // A template must have no sessions: a killed run's pg_dump may still be on its way out.
    expect(
      await eventually(() =>
        admin(`CREATE DATABASE "${target}" TEMPLATE "${source.name}"`).then(() => true, () => false)
      )
    ).toBe(true)
    const url = urlFor(target)
    const inPlace = (extra: Record<string, string>, args: Array<string> = []) =>
      cli(["privacy", "anonymize", "--in-place", ...args], {
        DATABASE_URL: url,
        DBKIT_FIELD_KEYS: FIELD_KEYS,
        ...extra
      })
    const unconfirmed = await inPlace({})
    expect(unconfirmed.code).toBe(4)
    expect(unconfirmed.stderr).toContain("DB_ANONYMIZE_CONFIRM=1")
    const production = await inPlace({
      DB_ENV: "production",
      DB_ANONYMIZE_CONFIRM: "1",
      DB_ANONYMIZE_ALLOW_PRODUCTION: "1"
    }, ["--yes"])
    expect(production.code).toBe(exitFor("AnonymizeRefusedInProduction"))
    expect(production.stderr).toContain("the environment is production")
    expect(production.stderr).toContain("--into")
    expect(await personalOf(url)).toEqual(original)
    // A role that row-level security filters (the application's, not BYPASSRLS) would leave the
    // other tenants' rows as they are: refused before anything is rewritten.
    const filtered = uniqueName("dbkit_anon_norls")
    await admin(`CREATE ROLE "${filtered}" LOGIN IN ROLE dbkit_app`)
    try {
      const asApp = new URL(url)
      asApp.username = filtered
      asApp.password = ""
      const refused = await cli(["privacy", "anonymize", "--in-place", "--yes"], {
        DATABASE_URL: asApp.toString(),
        DBKIT_FIELD_KEYS: FIELD_KEYS
      })
      expect(refused.code).toBe(exitFor("AnonymizeNeedsBypassRls"))
      expect(refused.stderr).toContain(`row-level security on public.users would hide rows from ${filtered}`)
      expect(await personalOf(url)).toEqual(original)
    } finally {
      await admin(`DROP ROLE IF EXISTS "${filtered}"`)
    }
    const auditBefore = (await rowsOf(url, "SELECT count(*)::int AS n FROM audit_log"))[0].n
    const confirmed = await inPlace({ DB_ANONYMIZE_CONFIRM: "1" })
    expect(confirmed.code).toBe(0)
    expect(confirmed.stderr).toContain("dbkit privacy anonymize --in-place · development · ")
    expect(confirmed.stdout).toContain(
      `anonymized ${target} in place: ${
        (2 * (USERS_PER_TENANT + CUSTOMERS_PER_TENANT)).toLocaleString("en-US")
      } rows rewritten in 2 tables`
    )
    const after = await personalOf(url)
    expect(after.customers.map((c) => c.id)).toEqual(original.customers.map((c) => c.id))
    const before = valuesOf(original)
    expect([...valuesOf(after)].filter((v) => before.has(v))).toEqual([])
    expect((await rowsOf(url, "SELECT count(*)::int AS n FROM audit_log"))[0].n).toBe(auditBefore)
  })

  it("never prints key material: no field key in any output above (reports, refusals, --verbose failures)", () => {
    expect(outputs.length).toBeGreaterThan(20)
    for (const text of outputs) for (const secret of secrets) expect(text).not.toContain(secret)
  })
})

// ---------------------------------------------------------------------------------------------
// on the embedded database

const peopleMap: PrivacyMap = {
  auditLog: null,
  notPersonal: [],
  tables: [{
    schema: "public",
    table: "people",
    key: ["id"],
    tenantColumn: null,
    subject: "email",
    onErase: "delete",
    reason: null,
    columns: [
      { column: "email", category: "email", erase: "pseudonymize", encrypted: false, nullable: true },
      { column: "name", category: "name", erase: "redact", encrypted: false, nullable: true },
      { column: "born", category: "date_of_birth", erase: "null", encrypted: false, nullable: true },
      { column: "ip", category: "ip_address", erase: "null", encrypted: false, nullable: true },
      { column: "external_id", category: "identifier", erase: "pseudonymize", encrypted: false, nullable: true },
      { column: "iban", category: "iban", erase: "null", encrypted: false, nullable: true },
      { column: "notes", category: "free_text", erase: "redact", encrypted: false, nullable: true }
    ]
  }]
}

const EmbeddedServices = Layer.mergeAll(
  NonInteractiveGuard("development"),
  Config.layerFrom({ environment: "development" }),
  NodeContext.layer
).pipe(Layer.provideMerge(EmbeddedLive))

layer(EmbeddedServices, { excludeTestServices: true })("dbkit privacy anonymize on the embedded database", (it) => {
  it.effect("in place, confirmed, honouring the columns' types (varchar(n), date, inet, uuid); --into needs a server", () =>
    Effect.gen(function*() {
      yield* withMigrator(referenceMigrations, undefined, (m) => m.migrate())
      const sql = yield* SqlClient.SqlClient
      yield* sql.unsafe(`CREATE TABLE people (
        id serial PRIMARY KEY, email varchar(24) UNIQUE, name varchar(40), born date, ip inet, external_id uuid UNIQUE,
        iban text, notes text)`)
      yield* sql.unsafe(`INSERT INTO people (email, name, born, ip, external_id, iban, notes)
        SELECT 'p' || i || '@firma.test', 'Gudrun Achterberg ' || i, date '1970-01-01' + i, ('192.168.1.' || (i % 250))::inet,
               gen_random_uuid(), 'DE89370400440532013000', CASE WHEN i % 2 = 0 THEN 'Ruft montags an, Kundennummer ' || i END
          FROM generate_series(1, 300) i`)
      const before = yield* sql<
        Record<string, string | null>
      >`SELECT id, email, name, born::text, ip::text, external_id::text, iban, notes FROM people ORDER BY id`
      const refused = yield* Effect.exit(anonymize(peopleMap, {}))
      expect(Exit.isFailure(refused) && JSON.stringify(refused.cause)).toContain("ConfirmationRequired")
      const report = yield* anonymize(peopleMap, { yes: true, batchSize: 64 })
      expect(report.mode).toBe("in-place")
      expect(report.tables[0]!.rows).toBe(300)
      const after = yield* sql<
        Record<string, string | null>
      >`SELECT id, email, name, born::text, ip::text, external_id::text, iban, notes FROM people ORDER BY id`
      expect(after.map((r) => r.id)).toEqual(before.map((r) => r.id))
      after.forEach((row, i) => {
        for (const column of ["email", "name", "born", "ip", "external_id", "iban", "notes"]) {
          if (before[i]![column] === null) expect(row[column]).toBeNull()
          else expect(row[column]).not.toBe(before[i]![column])
        }
        expect(row.email!.length).toBeLessThanOrEqual(24)
        expect(row.email).toMatch(/@example\.(com|org|net)$/)
        expect(row.ip).toMatch(/^10\./)
        expect(ibanValid(row.iban!)).toBe(true)
      })
      // The same IBAN everywhere → the same fake everywhere; unique columns stay unique.
      expect(new Set(after.map((r) => r.iban)).size).toBe(1)
      expect(new Set(after.map((r) => r.email)).size).toBe(300)
      const into = yield* Effect.exit(anonymize(peopleMap, { into: "anon_copy" }))
      expect(Exit.isFailure(into) && JSON.stringify(into.cause)).toContain("NotSupportedOnEmbedded")
    }))
})
