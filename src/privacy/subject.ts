/**
 * Finding everything held about one person: the rows of declared tables whose subject column
 * matches the email (case-insensitively), then, following foreign keys from the catalog, every
 * row that references one of them, and so on (invoices of the customer, their lines and
 * payments; the user's role grants). Scoped to one tenant when given: its `tenant_id` (rls) or
 * its schema (schema-per-tenant).
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Effect from "effect/Effect"
import { quoteIdent } from "../Identifier.js"
import type { PersonalTable, PrivacyMap } from "./declare.js"

/** Which part of the database a request covers. */
export interface Scope {
  /** The tenant's id (rls): rows of tables with a tenant column must carry it. */
  readonly tenantId: string | null
  /** The tenant's schema (schema-per-tenant): declared tables are looked up there instead. */
  readonly schema: string | null
  /** For messages: the tenant's slug. */
  readonly label: string | null
}

export const everywhere: Scope = { tenantId: null, schema: null, label: null }

export interface ForeignKey {
  readonly name: string
  readonly child: string
  readonly childColumns: ReadonlyArray<string>
  readonly parent: string
  readonly parentColumns: ReadonlyArray<string>
  /** `c` cascade, `n` set null, `r`/`a` restrict / no action, `d` set default. */
  readonly onDelete: string
}

export interface TableInfo {
  readonly qualified: string
  readonly schema: string
  readonly table: string
  readonly key: ReadonlyArray<string>
  readonly columns: ReadonlyMap<string, { readonly type: string; readonly nullable: boolean }>
}

export interface Catalog {
  readonly tables: ReadonlyMap<string, TableInfo>
  readonly foreignKeys: ReadonlyArray<ForeignKey>
}

/** Tables, keys, columns and foreign keys of the given schemas. */
export const readCatalog = (schemas: ReadonlyArray<string>): Effect.Effect<Catalog, SqlError, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const columns = yield* sql.unsafe<
      { schema: string; tbl: string; col: string; type: string; nullable: boolean; pk: number | null }
    >(
      `SELECT n.nspname AS schema, c.relname AS tbl, a.attname AS col, format_type(a.atttypid, a.atttypmod) AS type,
              NOT a.attnotnull AS nullable, array_position(i.indkey::int2[], a.attnum) AS pk
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
         LEFT JOIN pg_index i ON i.indrelid = c.oid AND i.indisprimary
        WHERE c.relkind IN ('r', 'p') AND n.nspname = ANY($1::text[])
        ORDER BY n.nspname, c.relname, a.attnum`,
      [schemas]
    )
    const tables = new Map<
      string,
      {
        schema: string
        table: string
        key: Array<[number, string]>
        columns: Map<string, { type: string; nullable: boolean }>
      }
    >()
    for (const row of columns) {
      const qualified = `${row.schema}.${row.tbl}`
      let entry = tables.get(qualified)
      if (entry === undefined) {
        entry = { schema: row.schema, table: row.tbl, key: [], columns: new Map() }
        tables.set(qualified, entry)
      }
      entry.columns.set(row.col, { type: row.type, nullable: row.nullable })
      if (row.pk !== null) entry.key.push([Number(row.pk), row.col])
    }
    const foreignKeys = yield* sql.unsafe<
      {
        name: string
        child: string
        child_columns: Array<string>
        parent: string
        parent_columns: Array<string>
        on_delete: string
      }
    >(
      `SELECT c.conname AS name, cn.nspname || '.' || cc.relname AS child, pn.nspname || '.' || pc.relname AS parent,
              ARRAY(SELECT a.attname::text FROM unnest(c.conkey) WITH ORDINALITY k(n, i)
                      JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n ORDER BY k.i) AS child_columns,
              ARRAY(SELECT a.attname::text FROM unnest(c.confkey) WITH ORDINALITY k(n, i)
                      JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.n ORDER BY k.i) AS parent_columns,
              c.confdeltype::text AS on_delete
         FROM pg_constraint c
         JOIN pg_class cc ON cc.oid = c.conrelid JOIN pg_namespace cn ON cn.oid = cc.relnamespace
         JOIN pg_class pc ON pc.oid = c.confrelid JOIN pg_namespace pn ON pn.oid = pc.relnamespace
        WHERE c.contype = 'f' AND cn.nspname = ANY($1::text[])
        ORDER BY 2, 1`,
      [schemas]
    )
    return {
      tables: new Map(
        [...tables].map(([qualified, t]) => [qualified, {
          qualified,
          schema: t.schema,
          table: t.table,
          key: t.key.sort((a, b) => a[0] - b[0]).map(([, col]) => col),
          columns: t.columns
        }])
      ),
      foreignKeys: foreignKeys.map((fk) => ({
        name: fk.name,
        child: fk.child,
        childColumns: fk.child_columns,
        parent: fk.parent,
        parentColumns: fk.parent_columns,
        onDelete: fk.on_delete
      }))
    }
  })

/**
 * A table as the connected role sees it: its oid, its planner row estimate, and whether
 * row-level security would hide rows from this role (it has RLS, and the role neither bypasses
 * RLS nor owns the table without FORCE). Undefined when the table does not exist.
 */
export const relationAccess = (schema: string, table: string) =>
  Effect.map(SqlClient.SqlClient, (sql) =>
    sql<{ oid: number; estimate: number; hidden: boolean; role: string }>`
    SELECT c.oid::int AS oid, c.reltuples::float8 AS estimate, r.rolname::text AS role,
           c.relrowsecurity AND NOT (r.rolsuper OR r.rolbypassrls) AND (c.relforcerowsecurity OR c.relowner <> r.oid) AS hidden
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace, pg_roles r
     WHERE n.nspname = ${schema} AND c.relname = ${table} AND c.relkind IN ('r', 'p') AND r.rolname = current_user`)
    .pipe(
      Effect.flatten,
      Effect.map((rows) => rows[0])
    )

/** The declared table's name in the scope (a tenant's schema replaces the declared one). */
export const scopedName = (table: PersonalTable, scope: Scope) => `${scope.schema ?? table.schema}.${table.table}`

export const sqlName = (qualified: string) => {
  const dot = qualified.indexOf(".")
  return `${quoteIdent(qualified.slice(0, dot))}.${quoteIdent(qualified.slice(dot + 1))}`
}

export type Row = Record<string, unknown>

/** Rows found in one table, by their key, and how they were reached. */
export interface Found {
  readonly table: string
  readonly rows: Map<string, Row>
  /** `subject (email)` or `invoices.customer_id → customers.id`. */
  readonly via: Set<string>
}

export const keyOf = (row: Row, key: ReadonlyArray<string>): string =>
  key.length === 0
    ? JSON.stringify(row)
    : key.map((k) => (row[k] === null || row[k] === undefined ? "" : String(row[k]))).join(",")

const MAX_DEPTH = 16

/**
 * Everything about the person with this email, table by table (qualified names), in the order
 * found. Runs inside the caller's transaction when there is one.
 */
export const findSubject = (
  map: PrivacyMap,
  catalog: Catalog,
  email: string,
  scope: Scope
): Effect.Effect<ReadonlyMap<string, Found>, SqlError, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const found = new Map<string, Found>()
    const tenantFilter = (table: string, alias: string, params: Array<unknown>) => {
      if (scope.tenantId === null) return ""
      const info = catalog.tables.get(table)
      if (info === undefined || !info.columns.has("tenant_id")) return ""
      params.push(scope.tenantId)
      return ` AND ${alias}.tenant_id = $${params.length}::uuid`
    }
    const add = (table: string, rows: ReadonlyArray<Row>, via: string): Array<Row> => {
      let entry = found.get(table)
      if (entry === undefined) {
        entry = { table, rows: new Map(), via: new Set() }
        found.set(table, entry)
      }
      const key = catalog.tables.get(table)?.key ?? []
      const fresh: Array<Row> = []
      for (const row of rows) {
        const k = keyOf(row, key)
        if (!entry.rows.has(k)) {
          entry.rows.set(k, row)
          fresh.push(row)
        }
      }
      if (fresh.length > 0 || rows.length > 0) entry.via.add(via)
      return fresh
    }

    let frontier: Array<{ table: string; rows: Array<Row> }> = []
    for (const declared of map.tables) {
      if (declared.subject === null) continue
      const table = scopedName(declared, scope)
      if (!catalog.tables.has(table)) continue
      const params: Array<unknown> = [email]
      const rows = yield* sql.unsafe<{ r: Row }>(
        `SELECT to_jsonb(t) AS r FROM ${sqlName(table)} t WHERE lower(t.${quoteIdent(declared.subject)}) = lower($1)${
          tenantFilter(table, "t", params)
        }`,
        params
      )
      const fresh = add(table, rows.map((r) => r.r), `${declared.table}.${declared.subject} = the subject's email`)
      if (fresh.length > 0) frontier.push({ table, rows: fresh })
    }
    for (const [table, entry] of found) if (entry.rows.size === 0) found.delete(table)

    for (let depth = 0; depth < MAX_DEPTH && frontier.length > 0; depth++) {
      const next: Array<{ table: string; rows: Array<Row> }> = []
      for (const { table: parent, rows } of frontier) {
        for (const fk of catalog.foreignKeys) {
          if (fk.parent !== parent) continue
          const values = rows.map((row) => fk.parentColumns.map((c) => row[c] ?? null))
          const params: Array<unknown> = [JSON.stringify(values)]
          const children = yield* sql.unsafe<{ r: Row }>(
            `SELECT to_jsonb(c) AS r FROM ${sqlName(fk.child)} c
              WHERE jsonb_build_array(${fk.childColumns.map((col) => `c.${quoteIdent(col)}`).join(", ")})
                    IN (SELECT jsonb_array_elements($1::jsonb))${tenantFilter(fk.child, "c", params)}`,
            params
          )
          if (children.length === 0) continue
          const short = (q: string) => q.slice(q.indexOf(".") + 1)
          const via = `${short(fk.child)}.${fk.childColumns.join(",")} → ${short(fk.parent)}.${
            fk.parentColumns.join(",")
          }`
          const fresh = add(fk.child, children.map((r) => r.r), via)
          if (fresh.length > 0) next.push({ table: fk.child, rows: fresh })
        }
      }
      frontier = next
    }
    return found
  })
