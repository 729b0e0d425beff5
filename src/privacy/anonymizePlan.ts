/**
 * Anonymize's plan: what each declared column is in this database (its type, the fake that fits
 * it, whether it is encrypted), read from the catalog before anything changes.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"
import { quoteIdent } from "../Identifier.js"
import { AnonymizeNeedsBypassRls } from "./anonymizeErrors.js"
import type { Category, PersonalColumn, PrivacyMap } from "./declare.js"
import { PrivacyMapMismatch } from "./errors.js"
import { type FakeKind, kindsFor } from "./fake.js"
import { FieldKeysInvalid, type Keyring } from "./fieldCrypto.js"
import { relationAccess } from "./subject.js"

export interface ColumnPlan {
  readonly column: string
  readonly category: Category
  readonly encrypted: boolean
  /** The SQL type to cast the fake to, as format_type spells it. */
  readonly type: string
  readonly kind: FakeKind
  readonly maxLength: number | null
}

export interface TablePlan {
  /** `schema.table`, for reports. */
  readonly name: string
  /** Quoted, for SQL. */
  readonly sqlName: string
  readonly key: ReadonlyArray<{ readonly column: string; readonly type: string }>
  readonly columns: ReadonlyArray<ColumnPlan>
  readonly estimate: number | null
}

const KIND_BY_TYPE: Readonly<Record<string, FakeKind>> = {
  text: "text",
  varchar: "text",
  bpchar: "text",
  citext: "text",
  name: "text",
  date: "date",
  timestamp: "date",
  timestamptz: "date",
  inet: "inet",
  cidr: "cidr",
  uuid: "uuid",
  int2: "integer",
  int4: "integer",
  int8: "integer",
  numeric: "integer"
}

interface CatalogColumn {
  readonly name: string
  readonly type: string
  readonly base: string
  readonly typmod: number
}

const qualified = (schema: string, table: string) => `${schema}.${table}`

/** The map does not fit this database: a table or column is missing, or cannot hold a fake. */
const mismatch = (table: string, column: string | null, reason: string) =>
  new PrivacyMapMismatch({ problems: [`${column === null ? table : `${table}.${column}`} ${reason}`] })

/** Reads the catalog for every declared table; fails before anything is changed if the map does not fit. */
export const planFor = (sql: SqlClient.SqlClient, map: PrivacyMap, keyring: Keyring | undefined) =>
  Effect.gen(function*() {
    const encrypted = map.tables.flatMap((t) =>
      t.columns.filter((c) => c.encrypted).map((c) => `${qualified(t.schema, t.table)}.${c.column}`)
    )
    if (encrypted.length > 0 && keyring === undefined) {
      return yield* new FieldKeysInvalid({
        source: "the environment",
        reason: `the personal-data map declares encrypted columns (${encrypted.slice(0, 3).join(", ")}${
          encrypted.length > 3 ? ", …" : ""
        }); set DBKIT_FIELD_KEYS or DBKIT_FIELD_KEYS_FILE so their values can be decrypted and their fakes encrypted`
      })
    }
    const plans: Array<TablePlan> = []
    for (const table of map.tables) {
      const name = qualified(table.schema, table.table)
      if (table.columns.length === 0) continue
      const relation = yield* Effect.provideService(relationAccess(table.schema, table.table), SqlClient.SqlClient, sql)
      if (relation === undefined) return yield* mismatch(name, null, "does not exist")
      if (relation.hidden) return yield* new AnonymizeNeedsBypassRls({ role: relation.role, table: name })
      const catalog = yield* sql<CatalogColumn>`
        SELECT a.attname::text AS name, format_type(a.atttypid, a.atttypmod) AS type,
               (CASE WHEN t.typtype = 'd' THEN b.typname ELSE t.typname END)::text AS base,
               (CASE WHEN t.typtype = 'd' THEN t.typtypmod ELSE a.atttypmod END)::int AS typmod
          FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid LEFT JOIN pg_type b ON b.oid = t.typbasetype
         WHERE a.attrelid = ${relation.oid} AND a.attnum > 0 AND NOT a.attisdropped`
      const byName = new Map(catalog.map((c) => [c.name, c] as const))
      const key: Array<{ column: string; type: string }> = []
      for (const column of table.key) {
        const found = byName.get(column)
        if (found === undefined) return yield* mismatch(name, column, "(a primary key column) does not exist")
        key.push({ column, type: found.type })
      }
      const columns: Array<ColumnPlan> = []
      for (const declared of table.columns) {
        const found = byName.get(declared.column)
        if (found === undefined) return yield* mismatch(name, declared.column, "does not exist")
        const planned = columnPlan(name, declared, found)
        if (planned instanceof PrivacyMapMismatch) return yield* planned
        columns.push(planned)
      }
      plans.push({
        name,
        sqlName: `${quoteIdent(table.schema)}.${quoteIdent(table.table)}`,
        key,
        columns,
        estimate: relation.estimate > 0 ? Math.round(relation.estimate) : null
      })
    }
    return plans
  })

const columnPlan = (table: string, declared: PersonalColumn, found: CatalogColumn): ColumnPlan | PrivacyMapMismatch => {
  const kind = KIND_BY_TYPE[found.base]
  const fail = (reason: string) => mismatch(table, declared.column, reason)
  if (kind === undefined) {
    return fail(`is of type ${found.type}, which anonymize cannot fill with a fake ${declared.category}`)
  }
  if (declared.encrypted && kind !== "text") {
    return fail(`is declared encrypted but is of type ${found.type} (ciphertext needs text)`)
  }
  if (!declared.encrypted && !kindsFor[declared.category].includes(kind)) {
    return fail(`is of type ${found.type}, which cannot hold a fake ${declared.category}`)
  }
  const sized = (found.base === "varchar" || found.base === "bpchar") && found.typmod >= 4
  return {
    column: declared.column,
    category: declared.category,
    encrypted: declared.encrypted,
    type: found.type,
    kind,
    maxLength: sized ? found.typmod - 4 : null
  }
}
