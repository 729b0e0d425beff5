// The row-level security audit on a 200-table tenant schema, whole process.
//   dbkit tenancy audit --json   (exit 0 and no findings required: the schema is clean; the JSON must count 200
//                                 tenant tables and name the bench role as the application role)
//   vs psql -X -At -c '<query>'  the catalog query a user would otherwise run for the first check alone: tables
//                                 with tenant_id whose RLS is not both enabled and forced (it must print nothing)
// Setup (untimed): a scratch database with 200 tables (id uuid, tenant_id uuid NOT NULL, 3 more columns), each with
// RLS enabled and forced, a FOR ALL tenant policy for a bench role and DML granted to it, and a composite foreign key
// from every table but the first onto the previous one — so the audit has 200 policies (800 fail-open probes), 200
// keys and 800 grants to weigh. The role is cluster-wide: named per run, dropped at the end.
import { pgEnvOf, withClient } from "../harness.mjs"

const TABLES = 200

const RLS_QUERY = "SELECT n.nspname || '.' || c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace " +
  "JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped " +
  "WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') " +
  "AND NOT (c.relrowsecurity AND c.relforcerowsecurity)"

const schemaSql = (role) => {
  const out = [`CREATE ROLE ${role} NOLOGIN NOBYPASSRLS`, `GRANT USAGE ON SCHEMA public TO ${role}`]
  for (let i = 0; i < TABLES; i++) {
    const t = `t${String(i).padStart(3, "0")}`
    const prev = `t${String(i - 1).padStart(3, "0")}`
    out.push(
      `CREATE TABLE ${t} (id uuid PRIMARY KEY, tenant_id uuid NOT NULL, name text, amount numeric, ` +
        `${i === 0 ? "" : "prev_id uuid, "}created_at timestamptz DEFAULT now(), UNIQUE (tenant_id, id)` +
        `${i === 0 ? "" : `, FOREIGN KEY (tenant_id, prev_id) REFERENCES ${prev} (tenant_id, id)`})`,
      `ALTER TABLE ${t} ENABLE ROW LEVEL SECURITY`,
      `ALTER TABLE ${t} FORCE ROW LEVEL SECURITY`,
      `CREATE POLICY tenant_isolation ON ${t} FOR ALL TO ${role} ` +
        `USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid) ` +
        `WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)`,
      `GRANT SELECT, INSERT, UPDATE, DELETE ON ${t} TO ${role}`
    )
  }
  return out.join(";\n")
}

export async function rows(ctx) {
  const db = await ctx.scratchDb()
  const role = `dbkit_bench_rls_${process.pid}`
  try {
    await withClient(db.url, (c) => c.query(schemaSql(role)))
    const env = ctx.childEnv({ DATABASE_URL: db.url })
    const psqlEnv = ctx.childEnv(pgEnvOf(db.url))
    const [dbkit, psql] = await ctx.compare([
      ctx.processSide("dbkit tenancy audit --json", ctx.node, ["bin/dbkit.mjs", "tenancy", "audit", "--json"], {
        cwd: ctx.repoRoot,
        env,
        check: (_, r) => {
          const report = JSON.parse(r.stdout)
          if (report.tenantTables !== TABLES || report.findings.length !== 0 || report.appRoles[0] !== role) {
            throw new Error(`bench: tenancy audit on the clean ${TABLES}-table schema said:\n${r.stdout.slice(0, 3000)}`)
          }
        }
      }),
      ctx.processSide("psql RLS check", "psql", ["-X", "-At", "-c", RLS_QUERY], {
        env: psqlEnv,
        check: (_, r) => {
          if (r.stdout.trim() !== "") throw new Error(`bench: psql RLS check found tables:\n${r.stdout}`)
        }
      })
    ])
    ctx.log(
      `tenancy audit: ${TABLES} tenant tables, 200 policies, 199 composite keys, ${TABLES * 4} grants; dbkit runs 9 ` +
        "catalog queries and 800 fail-open probes (16 per query); psql runs the RLS enabled/forced query alone"
    )
    return [
      ctx.row({
        operation: `tenancy audit --json, ${TABLES} tenant tables (process)`,
        dbkit,
        baseline: psql,
        baselineName: "psql -X -At -c '<RLS enabled+forced query>'"
      })
    ]
  } finally {
    await db.drop()
    const admin = process.env.BENCH_ADMIN_URL ?? "postgres://root@127.0.0.1:5432/postgres"
    await withClient(admin, (c) => c.query(`DROP ROLE IF EXISTS ${role}`))
  }
}
