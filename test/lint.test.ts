import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { lintMigrations, type LintRule, lintStatement, rules } from "../src/migrator/lint.js"
import { fromCode, fromDirectory, fromSql, type Migration } from "../src/migrator/source.js"

/** A pending set of SQL migrations, named 0001_m, 0002_m, … */
const pending = (...files: ReadonlyArray<string>): Array<Migration> =>
  files.map((text, i) => fromSql(`000${i + 1}_m`, `000${i + 1}_m.sql`, text))

/** [migration, statement, rule] of every finding, for compact assertions. */
const lint = (...files: ReadonlyArray<string>) =>
  lintMigrations(pending(...files)).map((f) => [f.migration, f.statement, f.rule] as const)

const rulesOf = (text: string): Array<LintRule> => lintStatement(text).map((h) => h.rule)

/** Fires exactly `rule`, on statement 2 (statement 1 is harmless), in migration 0001_m. */
const expectRule = (statement: string, rule: LintRule) =>
  expect(lint(`SELECT 1;\n${statement}`)).toEqual([["0001_m", 2, rule]])

describe("lint rules fire on existing tables", () => {
  it("drop-table", () => expectRule(`DROP TABLE IF EXISTS "public"."invoices" CASCADE;`, "drop-table"))

  it("drop-column (with and without COLUMN)", () => {
    expectRule(`ALTER TABLE "invoices" DROP COLUMN "total";`, "drop-column")
    expectRule(`ALTER TABLE invoices DROP total;`, "drop-column")
    expect(rulesOf(`ALTER TABLE invoices DROP CONSTRAINT invoices_total_check`)).toEqual([])
  })

  it("truncate", () => expectRule(`TRUNCATE TABLE ONLY audit_log RESTART IDENTITY;`, "truncate"))

  it("alter-column-type (TYPE and SET DATA TYPE)", () => {
    expectRule(`ALTER TABLE "invoices" ALTER COLUMN "total" SET DATA TYPE numeric(18, 2);`, "alter-column-type")
    expectRule(`ALTER TABLE invoices ALTER total TYPE bigint USING total::bigint;`, "alter-column-type")
  })

  it("set-not-null", () => expectRule(`ALTER TABLE "customers" ALTER COLUMN "email" SET NOT NULL;`, "set-not-null"))

  it("add-column-not-null-without-default (drizzle form, DEFAULT NULL counts as none)", () => {
    expectRule(`ALTER TABLE "invoices" ADD COLUMN "x" integer NOT NULL;`, "add-column-not-null-without-default")
    expect(rulesOf(`ALTER TABLE invoices ADD x int DEFAULT NULL NOT NULL`)).toEqual([
      "add-column-not-null-without-default"
    ])
  })

  it("add-column-volatile-default (volatile function, serial, identity, stored generated)", () => {
    expectRule(`ALTER TABLE invoices ADD COLUMN ref uuid DEFAULT gen_random_uuid();`, "add-column-volatile-default")
    expect(rulesOf(`ALTER TABLE t ADD COLUMN n bigserial`)).toEqual(["add-column-volatile-default"])
    expect(rulesOf(`ALTER TABLE t ADD COLUMN n bigint GENERATED ALWAYS AS IDENTITY`)).toEqual([
      "add-column-volatile-default"
    ])
    expect(rulesOf(`ALTER TABLE t ADD COLUMN d int GENERATED ALWAYS AS (a * 2) STORED`)).toEqual([
      "add-column-volatile-default"
    ])
    expect(rulesOf(`ALTER TABLE t ADD COLUMN at timestamptz NOT NULL DEFAULT now()`)).toEqual([])
  })

  it("create-index-without-concurrently (drizzle form, UNIQUE, unnamed)", () => {
    expectRule(`CREATE INDEX "idx" ON "invoices" USING btree ("tenant_id");`, "create-index-without-concurrently")
    expect(rulesOf(`CREATE UNIQUE INDEX IF NOT EXISTS i ON public.invoices (number)`)).toEqual([
      "create-index-without-concurrently"
    ])
    expect(rulesOf(`CREATE INDEX ON ONLY invoices (number)`)).toEqual(["create-index-without-concurrently"])
  })

  it("add-unique-without-index (constraint or inline on a new column)", () => {
    expectRule(`ALTER TABLE "users" ADD CONSTRAINT "users_email_unique" UNIQUE("email");`, "add-unique-without-index")
    expect(rulesOf(`ALTER TABLE users ADD PRIMARY KEY (id)`)).toEqual(["add-unique-without-index"])
    expect(rulesOf(`ALTER TABLE users ADD COLUMN code text UNIQUE`)).toEqual(["add-unique-without-index"])
    expect(rulesOf(`ALTER TABLE users ADD CONSTRAINT users_email_unique UNIQUE USING INDEX users_email_idx`))
      .toEqual([])
  })

  it("rename (table, column, implicit column, SET SCHEMA) but not constraints", () => {
    expectRule(`ALTER TABLE "users" RENAME COLUMN "name" TO "full_name";`, "rename")
    expect(rulesOf(`ALTER TABLE users RENAME TO people`)).toEqual(["rename"])
    expect(rulesOf(`ALTER TABLE users RENAME name TO full_name`)).toEqual(["rename"])
    expect(rulesOf(`ALTER TABLE users SET SCHEMA archive`)).toEqual(["rename"])
    expect(rulesOf(`ALTER TABLE users RENAME CONSTRAINT a TO b`)).toEqual([])
  })

  it("drop-schema", () => expectRule(`DROP SCHEMA IF EXISTS reporting CASCADE;`, "drop-schema"))

  it("delete-without-where, even when a subquery has a WHERE", () => {
    expectRule(`DELETE FROM "audit_log";`, "delete-without-where")
    expect(rulesOf(`DELETE FROM audit_log USING (SELECT id FROM t WHERE x) s RETURNING *`)).toEqual([
      "delete-without-where"
    ])
    expect(rulesOf(`DELETE FROM audit_log WHERE at < now() - interval '1 year'`)).toEqual([])
  })

  it("update-without-where, even when the SET has a subquery with a WHERE", () => {
    expectRule(
      `UPDATE invoices SET total = (SELECT sum(amount) FROM invoice_lines l WHERE l.invoice_id = invoices.id);`,
      "update-without-where"
    )
    expect(rulesOf(`UPDATE invoices SET total = 0 WHERE total IS NULL`)).toEqual([])
  })

  it("add-foreign-key-without-not-valid (drizzle form, unnamed)", () => {
    expectRule(
      `ALTER TABLE "a" ADD CONSTRAINT "fk" FOREIGN KEY ("b") REFERENCES "public"."c"("id") ON DELETE cascade ON UPDATE no action;`,
      "add-foreign-key-without-not-valid"
    )
    expect(rulesOf(`ALTER TABLE a ADD FOREIGN KEY (b) REFERENCES c (id)`)).toEqual([
      "add-foreign-key-without-not-valid"
    ])
  })

  it("add-check-without-not-valid", () => {
    expectRule(`ALTER TABLE "payments" ADD CONSTRAINT "positive" CHECK ("amount" > 0);`, "add-check-without-not-valid")
    expect(rulesOf(`ALTER TABLE payments ADD CHECK (amount > 0)`)).toEqual(["add-check-without-not-valid"])
  })

  it("validate-in-same-transaction, but not in a later migration", () => {
    const add = `ALTER TABLE payments ADD CONSTRAINT positive CHECK (amount > 0) NOT VALID;`
    const validate = `ALTER TABLE payments VALIDATE CONSTRAINT positive;`
    expect(lint(`${add}\n${validate}`)).toEqual([["0001_m", 2, "validate-in-same-transaction"]])
    expect(lint(add, validate)).toEqual([])
  })

  it("findings carry the migration, 1-based statement, one severity, the rule's message and a short excerpt", () => {
    const findings = lintMigrations(pending(
      `CREATE TABLE notes (id int);`,
      `-- dbkit: add an index\nSELECT 1;\n--> statement-breakpoint\nCREATE   INDEX\n  notes_idx ON invoices (${
        "x, ".repeat(60)
      }y);`
    ))
    expect(findings).toHaveLength(1)
    const finding = findings[0]!
    expect(finding).toMatchObject({
      migration: "0002_m",
      statement: 2,
      rule: "create-index-without-concurrently",
      severity: "warning",
      message: rules["create-index-without-concurrently"]
    })
    expect(finding.excerpt.startsWith("CREATE INDEX notes_idx ON invoices (x, x,")).toBe(true)
    expect(finding.excerpt.length).toBeLessThanOrEqual(120)
    expect(finding.excerpt.endsWith("…")).toBe(true)
  })

  it("messages are one line and say what to do instead", () => {
    for (const message of Object.values(rules)) {
      expect(message).not.toContain("\n")
      expect(message).toMatch(/;/)
    }
  })
})

describe("ALTER TABLE with several sub-commands", () => {
  it("checks each comma-separated sub-command, not commas inside parentheses or strings", () => {
    expect(rulesOf(
      `ALTER TABLE t ADD COLUMN a numeric(10, 2) NOT NULL DEFAULT 0, ALTER COLUMN b TYPE text, ` +
        `ADD COLUMN c text DEFAULT 'x, DROP COLUMN d', DROP COLUMN e, ALTER COLUMN f SET NOT NULL`
    )).toEqual(["alter-column-type", "drop-column", "set-not-null"])
  })

  it("reports each rule once per statement", () => {
    expect(lint(`ALTER TABLE t DROP COLUMN a, DROP COLUMN b;`)).toEqual([["0001_m", 1, "drop-column"]])
  })
})

describe("no findings for safe statements", () => {
  it("tables created earlier in the pending set are new, however their names are quoted or qualified", () => {
    expect(lint(
      `CREATE TABLE "public"."orders" (id int PRIMARY KEY);`,
      `ALTER TABLE orders ADD COLUMN total int NOT NULL;
       ALTER TABLE "orders" ALTER COLUMN total TYPE bigint, ALTER COLUMN total SET NOT NULL;
       CREATE UNIQUE INDEX orders_total ON public.orders (total);
       ALTER TABLE "public".orders ADD CONSTRAINT fk FOREIGN KEY (id) REFERENCES customers (id);
       ALTER TABLE orders ADD CONSTRAINT positive CHECK (total > 0), ADD CONSTRAINT u UNIQUE (total);
       ALTER TABLE orders RENAME COLUMN total TO amount;
       ALTER TABLE orders DROP COLUMN amount;
       UPDATE orders SET id = id + 1;
       DELETE FROM orders;
       TRUNCATE orders;
       ALTER TABLE orders RENAME TO purchases;
       CREATE INDEX purchases_id ON purchases (id);
       DROP TABLE purchases;`
    )).toEqual([])
  })

  it("a table in another schema with the same name is not new", () => {
    expect(lint(`CREATE TABLE audit.orders (id int);`, `CREATE INDEX i ON orders (id);`)).toEqual([
      ["0002_m", 1, "create-index-without-concurrently"]
    ])
  })

  it("a dropped new table is no longer new; DROP of a mix flags the existing one", () => {
    expect(lint(`CREATE TABLE tmp (id int); DROP TABLE tmp, invoices;`)).toEqual([["0001_m", 2, "drop-table"]])
  })

  it("options.newTables marks tables as new", () => {
    const findings = lintMigrations(pending(`CREATE INDEX i ON "public"."made_in_code" (id);`), {
      newTables: ["made_in_code"]
    })
    expect(findings).toEqual([])
  })

  it("ADD COLUMN NOT NULL with a non-volatile DEFAULT, and nullable columns", () => {
    expect(rulesOf(`ALTER TABLE "invoices" ADD COLUMN "x" integer DEFAULT 0 NOT NULL`)).toEqual([])
    expect(rulesOf(`ALTER TABLE invoices ADD COLUMN note text`)).toEqual([])
    expect(rulesOf(`ALTER TABLE invoices ADD COLUMN ok bool CHECK (ok IS NOT NULL)`)).toEqual([])
  })

  it("CREATE INDEX CONCURRENTLY", () => {
    expect(rulesOf(`CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS "i" ON "invoices" ("number")`)).toEqual([])
  })

  it("NOT VALID foreign keys and checks", () => {
    expect(rulesOf(`ALTER TABLE "a" ADD CONSTRAINT "fk" FOREIGN KEY ("b") REFERENCES "c"("id") NOT VALID`))
      .toEqual([])
    expect(rulesOf(`ALTER TABLE a ADD CONSTRAINT c CHECK (b > 0) NOT VALID`)).toEqual([])
  })

  it("SET NOT NULL after a validated CHECK (col IS NOT NULL) in the pending set (the recommended pattern)", () => {
    expect(lint(
      `ALTER TABLE customers ADD CONSTRAINT email_nn CHECK ("email" IS NOT NULL) NOT VALID;`,
      `ALTER TABLE customers VALIDATE CONSTRAINT email_nn;`,
      `ALTER TABLE "customers" ALTER COLUMN "email" SET NOT NULL;`
    )).toEqual([])
    expect(lint(
      `ALTER TABLE customers ADD CONSTRAINT email_nn CHECK (email IS NOT NULL) NOT VALID;`,
      `ALTER TABLE customers ALTER COLUMN email SET NOT NULL;`
    )).toEqual([["0002_m", 1, "set-not-null"]])
  })

  it("trigger words in strings, dollar-quoted bodies, comments and quoted identifiers", () => {
    expect(lint(
      `COMMENT ON TABLE invoices IS 'drop table invoices; truncate it';
       -- DROP TABLE invoices;
       /* DELETE FROM invoices; /* nested */ TRUNCATE invoices */ SELECT 1;
       CREATE FUNCTION purge() RETURNS void LANGUAGE sql AS $body$ DELETE FROM invoices $body$;
       DO $$ BEGIN EXECUTE 'ALTER TABLE invoices DROP COLUMN total'; END $$;
       INSERT INTO notes (text) VALUES (E'it''s \\' DROP SCHEMA x'), ('UPDATE invoices SET x = 1');
       SELECT "drop table x", 'create index i on t (c)' FROM invoices;`
    )).toEqual([])
  })

  it("skips code migrations", () => {
    const code = Effect.runSync(fromCode([{ name: "0002_code", up: Effect.void }]))
    expect(lintMigrations([...pending(`SELECT 1;`), ...code])).toEqual([])
  })

  it("the reference migrations, linted as one pending set, produce nothing", async () => {
    const migrations = await Effect.runPromise(fromDirectory("migrations"))
    expect(migrations.map((m) => m.name)).toEqual([
      "0000_app_role",
      "0001_reference_schema",
      "0002_rls_force_and_grants",
      "0003_customer_contact",
      "0004_audit_triggers",
      "0005_tenant_safe_keys",
      "0006_tenant_safe_keys_validate",
      "0007_tenant_transaction_stamp"
    ])
    expect(lintMigrations(migrations)).toEqual([])
    // …because the tables are new: on their own, its FKs and indexes would be flagged.
    const alone = migrations.flatMap((m) => m.up._tag === "Sql" ? m.up.statements : [])
      .flatMap((s) => lintStatement(s.text).map((h) => h.rule))
    expect(new Set(alone)).toEqual(new Set(["add-foreign-key-without-not-valid", "create-index-without-concurrently"]))
  })
})
