/**
 * The row-level security audit: what in a database's set-up lets one tenant see or change
 * another's rows. Catalog queries only (pg_class, pg_policy, pg_roles, pg_constraint, pg_depend,
 * pg_proc), each in a read-only transaction; it writes nothing and assumes no role. Used by
 * `Tenancy.audit` (`dbkit tenancy audit`) and the `tenancy` health check, hence on the floor.
 *
 * Tenant tables are the tables with the tenant column (default `tenant_id`) in the scanned
 * schemas (default: every schema but the system ones and dbkit's own). Application roles are the
 * configured role plus every role the tenant tables' policies name. Findings:
 * - a tenant table without RLS enabled (critical) or not forced (warning: its owner skips it);
 * - a permissive policy that fails open when the setting is unset or empty (RlsAuditPolicies.ts);
 * - a command an application role is granted on a tenant table that no policy covers (warning:
 *   it silently matches no rows, which invites a `USING (true)` "fix");
 * - an application role that is superuser or BYPASSRLS (critical), or owns a tenant table
 *   (critical when not forced, else warning: the owner can turn RLS off);
 * - a foreign key between tenant tables that does not include the tenant column on both sides:
 *   foreign-key checks ignore RLS, so a row can reference another tenant's row (warning). Keys
 *   onto a table whose tenant column is nullable (shared rows) are left out: no composite key
 *   can reference a shared row, so the fix it would suggest is wrong;
 * - a sequence of a tenant table granted to an application role: shared by every tenant, it
 *   reveals their activity (nextval, last_value) or lets one tenant disturb others (setval);
 * - a SECURITY DEFINER function without a fixed search_path (critical).
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Effect from "effect/Effect"
import type { TenancySettings } from "./ProjectConfig.js"
import { catalog, type PolicyRow, type TableRow } from "./RlsAuditCatalog.js"
import { type CatalogQuery, openStates } from "./RlsAuditPolicies.js"

export type { CatalogQuery } from "./RlsAuditPolicies.js"

/** What a finding is about. */
export type AuditFindingKind =
  | "rls-not-enabled"
  | "rls-not-forced"
  | "policy-fails-open"
  | "policy-missing-command"
  | "role-superuser"
  | "role-bypasses-rls"
  | "role-owns-table"
  | "foreign-key-without-tenant"
  | "shared-sequence"
  | "security-definer-search-path"

/** One problem: the object, what is wrong, and the statement or step that fixes it. */
export interface AuditFinding {
  readonly kind: AuditFindingKind
  readonly severity: "critical" | "warning"
  /** `table public.invoices`, `policy tenant_isolation on public.invoices`, `role app`, … */
  readonly object: string
  readonly problem: string
  readonly fix: string
}

/** What to audit. */
export interface AuditTarget {
  /** The column that holds the tenant (default `tenant_id`). */
  readonly tenantColumn?: string | undefined
  /** The setting the policies read (default `app.tenant_id`). */
  readonly setting?: string | undefined
  /** Application roles besides those the policies name (e.g. the configured tenancy role). */
  readonly roles?: ReadonlyArray<string> | undefined
  /** Schemas to scan (default: all but pg_catalog, information_schema, pg_* and dbkit). */
  readonly schemas?: ReadonlyArray<string> | undefined
}

/** The audit's answer. */
export interface AuditReport {
  readonly tenantColumn: string
  readonly setting: string
  /** The schemas scanned, or null for the default (every user schema). */
  readonly schemas: ReadonlyArray<string> | null
  /** The application roles found (configured, or named by policies) that exist. */
  readonly appRoles: ReadonlyArray<string>
  readonly tenantTables: number
  readonly findings: ReadonlyArray<AuditFinding>
}

/** The audit target a project's tenancy settings imply, or null when RLS is not its strategy. */
export const targetFromSettings = (settings: TenancySettings): AuditTarget | null =>
  settings.strategy === "rls"
    ? { setting: settings.setting, roles: settings.role === undefined ? [] : [settings.role] }
    : null

/** Catalog queries over `sql`, each in a read-only transaction of its own. */
export const readOnlyQueries =
  (sql: SqlClient.SqlClient): CatalogQuery => <A extends object>(text: string, params: ReadonlyArray<unknown> = []) =>
    sql.withTransaction(Effect.zipRight(sql.unsafe("SET TRANSACTION READ ONLY"), sql.unsafe<A>(text, [...params])))

const qualified = (schema: string, name: string) => `${schema}.${name}`

const tableFindings = (tables: ReadonlyArray<TableRow>): Array<AuditFinding> =>
  tables.flatMap((t): Array<AuditFinding> => {
    const name = qualified(t.schema, t.name)
    if (!t.enabled) {
      return [{
        kind: "rls-not-enabled",
        severity: "critical",
        object: `table ${name}`,
        problem: "has the tenant column but row-level security is off: every role with access sees every tenant",
        fix: `ALTER TABLE ${name} ENABLE ROW LEVEL SECURITY; ALTER TABLE ${name} FORCE ROW LEVEL SECURITY; ` +
          "and a tenant policy"
      }]
    }
    return t.forced ? [] : [{
      kind: "rls-not-forced",
      severity: "warning",
      object: `table ${name}`,
      problem: `row-level security is not forced: its owner (${t.owner}) sees every tenant`,
      fix: `ALTER TABLE ${name} FORCE ROW LEVEL SECURITY`
    }]
  })

const policyObject = (p: PolicyRow) => `policy ${p.policy} on ${qualified(p.schema, p.table)}`

/** Permissive policies that apply to an application role (or PUBLIC) and fail open. */
const failOpenFindings = (
  query: CatalogQuery,
  policies: ReadonlyArray<PolicyRow>,
  appRoles: ReadonlyArray<string>,
  tenantColumn: string,
  setting: string
): Effect.Effect<Array<AuditFinding>, SqlError> => {
  const applies = policies.filter((p) =>
    p.permissive && (appRoles.length === 0 || p.roles.some((r) => r === "public" || appRoles.includes(r)))
  )
  const expressions = applies.flatMap((p) =>
    [["USING", p.using], ["WITH CHECK", p.check]].flatMap(([clause, text]) =>
      text === null || text === undefined
        ? []
        : [{ policy: p, clause: clause!, schema: p.schema, table: p.table, tenantType: p.tenantType, text }]
    )
  )
  return Effect.map(
    openStates(query, expressions, tenantColumn, setting),
    (states) =>
      expressions.flatMap((e, i): Array<AuditFinding> => {
        const open = states[i] ?? []
        if (open.length === 0) return []
        const when = open.map((s) => (s === "unset" ? "unset" : "empty")).join(" or ")
        return [{
          kind: "policy-fails-open",
          severity: "critical",
          object: policyObject(e.policy),
          problem: `its ${e.clause} lets another tenant's rows ${
            e.clause === "USING" ? "through" : "in"
          } when ${setting} is ${when}`,
          fix:
            `compare ${tenantColumn} with nullif(current_setting('${setting}', true), '')::${e.policy.tenantType} and nothing that is true without a tenant (no IS NULL / = '' escape, no true)`
        }]
      })
  )
}

/** Runs the audit with `query` (catalog queries, each read-only). */
export const audit = (query: CatalogQuery, target: AuditTarget = {}): Effect.Effect<AuditReport, SqlError> =>
  Effect.gen(function*() {
    const tenantColumn = target.tenantColumn ?? "tenant_id"
    const setting = target.setting ?? "app.tenant_id"
    const schemas = target.schemas !== undefined && target.schemas.length > 0 ? [...target.schemas] : null
    const read = catalog(query, tenantColumn, schemas)
    const tables = yield* read.tables
    const empty = { tenantColumn, setting, schemas, tenantTables: tables.length }
    const functions = yield* read.securityDefiners
    const functionFindings = functions.map((f): AuditFinding => ({
      kind: "security-definer-search-path",
      severity: "critical",
      object: `function ${f.schema}.${f.name}(${f.args})`,
      problem: "is SECURITY DEFINER without a fixed search_path: a caller's objects can run as its owner",
      fix: `ALTER FUNCTION ${f.schema}.${f.name}(${f.args}) SET search_path = pg_catalog, pg_temp ` +
        "(and schema-qualify what it uses)"
    }))
    if (tables.length === 0) return { ...empty, appRoles: [], findings: functionFindings }

    const policies = yield* read.policies
    const named = [...(target.roles ?? []), ...policies.flatMap((p) => p.roles.filter((r) => r !== "public"))]
    const roles = yield* read.roles([...new Set(named)])
    const appRoles = roles.map((r) => r.role)
    const constrained = roles.filter((r) => !r.superuser && !r.bypass).map((r) => r.role)
    const unprivileged = roles.filter((r) => !r.superuser).map((r) => r.role)

    const roleFindings = roles.flatMap((r): Array<AuditFinding> => [
      ...(r.superuser
        ? [{
          kind: "role-superuser" as const,
          severity: "critical" as const,
          object: `role ${r.role}`,
          problem: "is an application role and a superuser: row-level security never applies to it",
          fix: `ALTER ROLE ${r.role} NOSUPERUSER`
        }]
        : []),
      ...(r.bypass && !r.superuser
        ? [{
          kind: "role-bypasses-rls" as const,
          severity: "critical" as const,
          object: `role ${r.role}`,
          problem: "is an application role with BYPASSRLS: it sees every tenant",
          fix: `ALTER ROLE ${r.role} NOBYPASSRLS`
        }]
        : [])
    ])
    const owned = (yield* read.ownership(unprivileged)).map((o): AuditFinding => ({
      kind: "role-owns-table",
      severity: o.forced ? "warning" : "critical",
      object: `table ${qualified(o.schema, o.name)}`,
      problem: `is owned by application role ${o.role}${o.owner === o.role ? "" : ` (through ${o.owner})`}: ${
        o.forced ? "it can turn row-level security off" : "policies do not apply to it"
      }`,
      fix: `ALTER TABLE ${qualified(o.schema, o.name)} OWNER TO <a migration role>`
    }))
    const uncovered = (yield* read.uncoveredCommands(constrained)).map((u): AuditFinding => ({
      kind: "policy-missing-command",
      severity: "warning",
      object: `table ${qualified(u.schema, u.name)}`,
      problem:
        `${u.role} may ${u.command} but no policy for it covers ${u.command}: every ${u.command} matches no rows`,
      fix: `a policy FOR ALL (or FOR ${u.command}) TO ${u.role} with the tenant check, or REVOKE ${u.command} ON ${
        qualified(u.schema, u.name)
      } FROM ${u.role}`
    }))
    const keys = (yield* read.foreignKeys).map((k): AuditFinding => ({
      kind: "foreign-key-without-tenant",
      severity: "warning",
      object: `foreign key ${k.constraint} on ${qualified(k.schema, k.table)}`,
      problem: `(${k.columns}) references ${
        qualified(k.refSchema, k.refTable)
      } without ${tenantColumn}: foreign-key checks ignore RLS, so a row can reference another tenant's row`,
      fix: `UNIQUE (${tenantColumn}, id) on ${
        qualified(k.refSchema, k.refTable)
      }, then FOREIGN KEY (${tenantColumn}, ${k.columns}) REFERENCES ${
        qualified(k.refSchema, k.refTable)
      } (${tenantColumn}, id) in place of this key`
    }))
    const sequences = (yield* read.sequences(unprivileged)).map((s): AuditFinding => ({
      kind: "shared-sequence",
      severity: "warning",
      object: `sequence ${qualified(s.schema, s.name)}`,
      problem: `of tenant table ${
        qualified(s.tableSchema, s.table)
      } is shared by every tenant and ${s.role} holds ${s.privileges}: it reveals other tenants' activity${
        s.privileges.includes("UPDATE") ? " and lets one tenant reset it for all" : ""
      }`,
      fix: `REVOKE ALL ON SEQUENCE ${qualified(s.schema, s.name)} FROM ${s.role}` +
        (s.identity ? " (an identity column needs no grant)" : " (or key the table with uuids or an identity column)")
    }))
    const open = yield* failOpenFindings(query, policies, appRoles, tenantColumn, setting)
    return {
      ...empty,
      appRoles,
      findings: [
        ...tableFindings(tables),
        ...open,
        ...uncovered,
        ...roleFindings,
        ...owned,
        ...keys,
        ...sequences,
        ...functionFindings
      ]
    }
  })
