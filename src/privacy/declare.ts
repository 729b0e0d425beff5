/**
 * Personal-data declarations: which columns of which tables hold what kind of personal data,
 * how each is erased, which are encrypted in the application, and which rows the law makes us
 * keep. Written once in TypeScript next to the drizzle tables (see src/example/schema/privacy.ts) and
 * turned at once into plain data (`PrivacyMap`) that the Privacy service and `dbkit privacy …`
 * read, so nothing downstream depends on drizzle's internals.
 *
 * ```ts
 * export default definePrivacy({
 *   auditLog: auditLog,
 *   tables: [
 *     personalData(customers, {
 *       subject: customers.email,
 *       onErase: "keep",
 *       reason: "invoices reference customers; commercial law keeps invoices for 10 years",
 *       columns: {
 *         name: { category: "name", erase: "pseudonymize" },
 *         taxId: { category: "tax_id", erase: "null", encrypted: true }
 *       }
 *     })
 *   ],
 *   notPersonal: [accounts.name, organizations.name]
 * })
 * ```
 */
import { getTableConfig, type PgColumn, type PgTable } from "drizzle-orm/pg-core"

/** Kinds of personal data; they drive fake values (anonymize) and the undeclared-column warnings. */
export const categories = [
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
export type Category = (typeof categories)[number]

/**
 * How a column is erased:
 * - `null`: set to NULL (the column must be nullable);
 * - `redact`: replaced by `[erased]` (dates: NULL);
 * - `pseudonymize`: replaced by a random token in the column's shape (`erased-1f3c…@erased.invalid`),
 *   unique per row, so unique constraints hold; nothing in it derives from the old value.
 */
export type Erasure = "null" | "redact" | "pseudonymize"

export interface ColumnDeclaration {
  readonly category: Category
  /** Default: `pseudonymize` for email/identifier, `redact` for free text, else `null` when nullable. */
  readonly erase?: Erasure | undefined
  /** The value is encrypted in the application (see fieldCrypto.ts); export decrypts it. */
  readonly encrypted?: boolean | undefined
}

/** One declared column, as plain data. */
export interface PersonalColumn {
  /** The column's name in the database. */
  readonly column: string
  readonly category: Category
  readonly erase: Erasure
  readonly encrypted: boolean
  readonly nullable: boolean
}

/** One declared table, as plain data. */
export interface PersonalTable {
  readonly schema: string
  readonly table: string
  /** The primary key's columns. */
  readonly key: ReadonlyArray<string>
  /** The column holding the tenant's id (`tenant_id`), if any. */
  readonly tenantColumn: string | null
  /** The column that identifies the person (matched against `--email`), if this table has one. */
  readonly subject: string | null
  /** `delete`: an erased person's rows go; `keep`: they stay (law), with their personal columns erased. */
  readonly onErase: "delete" | "keep"
  /** Why rows are kept, for `privacy map` and the export. */
  readonly reason: string | null
  readonly columns: ReadonlyArray<PersonalColumn>
}

/** The whole declaration, as plain data. */
export interface PrivacyMap {
  readonly tables: ReadonlyArray<PersonalTable>
  /** Columns that look personal by name but are not (e.g. `accounts.name`): `schema.table.column`. */
  readonly notPersonal: ReadonlyArray<string>
  /** Where erasures are recorded (`audit_log`-shaped: tenant_id, actor, action, table_name, row_key, changed_columns). */
  readonly auditLog: { readonly schema: string; readonly table: string } | null
}

type ColumnsOf<T extends PgTable> = T["_"]["columns"]

export interface TableSpec<T extends PgTable> {
  /** The column that identifies the person, e.g. `users.email`. */
  readonly subject?: PgColumn | undefined
  readonly onErase: "delete" | "keep"
  readonly reason?: string | undefined
  /** By the table's property names (as in the drizzle table). */
  readonly columns: { readonly [K in keyof ColumnsOf<T>]?: ColumnDeclaration }
  /** The tenant column, when it is not called `tenant_id`; `null` for none. */
  readonly tenantColumn?: PgColumn | null | undefined
}

const defaultErasure = (category: Category, nullable: boolean): Erasure =>
  category === "email" || category === "identifier"
    ? "pseudonymize"
    : category === "free_text" || !nullable
    ? "redact"
    : "null"

const qualifiedOf = (table: PgTable) => {
  const config = getTableConfig(table)
  return { schema: config.schema ?? "public", table: config.name, config }
}

/** Declares one table's personal data. */
export const personalData = <T extends PgTable>(table: T, spec: TableSpec<T>): PersonalTable => {
  const { schema, table: name, config } = qualifiedOf(table)
  const byProperty = table as unknown as Record<string, PgColumn>
  const primary = config.columns.filter((c) => c.primary).map((c) => c.name)
  const key = primary.length > 0 ? primary : (config.primaryKeys[0]?.columns.map((c) => c.name) ?? [])
  if (key.length === 0) throw new Error(`personalData(${schema}.${name}): the table needs a primary key`)
  const columns = Object.entries(spec.columns as Record<string, ColumnDeclaration | undefined>).flatMap(
    ([property, declared]) => {
      if (declared === undefined) return []
      const column = byProperty[property]
      if (column === undefined) throw new Error(`personalData(${schema}.${name}): no column ${property}`)
      const nullable = !column.notNull
      const erase = declared.erase ?? defaultErasure(declared.category, nullable)
      if (erase === "null" && !nullable) {
        throw new Error(`personalData(${schema}.${name}): ${column.name} is NOT NULL, so it cannot be erased to null`)
      }
      return [{
        column: column.name,
        category: declared.category,
        erase,
        encrypted: declared.encrypted === true,
        nullable
      }]
    }
  )
  const tenant = spec.tenantColumn === undefined
    ? (config.columns.find((c) => c.name === "tenant_id")?.name ?? null)
    : spec.tenantColumn === null
    ? null
    : spec.tenantColumn.name
  return {
    schema,
    table: name,
    key,
    tenantColumn: tenant,
    subject: spec.subject?.name ?? null,
    onErase: spec.onErase,
    reason: spec.reason ?? null,
    columns
  }
}

/** The whole declaration. */
export const definePrivacy = (spec: {
  readonly tables: ReadonlyArray<PersonalTable>
  readonly notPersonal?: ReadonlyArray<PgColumn> | undefined
  readonly auditLog?: PgTable | undefined
}): PrivacyMap => ({
  tables: spec.tables,
  notPersonal: (spec.notPersonal ?? []).map((column) => {
    const { schema, table } = qualifiedOf(column.table as PgTable)
    return `${schema}.${table}.${column.name}`
  }),
  auditLog: spec.auditLog === undefined
    ? null
    : (({ schema, table }) => ({ schema, table }))(qualifiedOf(spec.auditLog))
})

/** Column names that usually hold personal data, and the category each suggests. */
const LOOKS_PERSONAL: ReadonlyArray<readonly [RegExp, Category]> = [
  [/e_?mail/, "email"],
  [/phone|mobile|fax|msisdn/, "phone"],
  [/(^|_)(first|last|middle|given|family|full|sur|display|nick|maiden)_?name$|^name$|(^|_)surname$/, "name"],
  [/address|street|(^|_)city$|zip|postal|postcode/, "address"],
  [/iban|bic|swift|account_?number|card_?number/, "iban"],
  [/tax_?(id|number|no)|(^|_)vat|ssn|social_security|national_id|passport/, "tax_id"],
  [/birth|(^|_)dob$/, "date_of_birth"],
  [/(^|_)ip(_address)?$|ip_addr/, "ip_address"]
]

/** The category a column's name suggests, if it looks personal. */
export const looksPersonal = (column: string): Category | undefined =>
  LOOKS_PERSONAL.find(([pattern]) => pattern.test(column.toLowerCase()))?.[1]

/** A declared column, looked up by `schema.table.column`. */
export const declaredColumns = (map: PrivacyMap): ReadonlyMap<string, PersonalColumn> =>
  new Map(map.tables.flatMap((t) => t.columns.map((c) => [`${t.schema}.${t.table}.${c.column}`, c] as const)))
