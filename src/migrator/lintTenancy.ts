/**
 * The tenancy rules of the migration linter (lint.ts): what a pending migration does that the
 * row-level security audit (`dbkit tenancy audit`) would report once applied — read from the SQL
 * alone, so `migrate plan` says it before anything runs.
 *
 * Tenant tables are those the pending set creates (or gives a column) named `tenant_id`. Some
 * rules are decided by the whole pending set, since a later migration may fix what an earlier
 * one left (drizzle-kit enables RLS in the CREATE's migration; FORCE often comes later; a
 * composite key may replace a single-column one, which is then dropped): those hits are
 * returned by `end()`. Tables that exist before the pending set are not known to be tenant
 * tables here; the audit covers them.
 */
import { identifier, type Masked, NAME, PART, splitTopLevel, tableKey, topLevel } from "./sqlMask.js"

export type TenancyLintRule =
  | "tenant-table-without-forced-rls"
  | "rls-disabled"
  | "policy-fails-open"
  | "role-bypasses-rls"
  | "tenant-foreign-key-without-tenant"
  | "security-definer-without-search-path"

export const tenancyRules: { readonly [R in TenancyLintRule]: string } = {
  "tenant-table-without-forced-rls": "A table with tenant_id is created without ENABLE and FORCE ROW LEVEL SECURITY " +
    "in the pending migrations: every role with access (and its owner) sees every tenant; add ALTER TABLE ... ENABLE " +
    "ROW LEVEL SECURITY, ALTER TABLE ... FORCE ROW LEVEL SECURITY and a tenant policy",
  "rls-disabled": "DISABLE / NO FORCE ROW LEVEL SECURITY lifts tenant isolation on the table (for its owner, with " +
    "NO FORCE); keep it enabled and forced on tenant tables",
  "policy-fails-open": "The policy is true without a tenant (an IS NULL / = '' escape on current_setting, or true): " +
    "a connection that forgot to set the tenant sees or writes every tenant's rows; compare tenant_id with " +
    "nullif(current_setting('app.tenant_id', true), '')::uuid and nothing else",
  "role-bypasses-rls": "SUPERUSER or BYPASSRLS skips every row-level security policy; the application role must " +
    "have neither (NOSUPERUSER NOBYPASSRLS)",
  "tenant-foreign-key-without-tenant": "A foreign key between tenant tables without tenant_id on both sides: " +
    "foreign-key checks ignore RLS, so a row can reference another tenant's row; add UNIQUE (tenant_id, id) to the " +
    "referenced table and reference (tenant_id, x_id) → (tenant_id, id) instead",
  "security-definer-without-search-path": "SECURITY DEFINER without SET search_path runs the caller's objects with " +
    "the owner's rights; add SET search_path = pg_catalog, pg_temp and schema-qualify what the body uses"
}

interface ForeignKey<At> {
  readonly at: At
  readonly table: string
  readonly name: string | undefined
  readonly columns: ReadonlyArray<string>
  readonly refTable: string
  /** Empty: the referenced table's primary key. */
  readonly refColumns: ReadonlyArray<string>
}

const re = (source: string) => new RegExp(source, "i")
const CREATE_TABLE = re(
  String
    .raw`^CREATE (?:(?:GLOBAL|LOCAL) )?(?:(?:TEMP|TEMPORARY|UNLOGGED) )?TABLE (?:IF NOT EXISTS )?(${NAME}) ?\((.*)\)`
)
const ALTER_TABLE = re(String.raw`^ALTER TABLE (?:IF EXISTS )?(?:ONLY )?(${NAME})(?: ?\*)? (.*)$`)
const REFERENCES = re(String.raw`\bREFERENCES (${NAME})(?: ?\(([^)]*)\))?`)
const FOREIGN_KEY = re(
  String.raw`^(?:CONSTRAINT (${PART}) )?FOREIGN KEY ?\(([^)]*)\) ?REFERENCES (${NAME})(?: ?\(([^)]*)\))?`
)
const POLICY = re(String.raw`^(?:CREATE|ALTER) POLICY\b`)
const ROLE = re(String.raw`^(?:CREATE|ALTER) (?:ROLE|USER)\b`)
const FUNCTION = re(String.raw`^CREATE (?:OR REPLACE )?(?:FUNCTION|PROCEDURE)\b`)
const SETTING_ESCAPE = re(
  String
    .raw`current_setting ?\([^()]*\) ?(?:::[\w ]+?)?(?:IS NULL|= ?''|IS NOT DISTINCT FROM)|coalesce ?\( ?current_setting\b`
)

/** Column names of a `(a, b)` list. */
const columnsOf = (list: string | undefined, masked: Masked): Array<string> =>
  (list ?? "").split(",").map((c) => c.trim()).filter((c) => c.length > 0).map((c) => identifier(c, masked))

/** Whether the key carries the tenant column onto the referenced tenant column. */
const carriesTenant = (key: ForeignKey<unknown>, column: string): boolean =>
  key.refColumns.length === 0
    ? key.columns.includes(column)
    : key.columns.some((c, i) => c === column && key.refColumns[i] === column)

/** A linter over one pending set; `At` is where a statement is, as the caller records it. */
export const tenancyLinter = <At>(tenantColumn = "tenant_id") => {
  /** Tenant tables created in the set → where, and whether tenant_id may be NULL (shared rows). */
  const created = new Map<string, { readonly at: At; readonly nullable: boolean }>()
  const tenantTables = new Map<string, boolean>() // table → nullable
  const enabled = new Set<string>()
  const forced = new Set<string>()
  const keys: Array<ForeignKey<At>> = []
  const dropped = new Set<string>() // table/constraint

  /** Records a table-level FOREIGN KEY definition; whether `definition` was one. */
  const tableKeyOf = (masked: Masked, at: At, table: string, definition: string): boolean => {
    const fk = FOREIGN_KEY.exec(definition)
    if (fk) {
      keys.push({
        at,
        table,
        name: fk[1] === undefined ? undefined : identifier(fk[1], masked),
        columns: columnsOf(fk[2], masked),
        refTable: tableKey(fk[3]!, masked),
        refColumns: columnsOf(fk[4], masked)
      })
    }
    return fk !== null
  }

  const createTable = (masked: Masked, at: At, match: RegExpExecArray) => {
    const table = tableKey(match[1]!, masked)
    for (const definition of splitTopLevel(match[2] ?? "")) {
      if (tableKeyOf(masked, at, table, definition)) continue
      const column = re(`^(${PART}) `).exec(definition)?.[1]
      if (column === undefined || /^(?:CONSTRAINT|PRIMARY|UNIQUE|CHECK|EXCLUDE|LIKE)$/i.test(column)) continue
      const name = identifier(column, masked)
      if (name === tenantColumn) {
        const nullable = !/\bNOT NULL\b|\bPRIMARY KEY\b/i.test(topLevel(definition))
        created.set(table, { at, nullable })
        tenantTables.set(table, nullable)
      }
      const inline = REFERENCES.exec(definition)
      if (inline) {
        keys.push({
          at,
          table,
          name: undefined,
          columns: [name],
          refTable: tableKey(inline[1]!, masked),
          refColumns: columnsOf(inline[2], masked)
        })
      }
    }
    return []
  }

  const alterTable = (masked: Masked, at: At, match: RegExpExecArray): Array<TenancyLintRule> => {
    const table = tableKey(match[1]!, masked)
    const hits: Array<TenancyLintRule> = []
    for (const action of splitTopLevel(match[2] ?? "")) {
      if (/^ENABLE ROW LEVEL SECURITY$/i.test(action)) enabled.add(table)
      else if (/^FORCE ROW LEVEL SECURITY$/i.test(action)) forced.add(table)
      else if (/^(?:DISABLE|NO FORCE) ROW LEVEL SECURITY$/i.test(action)) hits.push("rls-disabled")
      else if (/^DROP CONSTRAINT /i.test(action)) {
        const name = re(`^DROP CONSTRAINT (?:IF EXISTS )?(${PART})`).exec(action)?.[1]
        if (name !== undefined) dropped.add(`${table}/${identifier(name, masked)}`)
      } else if (/^ADD /i.test(action)) {
        const definition = action.replace(/^ADD (?:COLUMN )?(?:IF NOT EXISTS )?/i, "")
        if (!tableKeyOf(masked, at, table, definition)) {
          const column = re(`^(${PART}) `).exec(definition)?.[1]
          if (column !== undefined && identifier(column, masked) === tenantColumn) {
            tenantTables.set(table, !/\bNOT NULL\b/i.test(topLevel(definition)))
          }
        }
      }
    }
    return hits
  }

  return {
    /** The rules one statement breaks on its own (it also records what `end` decides on). */
    statement: (masked: Masked, at: At): Array<TenancyLintRule> => {
      const sql = masked.sql
      const create = CREATE_TABLE.exec(sql)
      if (create) return createTable(masked, at, create)
      const alter = ALTER_TABLE.exec(sql)
      if (alter) return alterTable(masked, at, alter)
      if (POLICY.test(sql)) {
        const escape = /\bOR\b/i.test(sql) && SETTING_ESCAPE.test(sql)
        return escape || /\b(?:USING|WITH CHECK) \( ?true ?\)/i.test(sql) ? ["policy-fails-open"] : []
      }
      if (ROLE.test(sql) && /\b(?:BYPASSRLS|SUPERUSER)\b/i.test(sql)) return ["role-bypasses-rls"]
      if (FUNCTION.test(sql) && /\bSECURITY DEFINER\b/i.test(sql) && !/\bSET search_path\b/i.test(sql)) {
        return ["security-definer-without-search-path"]
      }
      return []
    },
    /** What the whole pending set decides: tables left without forced RLS, keys left single-tenant-blind. */
    end: (): Array<{ readonly at: At; readonly rule: TenancyLintRule }> => [
      ...[...created].flatMap(([table, { at }]) =>
        enabled.has(table) && forced.has(table) ? [] : [{ at, rule: "tenant-table-without-forced-rls" as const }]
      ),
      ...keys.flatMap((key) => {
        const between = tenantTables.has(key.table) && tenantTables.get(key.refTable) === false
        const gone = key.name !== undefined && dropped.has(`${key.table}/${key.name}`)
        return between && !gone && !carriesTenant(key, tenantColumn)
          ? [{ at: key.at, rule: "tenant-foreign-key-without-tenant" as const }]
          : []
      })
    ]
  }
}
