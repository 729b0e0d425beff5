// The row-level security audit: each finding's condition is created for real (in a schema of its
// own, with a role of its own), seen to appear with the object and the fix, then seen to go once
// fixed. On the server and, where roles are not involved, on the embedded database; the
// reference schema after migration; the CLI (JSON shape, exit code); the health check.
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as SqlClient from "@effect/sql/SqlClient"
import { afterAll, describe, expect, it, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as fs from "node:fs"
import * as path from "node:path"
import * as Backup from "../src/backup/Backup.js"
import * as Config from "../src/Config.js"
import * as Health from "../src/health/Health.js"
import { lintMigrations } from "../src/migrator/lint.js"
import { tenancyRules } from "../src/migrator/lintTenancy.js"
import * as Migrator from "../src/migrator/Migrator.js"
import { fromDirectory, fromSql } from "../src/migrator/source.js"
import * as Project from "../src/Project.js"
import { audit, type AuditFindingKind, readOnlyQueries } from "../src/RlsAudit.js"
import { runCli } from "./support/cli.js"
import {
  admin,
  createScratchDatabase,
  dropScratchDatabase,
  EmbeddedLive,
  queryAt,
  serverAvailable,
  ServerLive,
  tempDir,
  uniqueName
} from "./support/databases.js"
import { freshSchema, writeFolder } from "./support/migrations.js"

const server = await serverAvailable()
const appRole = uniqueName("rls_app")
const repoRoot = path.resolve(import.meta.dirname, "..")

afterAll(async () => {
  if (server) await admin(`DROP ROLE IF EXISTS ${appRole}`)
})

/** A schema with two tenant tables under forced RLS and a FOR ALL tenant policy for the app role. */
const isolatedSchema = (schema: string, role: string) => `
  CREATE SCHEMA ${schema};
  CREATE TABLE ${schema}.customers (id uuid PRIMARY KEY, tenant_id uuid NOT NULL, name text, UNIQUE (tenant_id, id));
  CREATE TABLE ${schema}.invoices (id uuid PRIMARY KEY, tenant_id uuid NOT NULL, customer_id uuid NOT NULL,
    FOREIGN KEY (tenant_id, customer_id) REFERENCES ${schema}.customers (tenant_id, id));
  ${
  ["customers", "invoices"].map((t) => `
    ALTER TABLE ${schema}.${t} ENABLE ROW LEVEL SECURITY;
    ALTER TABLE ${schema}.${t} FORCE ROW LEVEL SECURITY;
    CREATE POLICY tenant_isolation ON ${schema}.${t} FOR ALL TO ${role}
      USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
      WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);
    GRANT SELECT, INSERT, UPDATE, DELETE ON ${schema}.${t} TO ${role};`).join("\n")
}
  GRANT USAGE ON SCHEMA ${schema} TO ${role};`

/** The findings in `schema`, as [kind, object] pairs. */
const findingsIn = (schema: string) =>
  Effect.gen(function*() {
    const report = yield* audit(readOnlyQueries(yield* SqlClient.SqlClient), { schemas: [schema] })
    return report.findings.map((f) => [f.kind, f.object] as const)
  })

/** Runs `sql`, then checks the audit sees exactly `expected` in `schema`. */
const after = (schema: string, sql: string, expected: ReadonlyArray<readonly [AuditFindingKind, string]>) =>
  Effect.gen(function*() {
    yield* (yield* SqlClient.SqlClient).unsafe(sql)
    expect(yield* findingsIn(schema)).toEqual(expected)
  })

if (server) {
  layer(ServerLive, { timeout: 60_000 })(
    "each finding appears with its condition and goes when fixed (server)",
    (it) => {
      it.effect("a schema isolated by forced RLS and tenant policies has no findings", () =>
        Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          yield* sql.unsafe(
            `DO $$ BEGIN CREATE ROLE ${appRole} NOLOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$`
          )
          const s = freshSchema()
          yield* sql.unsafe(isolatedSchema(s, appRole))
          const report = yield* audit(readOnlyQueries(sql), { schemas: [s] })
          expect(report).toMatchObject({ tenantTables: 2, appRoles: [appRole], findings: [] })
        }))

      it.effect("rls-not-enabled, then rls-not-forced, then nothing", () =>
        Effect.gen(function*() {
          const s = freshSchema()
          yield* after(s, `CREATE SCHEMA ${s}; CREATE TABLE ${s}.notes (id int, tenant_id uuid)`, [
            ["rls-not-enabled", `table ${s}.notes`]
          ])
          yield* after(s, `ALTER TABLE ${s}.notes ENABLE ROW LEVEL SECURITY`, [["rls-not-forced", `table ${s}.notes`]])
          yield* after(s, `ALTER TABLE ${s}.notes FORCE ROW LEVEL SECURITY`, [])
          const report = yield* audit(readOnlyQueries(yield* SqlClient.SqlClient), { schemas: [s] })
          expect(report.tenantTables).toBe(1)
        }))

      it.effect("policy-fails-open: IS NULL OR (unset), coalesce = '' (unset and empty), USING (true); fixed policies pass", () =>
        Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          const s = freshSchema()
          yield* sql.unsafe(isolatedSchema(s, appRole))
          const policy = `policy tenant_isolation on ${s}.customers`
          yield* after(
            s,
            `ALTER POLICY tenant_isolation ON ${s}.customers
             USING (current_setting('app.tenant_id', true) IS NULL OR tenant_id = current_setting('app.tenant_id', true)::uuid)`,
            [["policy-fails-open", policy]]
          )
          const report = yield* audit(readOnlyQueries(sql), { schemas: [s] })
          expect(report.findings[0]!.problem).toBe(
            "its USING lets another tenant's rows through when app.tenant_id is unset"
          )
          expect(report.findings[0]!.fix).toContain("nullif(current_setting('app.tenant_id', true), '')::uuid")
          yield* sql.unsafe(
            `ALTER POLICY tenant_isolation ON ${s}.customers
             WITH CHECK (coalesce(current_setting('app.tenant_id', true), '') = '' OR tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)`
          )
          const both = yield* audit(readOnlyQueries(sql), { schemas: [s] })
          expect(both.findings.map((f) => f.problem)).toEqual([
            "its USING lets another tenant's rows through when app.tenant_id is unset",
            "its WITH CHECK lets another tenant's rows in when app.tenant_id is unset or empty"
          ])
          yield* after(
            s,
            `ALTER POLICY tenant_isolation ON ${s}.customers
             USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
             WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)`,
            []
          )
          yield* after(s, `CREATE POLICY everyone ON ${s}.invoices FOR SELECT TO ${appRole} USING (true)`, [
            ["policy-fails-open", `policy everyone on ${s}.invoices`]
          ])
          // Shared rows (tenant_id IS NULL) visible to every tenant are not failing open.
          yield* after(
            s,
            `DROP POLICY everyone ON ${s}.invoices;
           CREATE POLICY shared ON ${s}.invoices FOR SELECT TO ${appRole}
             USING (tenant_id IS NULL OR tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)`,
            []
          )
          // current_setting without missing_ok raises when unset: closed; a policy for another role is not the app's.
          yield* after(
            s,
            `ALTER POLICY shared ON ${s}.invoices USING (tenant_id = current_setting('app.tenant_id')::uuid)`,
            []
          )
        }))

      it.effect("policy-missing-command: a granted command no policy covers", () =>
        Effect.gen(function*() {
          const s = freshSchema()
          yield* (yield* SqlClient.SqlClient).unsafe(isolatedSchema(s, appRole))
          yield* after(
            s,
            `DROP POLICY tenant_isolation ON ${s}.invoices;
           CREATE POLICY tenant_read ON ${s}.invoices FOR SELECT TO ${appRole}
             USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)`,
            ["INSERT", "UPDATE", "DELETE"].map((c) => ["policy-missing-command", `table ${s}.invoices`] as const)
          )
          yield* after(s, `REVOKE INSERT, UPDATE, DELETE ON ${s}.invoices FROM ${appRole}`, [])
        }))

      it.effect("role-bypasses-rls, role-superuser and role-owns-table", () =>
        Effect.gen(function*() {
          const s = freshSchema()
          yield* (yield* SqlClient.SqlClient).unsafe(isolatedSchema(s, appRole))
          yield* after(s, `ALTER ROLE ${appRole} BYPASSRLS`, [["role-bypasses-rls", `role ${appRole}`]])
          yield* after(s, `ALTER ROLE ${appRole} NOBYPASSRLS SUPERUSER`, [["role-superuser", `role ${appRole}`]])
          yield* after(s, `ALTER ROLE ${appRole} NOSUPERUSER`, [])
          yield* after(s, `ALTER TABLE ${s}.customers OWNER TO ${appRole}`, [[
            "role-owns-table",
            `table ${s}.customers`
          ]])
          const report = yield* audit(readOnlyQueries(yield* SqlClient.SqlClient), { schemas: [s] })
          expect(report.findings[0]).toMatchObject({ severity: "warning" }) // forced: it can only turn RLS off
          yield* after(s, `ALTER TABLE ${s}.customers NO FORCE ROW LEVEL SECURITY`, [
            ["rls-not-forced", `table ${s}.customers`],
            ["role-owns-table", `table ${s}.customers`]
          ])
          yield* after(
            s,
            `ALTER TABLE ${s}.customers FORCE ROW LEVEL SECURITY; ALTER TABLE ${s}.customers OWNER TO root`,
            []
          )
        }))

      it.effect("foreign-key-without-tenant: a single-column key between tenant tables, not onto shared rows", () =>
        Effect.gen(function*() {
          const s = freshSchema()
          yield* (yield* SqlClient.SqlClient).unsafe(isolatedSchema(s, appRole))
          yield* after(
            s,
            `ALTER TABLE ${s}.invoices ADD CONSTRAINT invoices_customer_fk FOREIGN KEY (customer_id) REFERENCES ${s}.customers (id)`,
            [["foreign-key-without-tenant", `foreign key invoices_customer_fk on ${s}.invoices`]]
          )
          yield* after(s, `ALTER TABLE ${s}.invoices DROP CONSTRAINT invoices_customer_fk`, [])
          // A key onto a table whose tenant column is nullable (shared rows) cannot be composite.
          yield* after(
            s,
            `CREATE TABLE ${s}.labels (id uuid PRIMARY KEY, tenant_id uuid);
           ALTER TABLE ${s}.labels ENABLE ROW LEVEL SECURITY; ALTER TABLE ${s}.labels FORCE ROW LEVEL SECURITY;
           ALTER TABLE ${s}.invoices ADD COLUMN label_id uuid REFERENCES ${s}.labels (id)`,
            []
          )
        }))

      it.effect("shared-sequence: a tenant table's sequence granted to the app role", () =>
        Effect.gen(function*() {
          const s = freshSchema()
          yield* (yield* SqlClient.SqlClient).unsafe(isolatedSchema(s, appRole))
          yield* after(
            s,
            `ALTER TABLE ${s}.invoices ADD COLUMN number bigserial;
           GRANT USAGE, UPDATE ON SEQUENCE ${s}.invoices_number_seq TO ${appRole}`,
            [["shared-sequence", `sequence ${s}.invoices_number_seq`]]
          )
          const report = yield* audit(readOnlyQueries(yield* SqlClient.SqlClient), { schemas: [s] })
          expect(report.findings[0]!.problem).toContain(`${appRole} holds USAGE, UPDATE`)
          expect(report.findings[0]!.fix).toBe(
            `REVOKE ALL ON SEQUENCE ${s}.invoices_number_seq FROM ${appRole} ` +
              "(or key the table with uuids or an identity column)"
          )
          yield* after(s, `REVOKE ALL ON SEQUENCE ${s}.invoices_number_seq FROM ${appRole}`, [])
        }))

      it.effect("security-definer-search-path: a SECURITY DEFINER function without a fixed search_path", () =>
        Effect.gen(function*() {
          const s = freshSchema()
          yield* after(
            s,
            `CREATE SCHEMA ${s};
           CREATE FUNCTION ${s}.all_invoices(n int) RETURNS int LANGUAGE sql SECURITY DEFINER AS $$ SELECT n $$`,
            [["security-definer-search-path", `function ${s}.all_invoices(n integer)`]]
          )
          yield* after(s, `ALTER FUNCTION ${s}.all_invoices(int) SET search_path = pg_catalog, pg_temp`, [])
        }))
    }
  )
}

layer(EmbeddedLive, { timeout: 60_000 })("the same audit on the embedded database (no roles involved)", (it) => {
  it.effect("RLS off/not forced, a policy failing open, a key without the tenant, an unsafe SECURITY DEFINER", () =>
    Effect.gen(function*() {
      const s = freshSchema()
      yield* after(
        s,
        `CREATE SCHEMA ${s};
         CREATE TABLE ${s}.customers (id uuid PRIMARY KEY, tenant_id uuid NOT NULL, UNIQUE (tenant_id, id));
         CREATE TABLE ${s}.invoices (id uuid PRIMARY KEY, tenant_id uuid NOT NULL, customer_id uuid REFERENCES ${s}.customers (id));
         ALTER TABLE ${s}.customers ENABLE ROW LEVEL SECURITY;
         CREATE POLICY open ON ${s}.customers USING (coalesce(current_setting('app.tenant_id', true), '') = '' OR tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);
         CREATE FUNCTION ${s}.f() RETURNS int LANGUAGE sql SECURITY DEFINER AS $$ SELECT 1 $$`,
        [
          ["rls-not-forced", `table ${s}.customers`],
          ["rls-not-enabled", `table ${s}.invoices`],
          ["policy-fails-open", `policy open on ${s}.customers`],
          ["foreign-key-without-tenant", `foreign key invoices_customer_id_fkey on ${s}.invoices`],
          ["security-definer-search-path", `function ${s}.f()`]
        ]
      )
      yield* after(
        s,
        `ALTER TABLE ${s}.customers FORCE ROW LEVEL SECURITY;
         ALTER TABLE ${s}.invoices ENABLE ROW LEVEL SECURITY; ALTER TABLE ${s}.invoices FORCE ROW LEVEL SECURITY;
         ALTER POLICY open ON ${s}.customers USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);
         ALTER TABLE ${s}.invoices DROP CONSTRAINT invoices_customer_id_fkey;
         ALTER TABLE ${s}.invoices ADD FOREIGN KEY (tenant_id, customer_id) REFERENCES ${s}.customers (tenant_id, id);
         ALTER FUNCTION ${s}.f() SET search_path = pg_catalog`,
        []
      )
    }))
})

/** The migrations folder holds a migration that revokes the app role's grant on audit_log's sequence. */
const sequenceRevoked = fs.readdirSync(path.join(repoRoot, "migrations")).some((f) =>
  f.endsWith(".sql") && /REVOKE[^;]*ON SEQUENCE[^;]*audit_log_id_seq/i.test(
    fs.readFileSync(path.join(repoRoot, "migrations", f), "utf8")
  )
)

describe.runIf(server)("dbkit tenancy audit (CLI) on the reference schema", () => {
  it(
    "after migration: no findings but the audit_log sequence grant until a migration revokes it; --json; exit 15 then 0",
    async () => {
      const db = await createScratchDatabase("dbkit_rls_audit")
      try {
        const env = { DATABASE_URL: db.url }
        const migrated = await runCli(["migrate"], env)
        expect(migrated.code, migrated.stderr).toBe(0)
        const first = await runCli(["tenancy", "audit", "--json"], env)
        const report = JSON.parse(first.stdout)
        expect(report).toMatchObject({
          tenantColumn: "tenant_id",
          setting: "app.tenant_id",
          schemas: null,
          appRoles: ["dbkit_app"],
          tenantTables: 9
        })
        const expected = sequenceRevoked ? [] : [{
          kind: "shared-sequence",
          severity: "warning",
          object: "sequence public.audit_log_id_seq",
          problem: expect.stringContaining("dbkit_app holds USAGE"),
          fix: "REVOKE ALL ON SEQUENCE public.audit_log_id_seq FROM dbkit_app (an identity column needs no grant)"
        }]
        expect(report.findings).toEqual(expected)
        expect(first.code).toBe(expected.length === 0 ? 0 : 15)
        await queryAt(db.url, "REVOKE ALL ON SEQUENCE public.audit_log_id_seq FROM dbkit_app")
        const clean = await runCli(["tenancy", "audit"], env)
        expect(clean.code, clean.stderr).toBe(0)
        expect(clean.stdout).toContain("9 tenant table(s) with tenant_id in all schemas")
        expect(clean.stdout).toContain("no findings")

        await queryAt(db.url, "ALTER TABLE public.payments NO FORCE ROW LEVEL SECURITY")
        const human = await runCli(["tenancy", "audit", "--schema", "public"], env)
        expect(human.code).toBe(15)
        expect(human.stdout).toContain(
          "warning  table public.payments: row-level security is not forced: its owner (root) sees every tenant\n" +
            "  fix: ALTER TABLE public.payments FORCE ROW LEVEL SECURITY"
        )
        expect(human.stderr).toBe("")
      } finally {
        await dropScratchDatabase(db.name)
      }
    },
    120_000
  )
})

/** Health over the database in context, with the project read from `config` (a dbkit.config.json). */
const healthOf = (config: object) =>
  Effect.gen(function*() {
    const dir = writeFolder({ "dbkit.config.json": JSON.stringify(config) })
    const project = yield* Project.load({ cwd: dir, env: {} })
    const health = yield* Health.Health.pipe(
      Effect.provide(
        Health.layer().pipe(
          Layer.provide(Migrator.layer({ source: fromDirectory(writeFolder({})) })),
          Layer.provide(Backup.layer),
          Layer.provide(Config.layerFrom({ backupDir: tempDir("dbkit-rls-backups-") })),
          Layer.provide(NodeContext.layer)
        )
      )
    )
    const report = yield* health.report({ only: ["tenancy"] }).pipe(Effect.provide(Project.layerFrom(project)))
    return report.checks[0]!
  })

if (server) {
  layer(ServerLive, { timeout: 60_000 })("the tenancy health check", (it) => {
    it.effect("not applicable without declared RLS tenancy; critical on a table without RLS; ok once fixed", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        expect(yield* healthOf({})).toMatchObject({ name: "tenancy", status: "not applicable" })
        expect(yield* healthOf({ tenancy: { strategy: "schema" } })).toMatchObject({ status: "not applicable" })
        const rls = { tenancy: { strategy: "rls" } }
        expect(yield* healthOf(rls)).toMatchObject({
          status: "not applicable",
          detail: "no table has the tenant_id column"
        })
        yield* sql.unsafe("CREATE TABLE notes (id int, tenant_id uuid)")
        expect(yield* healthOf(rls)).toMatchObject({
          status: "critical",
          value: 1,
          detail: expect.stringContaining("table public.notes has the tenant column but row-level security is off")
        })
        yield* sql.unsafe("ALTER TABLE notes ENABLE ROW LEVEL SECURITY")
        expect(yield* healthOf(rls)).toMatchObject({ status: "warn", value: 1 })
        yield* sql.unsafe("ALTER TABLE notes FORCE ROW LEVEL SECURITY")
        expect(yield* healthOf(rls)).toMatchObject({ status: "ok", value: 0 })
      }))
  })
}

describe("migrate plan's tenancy lint rules", () => {
  /** [migration, statement, rule] of the tenancy findings of a pending set. */
  const tenancyLint = (...files: ReadonlyArray<string>) =>
    lintMigrations(files.map((text, i) => fromSql(`000${i + 1}_m`, `000${i + 1}_m.sql`, text)))
      .filter((f) => f.rule in tenancyRules)
      .map((f) => [f.migration, f.statement, f.rule] as const)

  const table = (name: string) => `CREATE TABLE "${name}" ("id" uuid PRIMARY KEY, "tenant_id" uuid NOT NULL);`
  const forced = (name: string) =>
    `ALTER TABLE "${name}" ENABLE ROW LEVEL SECURITY;\nALTER TABLE "${name}" FORCE ROW LEVEL SECURITY;`

  it("a tenant table without ENABLE and FORCE in the pending set; FORCE in a later migration is enough", () => {
    expect(tenancyLint(`SELECT 1;\n${table("notes")}`)).toEqual([["0001_m", 2, "tenant-table-without-forced-rls"]])
    expect(tenancyLint(`${table("notes")}\nALTER TABLE notes ENABLE ROW LEVEL SECURITY;`)).toEqual([
      ["0001_m", 1, "tenant-table-without-forced-rls"]
    ])
    expect(tenancyLint(table("notes"), forced("notes"))).toEqual([])
    expect(tenancyLint(`CREATE TABLE plain (id int, tenant text);`)).toEqual([])
  })

  it("DISABLE / NO FORCE ROW LEVEL SECURITY", () => {
    expect(tenancyLint(`ALTER TABLE invoices NO FORCE ROW LEVEL SECURITY;`)).toEqual([["0001_m", 1, "rls-disabled"]])
    expect(tenancyLint(`ALTER TABLE invoices DISABLE ROW LEVEL SECURITY;`)).toEqual([["0001_m", 1, "rls-disabled"]])
  })

  it("policies true without a tenant; the reference form and shared rows pass", () => {
    const open = [
      `CREATE POLICY p ON t USING (current_setting('app.tenant_id', true) IS NULL OR tenant_id = current_setting('app.tenant_id', true)::uuid);`,
      `CREATE POLICY p ON t USING (coalesce(current_setting('app.tenant_id', true), '') = '' OR tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);`,
      `ALTER POLICY p ON t WITH CHECK (current_setting('app.tenant_id', true) = '' or tenant_id = current_setting('app.tenant_id', true)::uuid);`,
      `CREATE POLICY p ON t FOR SELECT TO app USING (true);`
    ]
    for (const text of open) expect(tenancyLint(text), text).toEqual([["0001_m", 1, "policy-fails-open"]])
    const closed = [
      `CREATE POLICY "tenant_isolation" ON "accounts" AS PERMISSIVE FOR ALL TO "dbkit_app" USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid) WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);`,
      `CREATE POLICY "roles_visible" ON "roles" FOR SELECT TO "dbkit_app" USING (tenant_id is null or tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);`,
      `COMMENT ON POLICY p ON t IS 'USING (true)';`
    ]
    for (const text of closed) expect(tenancyLint(text), text).toEqual([])
  })

  it("roles given BYPASSRLS or SUPERUSER; NOBYPASSRLS passes", () => {
    expect(tenancyLint(`ALTER ROLE app BYPASSRLS;`)).toEqual([["0001_m", 1, "role-bypasses-rls"]])
    expect(tenancyLint(`CREATE ROLE app LOGIN SUPERUSER;`)).toEqual([["0001_m", 1, "role-bypasses-rls"]])
    expect(tenancyLint(`CREATE ROLE app NOLOGIN NOBYPASSRLS NOSUPERUSER;`)).toEqual([])
  })

  it("single-column keys between tenant tables, unless dropped later in the set or onto shared rows", () => {
    const base = [table("customers"), forced("customers"), table("invoices"), forced("invoices")].join("\n")
    const single =
      `ALTER TABLE "invoices" ADD CONSTRAINT "inv_cust_fk" FOREIGN KEY ("customer_id") REFERENCES "public"."customers"("id") NOT VALID;`
    expect(tenancyLint(base, single)).toEqual([["0002_m", 1, "tenant-foreign-key-without-tenant"]])
    expect(tenancyLint(base, single, `ALTER TABLE "invoices" DROP CONSTRAINT "inv_cust_fk";`)).toEqual([])
    expect(tenancyLint(
      base,
      `ALTER TABLE "invoices" ADD CONSTRAINT "k" FOREIGN KEY ("tenant_id","customer_id") REFERENCES "public"."customers"("tenant_id","id") NOT VALID;`
    )).toEqual([])
    expect(
      tenancyLint(
        `${base}\nCREATE TABLE lines (id uuid, tenant_id uuid NOT NULL, invoice_id uuid REFERENCES invoices (id));`
      )
    )
      .toEqual([["0001_m", 7, "tenant-table-without-forced-rls"], ["0001_m", 7, "tenant-foreign-key-without-tenant"]])
    expect(
      tenancyLint(
        `CREATE TABLE roles (id uuid PRIMARY KEY, tenant_id uuid);\n${forced("roles")}\n${base}`,
        `ALTER TABLE invoices ADD FOREIGN KEY (role_id) REFERENCES roles (id) NOT VALID;`
      )
    ).toEqual([])
  })

  it("SECURITY DEFINER without SET search_path", () => {
    expect(tenancyLint(`CREATE FUNCTION f() RETURNS int LANGUAGE sql SECURITY DEFINER AS $$ SELECT 1 $$;`)).toEqual([
      ["0001_m", 1, "security-definer-without-search-path"]
    ])
    expect(tenancyLint(
      `CREATE OR REPLACE FUNCTION f() RETURNS int LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog AS $$ SELECT 1 $$;`
    )).toEqual([])
  })

  it("the reference migrations, linted as one pending set, break no tenancy rule", async () => {
    const migrations = await Effect.runPromise(fromDirectory(path.join(repoRoot, "migrations")))
    expect(lintMigrations(migrations).filter((f) => f.rule in tenancyRules)).toEqual([])
  })
})
