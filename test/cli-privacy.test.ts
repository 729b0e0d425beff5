// `dbkit privacy map|export|erase` and `dbkit audit report` as a user runs them: exit codes, the guard, the export
// file's mode, --json, and keys that never show in output.
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as crypto from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"
import { afterAll, beforeAll } from "vitest"
import { makeKeyring } from "../src/privacy/fieldCrypto.js"
import { runCli } from "./support/cli.js"
import { createScratchDatabase, dropScratchDatabase, queryAt, serverAvailable, tempDir } from "./support/databases.js"

const server = await serverAvailable()

describe.skipIf(!server)("dbkit privacy on the server", () => {
  let db: { name: string; url: string }
  const key = crypto.randomBytes(32)
  const keyText = key.toString("base64")
  const keyring = makeKeyring([["k1", key]])
  beforeAll(async () => {
    db = await createScratchDatabase("dbkit_cli_privacy")
  })
  afterAll(async () => {
    await dropScratchDatabase(db.name)
  })

  it.effect("map, export (0600, decrypted), erase (guarded, dry run, production), audit report; no key in any output", () =>
    Effect.gen(function*() {
      const env = { DATABASE_URL: db.url, DBKIT_FIELD_KEYS: `k1:${keyText}`, DBKIT_TENANT_TABLE: "organizations" }
      const outputs: Array<string> = []
      const cli = (args: Array<string>, extra: Record<string, string> = {}) =>
        Effect.promise(() => runCli(args, { ...env, ...extra })).pipe(
          Effect.tap((r) => Effect.sync(() => outputs.push(r.stdout, r.stderr)))
        )
      const query = (text: string, params: Array<unknown> = []) => Effect.promise(() => queryAt(db.url, text, params))

      expect((yield* cli(["migrate"])).code).toBe(0)
      expect((yield* cli(["tenant", "provision", "acme"])).code).toBe(0)
      const [acme] = yield* query(`SELECT id FROM organizations WHERE slug = 'acme'`)
      yield* query(
        `INSERT INTO customers (id, tenant_id, name, email, phone, tax_id) VALUES ('00000000-0000-4000-8000-000000000001', $1, 'Mary Shelley', 'mary@example.com', '+44 1', $2)`,
        [acme.id, keyring.encrypt("GB123")]
      )
      yield* query(
        `INSERT INTO invoices (tenant_id, number, customer_id, issue_date, due_date, currency) VALUES ($1, 'A-1', '00000000-0000-4000-8000-000000000001', '2026-01-01', '2026-01-31', 'EUR')`,
        [acme.id]
      )

      const map = yield* cli(["privacy", "map"])
      expect(map.code).toBe(0)
      expect(map.stdout).toContain("public.customers")
      expect(map.stdout).toContain("no undeclared columns look personal")
      yield* query(`ALTER TABLE invoices ADD COLUMN billing_email text`)
      const strict = yield* cli(["privacy", "map", "--strict"])
      expect(strict.code).toBe(19)
      expect(strict.stdout).toContain("public.invoices.billing_email  (looks like email)")
      expect(strict.stderr).toContain("not declared: public.invoices.billing_email")
      yield* query(`ALTER TABLE invoices DROP COLUMN billing_email`)

      const out = path.join(tempDir("dbkit-export-"), "mary.json")
      const exported = yield* cli([
        "privacy",
        "export",
        "--tenant",
        "acme",
        "--email",
        "MARY@example.com",
        "--out",
        out
      ])
      expect(exported.code).toBe(0)
      expect(exported.stdout).toContain("public.customers 1, public.invoices 1")
      expect(fs.statSync(out).mode & 0o777).toBe(0o600)
      const file = JSON.parse(fs.readFileSync(out, "utf8"))
      expect(file.tables[0].rows[0]).toMatchObject({ name: "Mary Shelley", tax_id: "GB123" })
      expect(
        (yield* cli(["privacy", "export", "--tenant", "acme", "--email", "nobody@example.com", "--out", out])).code
      ).toBe(20)
      expect((yield* cli(["privacy", "export", "--tenant", "nope", "--email", "mary@example.com", "--out", out])).code)
        .toBe(2)
      // Without keys, an encrypted value cannot be exported: a typed error, exit 2.
      const keyless = yield* Effect.promise(() =>
        runCli(["privacy", "export", "--email", "mary@example.com", "--out", "-"], { DATABASE_URL: db.url })
      )
      expect(keyless.code).toBe(2)
      expect(keyless.stderr).toContain("encrypted columns")

      const dry = yield* cli([
        "privacy",
        "erase",
        "--tenant",
        "acme",
        "--email",
        "mary@example.com",
        "--dry-run",
        "--json"
      ])
      expect(dry.code).toBe(0)
      expect(JSON.parse(dry.stdout).steps.map((s: { table: string; action: string }) => `${s.table}:${s.action}`))
        .toEqual([
          "public.customers:erase",
          "public.invoices:keep"
        ])
      const refused = yield* cli(["privacy", "erase", "--tenant", "acme", "--email", "mary@example.com"])
      expect(refused.code).toBe(4)
      expect(refused.stderr).toContain("DB_PRIVACY_ERASE_CONFIRM=1")
      const production = yield* cli(["privacy", "erase", "--tenant", "acme", "--email", "mary@example.com"], {
        DB_ENV: "production",
        DB_PRIVACY_ERASE_CONFIRM: "1"
      })
      expect(production.code).toBe(4)
      expect(production.stderr).toContain("DB_PRIVACY_ERASE_ALLOW_PRODUCTION=1")
      expect((yield* query(`SELECT name FROM customers`))[0].name).toBe("Mary Shelley")

      const erased = yield* cli(["privacy", "erase", "--tenant", "acme", "--email", "mary@example.com"], {
        DB_PRIVACY_ERASE_CONFIRM: "1"
      })
      expect(erased.code).toBe(0)
      expect(erased.stdout).toContain("erased in one transaction")
      const [row] = yield* query(`SELECT name, email, phone, tax_id FROM customers`)
      expect(row).toMatchObject({ name: "[erased]", phone: null, tax_id: null })
      expect(row.email).not.toContain("mary")

      const report = yield* cli(["audit", "report", "--tenant", "acme", "--json"])
      expect(report.code).toBe(0)
      const summary = JSON.parse(report.stdout)
      expect(summary.byTable.find((t: { table: string }) => t.table === "customers")).toMatchObject({
        insert: 1,
        update: 1,
        other: 1
      })
      const human = yield* cli(["audit", "report", "--tenant", "acme", "--from", "2000-01-01", "--to", "2000-01-02"])
      expect(human.stdout).toContain("0 entries")

      // A malformed key is a usage error that does not echo it.
      const bad = yield* cli(["privacy", "map"], { DBKIT_FIELD_KEYS: `k1:${keyText.slice(0, 20)}` })
      expect(bad.code).toBe(2)
      expect(bad.stderr).toContain(`key "k1" is not 32 bytes`)
      for (const text of outputs) {
        expect(text).not.toContain(keyText)
        expect(text).not.toContain(keyText.slice(0, 20))
      }
    }))
})
