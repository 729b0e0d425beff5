/**
 * `db validate`: rows that break what the schema means, each finding with a count and up to five
 * sample keys (primary keys, never other values):
 *
 * 1. constraints left NOT VALID (`ADD CONSTRAINT … NOT VALID` never followed by VALIDATE), with
 *    the rows that violate them;
 * 2. orphaned rows of relationships declared in code because the schema has no foreign key for
 *    them (`Relationship`, declared in the project's dbkit.config.ts `integrity`);
 * 3. cross-tenant references: for every foreign key between two tables that both carry
 *    `tenant_id` (found in pg_constraint), child rows whose tenant differs from their parent's.
 *
 * Optionally restricted to one tenant (rows whose `tenant_id` is that tenant's). The checks read
 * what the current role can see: under row-level security (not a superuser, no BYPASSRLS) the
 * report says it may be incomplete.
 */
import type { SqlError } from "@effect/sql/SqlError"
import * as Effect from "effect/Effect"
import { quoteIdent } from "../Identifier.js"
import {
  columnType,
  findTable,
  keyExpression,
  notSystemSchema,
  type Query,
  type TableInfo,
  type TenantRef
} from "./catalog.js"

/**
 * A relationship the schema does not enforce: `table.column` holds values of `references`
 * (`table.column`, optionally schema-qualified). `where` narrows the rows checked, as SQL written
 * by the developer (e.g. `actor <> 'system'`) — never user input.
 */
export interface Relationship {
  readonly table: string
  readonly column: string
  readonly references: string
  readonly where?: string | undefined
}

/** One integrity problem. */
export interface Finding {
  readonly kind: "not-valid-constraint" | "orphaned-rows" | "cross-tenant-reference"
  /** `schema.table` of the rows at fault. */
  readonly table: string
  /** The constraint, or the relationship (`audit_log.actor → users.id`). */
  readonly name: string
  /** One line: what is wrong and what to do. */
  readonly detail: string
  /** Rows at fault (in the tenant, when restricted). */
  readonly count: number
  /** Up to five of their keys. */
  readonly sample: ReadonlyArray<string>
}

export interface IntegrityReport {
  readonly tenant: TenantRef | null
  readonly checked: { readonly constraints: number; readonly relationships: number; readonly tenantLinks: number }
  /** Declared relationships that could not be checked, with the reason. */
  readonly skipped: ReadonlyArray<string>
  /** Whether row-level security hides rows from the current role (findings may be incomplete). */
  readonly rowLevelSecurity: boolean
  readonly findings: ReadonlyArray<Finding>
}

const SAMPLE = 5

/** Count and sample of `table`'s rows (aliased `c`) matching `condition`, in the tenant if given. */
const violations = (
  query: Query,
  table: TableInfo,
  from: string,
  condition: string,
  tenant: TenantRef | null
): Effect.Effect<{ count: number; sample: ReadonlyArray<string> }, SqlError> =>
  Effect.map(
    query<{ total: number; key: string }>(
      `SELECT count(*) OVER ()::int AS total, ${keyExpression(table, "c")} AS key
         FROM ${from}
        WHERE (${condition})${tenant && table.tenantOwned ? " AND c.tenant_id = $1::uuid" : ""}
        ORDER BY 2 LIMIT ${SAMPLE}`,
      tenant && table.tenantOwned ? [tenant.id] : []
    ),
    (rows) => ({ count: rows[0]?.total ?? 0, sample: rows.map((r) => r.key) })
  )

interface ConstraintRow {
  readonly schema: string
  readonly table: string
  readonly name: string
  readonly type: "c" | "f" | "n" | string
  readonly expression: string | null
  readonly columns: ReadonlyArray<string> | string | null
  readonly ref_schema: string | null
  readonly ref_table: string | null
  readonly ref_columns: ReadonlyArray<string> | string | null
}

const list = (value: ReadonlyArray<string> | string | null): ReadonlyArray<string> =>
  value === null ? [] : typeof value === "string" ? (JSON.parse(value) as ReadonlyArray<string>) : value

const columnsOf = (side: "con" | "conf") => `
  (SELECT json_agg(a.attname ORDER BY k.i)
     FROM unnest(k0.${side}key) WITH ORDINALITY AS k(num, i)
     JOIN pg_attribute a ON a.attrelid = k0.${side}relid AND a.attnum = k.num)`

const constraintSelect = `
  SELECT n.nspname AS schema, t.relname AS table, k0.conname AS name, k0.contype::text AS type,
         pg_get_expr(k0.conbin, k0.conrelid) AS expression,
         ${columnsOf("con")} AS columns,
         rn.nspname AS ref_schema, rt.relname AS ref_table,
         ${columnsOf("conf")} AS ref_columns
    FROM pg_constraint k0
    JOIN pg_class t ON t.oid = k0.conrelid
    JOIN pg_namespace n ON n.oid = t.relnamespace
    LEFT JOIN pg_class rt ON rt.oid = k0.confrelid
    LEFT JOIN pg_namespace rn ON rn.oid = rt.relnamespace`

const joinOn = (columns: ReadonlyArray<string>, refColumns: ReadonlyArray<string>) =>
  columns.map((c, i) => `p.${quoteIdent(refColumns[i]!)} = c.${quoteIdent(c)}`).join(" AND ")

/** (1) NOT VALID constraints and the rows violating them. */
const notValidConstraints = (query: Query, tenant: TenantRef | null) =>
  Effect.gen(function*() {
    const constraints = yield* query<ConstraintRow>(
      `${constraintSelect} WHERE NOT k0.convalidated AND k0.contype IN ('c', 'f', 'n') AND ${
        notSystemSchema("n.nspname")
      } ORDER BY 1, 2, 3`
    )
    const findings: Array<Finding> = []
    for (const k of constraints) {
      const table = yield* findTable(query, `${k.schema}.${k.table}`)
      if (!table) continue
      const columns = list(k.columns)
      const refColumns = list(k.ref_columns)
      // The rows the constraint would reject: CHECK false (NULL passes), NOT NULL null, a foreign
      // key (MATCH SIMPLE: any NULL column passes) with no parent row.
      const condition = k.type === "c"
        ? `(${k.expression}) IS FALSE`
        : k.type === "n"
        ? columns.map((c) => `c.${quoteIdent(c)} IS NULL`).join(" OR ")
        : `${columns.map((c) => `c.${quoteIdent(c)} IS NOT NULL`).join(" AND ")} AND NOT EXISTS (SELECT 1 FROM ${
          quoteIdent(k.ref_schema!)
        }.${quoteIdent(k.ref_table!)} p WHERE ${joinOn(columns, refColumns)})`
      const { count, sample } = yield* violations(query, table, `${table.sql} c`, condition, tenant)
      const kind = k.type === "c" ? "check" : k.type === "n" ? "not-null" : "foreign key"
      findings.push({
        kind: "not-valid-constraint",
        table: table.name,
        name: k.name,
        count,
        sample,
        detail: `${kind} constraint ${k.name} is NOT VALID: ` + (count === 0
          ? `every row satisfies it; ALTER TABLE ${table.sql} VALIDATE CONSTRAINT ${quoteIdent(k.name)}`
          : `${count} row${
            count === 1 ? "" : "s"
          } violate it; fix them, then ALTER TABLE ${table.sql} VALIDATE CONSTRAINT ${quoteIdent(k.name)}`)
      })
    }
    return { checked: constraints.length, findings }
  })

/** (2) Orphaned rows of declared relationships. */
const orphans = (query: Query, relationships: ReadonlyArray<Relationship>, tenant: TenantRef | null) =>
  Effect.gen(function*() {
    const findings: Array<Finding> = []
    const skipped: Array<string> = []
    let checked = 0
    for (const r of relationships) {
      const at = r.references.lastIndexOf(".")
      const refTableName = r.references.slice(0, at)
      const refColumn = r.references.slice(at + 1)
      const name = `${r.table}.${r.column} → ${r.references}`
      if (at <= 0) {
        skipped.push(`${name}: references must be table.column`)
        continue
      }
      const table = yield* findTable(query, r.table)
      const parent = yield* findTable(query, refTableName)
      const childType = table ? yield* columnType(query, table, r.column) : undefined
      const parentType = parent ? yield* columnType(query, parent, refColumn) : undefined
      if (!table || !parent || !childType || !parentType) {
        skipped.push(
          `${name}: ${
            !table
              ? `no table ${r.table}`
              : !childType
              ? `no column ${r.column} in ${table.name}`
              : !parent
              ? `no table ${refTableName}`
              : `no column ${refColumn} in ${parent.name}`
          }`
        )
        continue
      }
      checked++
      // Same type: compared as is (index-friendly); otherwise as text (a text column of uuids).
      const same = childType === parentType
      const child = `c.${quoteIdent(r.column)}`
      const ref = `p.${quoteIdent(refColumn)}`
      const condition = `${child} IS NOT NULL AND NOT EXISTS (SELECT 1 FROM ${parent.sql} p WHERE ${
        same ? `${ref} = ${child}` : `${ref}::text = ${child}::text`
      })${r.where ? ` AND (${r.where})` : ""}`
      const { count, sample } = yield* violations(query, table, `${table.sql} c`, condition, tenant)
      if (count > 0) {
        findings.push({
          kind: "orphaned-rows",
          table: table.name,
          name,
          count,
          sample,
          detail: `${count} row${
            count === 1 ? "" : "s"
          } of ${table.name} name a ${r.column} with no ${parent.name} row (no foreign key enforces it)`
        })
      }
    }
    return { checked, skipped, findings }
  })

/** (3) Cross-tenant references through foreign keys between tenant-owned tables. */
const crossTenant = (query: Query, tenant: TenantRef | null) =>
  Effect.gen(function*() {
    // A key that includes tenant_id on both sides already forces the same tenant.
    const links = yield* query<ConstraintRow>(
      `${constraintSelect}
        WHERE k0.contype = 'f' AND ${notSystemSchema("n.nspname")}
          AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = k0.conrelid AND a.attname = 'tenant_id' AND NOT a.attisdropped)
          AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = k0.confrelid AND a.attname = 'tenant_id' AND NOT a.attisdropped)
          AND NOT EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = k0.conrelid AND a.attname = 'tenant_id' AND a.attnum = ANY (k0.conkey))
        ORDER BY 1, 2, 3`
    )
    const findings: Array<Finding> = []
    for (const k of links) {
      const table = yield* findTable(query, `${k.schema}.${k.table}`)
      if (!table) continue
      const parent = `${k.ref_schema}.${k.ref_table}`
      // A parent without a tenant (a global role: tenant_id NULL) may be shared: `<>` skips it.
      const { count, sample } = yield* violations(
        query,
        table,
        `${table.sql} c JOIN ${quoteIdent(k.ref_schema!)}.${quoteIdent(k.ref_table!)} p ON ${
          joinOn(list(k.columns), list(k.ref_columns))
        }`,
        "c.tenant_id <> p.tenant_id",
        tenant
      )
      if (count > 0) {
        findings.push({
          kind: "cross-tenant-reference",
          table: table.name,
          name: k.name,
          count,
          sample,
          detail:
            `${count} row${
              count === 1 ? "" : "s"
            } of ${table.name} reference a ${parent} row of another tenant through ${k.name} ` +
            `(${list(k.columns).join(", ")}); a composite key (tenant_id, …) would prevent it`
        })
      }
    }
    return { checked: links.length, findings }
  })

/** Runs the three checks. */
export const validate = (
  query: Query,
  relationships: ReadonlyArray<Relationship>,
  tenant: TenantRef | null
): Effect.Effect<IntegrityReport, SqlError> =>
  Effect.gen(function*() {
    // Hidden rows: RLS on a table the role does not own, or FORCEd on one it does.
    const [role] = yield* query<{ hidden: boolean }>(
      `SELECT NOT (r.rolsuper OR r.rolbypassrls) AND EXISTS (
                SELECT 1 FROM pg_class c
                 WHERE c.relrowsecurity AND (c.relforcerowsecurity OR NOT pg_has_role(c.relowner, 'USAGE'))) AS hidden
         FROM pg_roles r WHERE r.rolname = current_user`
    )
    const constraints = yield* notValidConstraints(query, tenant)
    const declared = yield* orphans(query, relationships, tenant)
    const links = yield* crossTenant(query, tenant)
    return {
      tenant,
      checked: { constraints: constraints.checked, relationships: declared.checked, tenantLinks: links.checked },
      skipped: declared.skipped,
      rowLevelSecurity: role?.hidden ?? false,
      findings: [...constraints.findings, ...declared.findings, ...links.findings]
    }
  })
