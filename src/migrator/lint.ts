/**
 * A pure linter for pending SQL migrations, used by `dbkit migrate plan`: it flags statements
 * that lose data, break the application version still running during a deploy, or hold a lock
 * that blocks reads or writes for as long as the table takes to scan or rewrite (PostgreSQL 11+
 * semantics) — and transaction control (BEGIN, COMMIT, …) in a migration that runs in dbkit's
 * transaction, which the Migrator refuses to run.
 *
 * How it reads SQL: each statement is masked first — comments removed, string literals and
 * dollar-quoted bodies blanked to `''`, quoted identifiers replaced by `"N"` placeholders — so
 * trigger words inside `COMMENT ... IS 'drop table'`, `DO $$ … $$` or `"drop table"` never
 * match. Rules then match the masked text with anchored regular expressions.
 *
 * Tables created earlier in the same pending set (or named in `options.newTables`) are new:
 * they hold no rows and no running code uses them, so changes to them are never flagged.
 * Names are normalised: `"public"."users"`, `public.users` and `users` are the same table
 * (unqualified names are taken to be in `public`). Code migrations cannot be read: skipped.
 */
import { tenancyLinter, type TenancyLintRule, tenancyRules } from "./lintTenancy.js"
import type { Migration } from "./source.js"
import { transactionControl } from "./sql.js"
import {
  identifier,
  mask,
  type Masked,
  NAME,
  normaliseTableName,
  PART,
  splitTopLevel,
  tableKey,
  tableList,
  topLevel
} from "./sqlMask.js"

export { normaliseTableName } from "./sqlMask.js"

// ---------------------------------------------------------------------------------------------
// Rules
// ---------------------------------------------------------------------------------------------

/** What a finding is about; each rule has one fixed message in `rules`. */
export type LintRule =
  | "drop-table"
  | "drop-column"
  | "truncate"
  | "alter-column-type"
  | "set-not-null"
  | "add-column-not-null-without-default"
  | "add-column-volatile-default"
  | "create-index-without-concurrently"
  | "add-unique-without-index"
  | "rename"
  | "drop-schema"
  | "delete-without-where"
  | "update-without-where"
  | "add-foreign-key-without-not-valid"
  | "add-check-without-not-valid"
  | "validate-in-same-transaction"
  | "transaction-control"
  | TenancyLintRule

/** One line per rule: what is risky and what to do instead. */
export const rules: { readonly [R in LintRule]: string } = {
  "drop-table": "DROP TABLE deletes the table and its data, and breaks code that still reads it; " +
    "stop using the table in a release first, back it up, then drop it",
  "drop-column": "DROP COLUMN deletes data and breaks running code that selects the column; " +
    "stop using the column in a release first, then drop it",
  "truncate": "TRUNCATE deletes every row under an ACCESS EXCLUSIVE lock; make sure this is meant to run in every " +
    "environment",
  "alter-column-type": "ALTER COLUMN ... TYPE rewrites the table and its indexes under ACCESS EXCLUSIVE " +
    "(unless binary-compatible, e.g. varchar(n) → text); add a new column, backfill it, then switch over",
  "set-not-null": "SET NOT NULL scans the whole table under ACCESS EXCLUSIVE; first ADD CONSTRAINT ... " +
    "CHECK (col IS NOT NULL) NOT VALID, VALIDATE CONSTRAINT it in a later migration, then SET NOT NULL (no scan)",
  "add-column-not-null-without-default": "ADD COLUMN ... NOT NULL without a DEFAULT fails if the table has rows; " +
    "add a DEFAULT, or add the column nullable, backfill, then make it NOT NULL",
  "add-column-volatile-default": "ADD COLUMN with a volatile default (gen_random_uuid(), clock_timestamp(), " +
    "serial, identity, stored generated) rewrites the table under ACCESS EXCLUSIVE; add it without, then backfill",
  "create-index-without-concurrently": "CREATE INDEX without CONCURRENTLY locks writes to the table while it " +
    "builds; use CREATE INDEX CONCURRENTLY (dbkit runs it outside a transaction)",
  "add-unique-without-index": "ADD UNIQUE / PRIMARY KEY builds its index under ACCESS EXCLUSIVE, blocking reads " +
    "and writes; CREATE UNIQUE INDEX CONCURRENTLY first, then ADD CONSTRAINT ... USING INDEX",
  "rename": "Renaming a table or column (or moving it to another schema) breaks the application version still " +
    "running; add the new name, move code over, then remove the old one",
  "drop-schema": "DROP SCHEMA deletes the schema (with CASCADE, everything in it); make sure nothing still uses it",
  "delete-without-where": "DELETE without WHERE deletes every row of the table; add a WHERE, or use TRUNCATE if " +
    "that is really meant",
  "update-without-where": "UPDATE without WHERE rewrites every row and holds all their row locks until the " +
    "migration commits; backfill in batches outside the migration",
  "add-foreign-key-without-not-valid": "ADD FOREIGN KEY without NOT VALID scans the table while locking writes " +
    "to it and the referenced table; add it NOT VALID, then VALIDATE CONSTRAINT in a later migration",
  "add-check-without-not-valid": "ADD CHECK without NOT VALID scans the table under ACCESS EXCLUSIVE; add it " +
    "NOT VALID, then VALIDATE CONSTRAINT in a later migration",
  "validate-in-same-transaction": "VALIDATE CONSTRAINT in the same transaction as its ADD ... NOT VALID still " +
    "holds the ADD's ACCESS EXCLUSIVE lock during the scan; move VALIDATE CONSTRAINT to a later migration",
  "transaction-control": "BEGIN / COMMIT / END / ROLLBACK in a migration that runs in dbkit's transaction ends that " +
    "transaction, committing part of the migration without its history row; dbkit refuses to run it. Remove it (each " +
    "migration already runs in its own transaction), or mark the file -- dbkit:no-transaction to manage transactions yourself",
  ...tenancyRules
}

/** One problem found in a pending migration. */
export interface LintFinding {
  readonly migration: string
  /** 1-based index of the statement within the migration. */
  readonly statement: number
  readonly rule: LintRule
  readonly severity: "warning"
  readonly message: string
  /** The statement without comments, whitespace collapsed, truncated to about 120 characters. */
  readonly excerpt: string
}

// ---------------------------------------------------------------------------------------------
// State across the pending set
// ---------------------------------------------------------------------------------------------

/** What earlier statements of the pending set tell about later ones. */
interface State {
  /** Tables created in the pending set. */
  readonly newTables: Set<string>
  /** `table.column` known to hold no NULLs because a CHECK (col IS NOT NULL) was validated. */
  readonly provenNotNull: Set<string>
  /** `table/constraint` → column, for CHECK (col IS NOT NULL) constraints added NOT VALID. */
  readonly pendingNotNullChecks: Map<string, string>
  /** `table/constraint` added NOT VALID in the current migration, when it runs in a transaction. */
  readonly notValidInTransaction: Set<string>
}

const emptyState = (newTables: Iterable<string> = []): State => ({
  newTables: new Set([...newTables].map(normaliseTableName)),
  provenNotNull: new Set(),
  pendingNotNullChecks: new Map(),
  notValidInTransaction: new Set()
})

type Hit = { readonly rule: LintRule; readonly message: string }
const hit = (rule: LintRule): Hit => ({ rule, message: rules[rule] })

// ---------------------------------------------------------------------------------------------
// Statement checks
// ---------------------------------------------------------------------------------------------

const re = (source: string) => new RegExp(source, "i")

const CREATE_TABLE = re(
  String
    .raw`^CREATE (?:(?:GLOBAL|LOCAL) )?(?:(?:TEMP|TEMPORARY|UNLOGGED) )?(?:TABLE|MATERIALIZED VIEW) (?:IF NOT EXISTS )?(${NAME})`
)
const CREATE_INDEX = re(
  String.raw`^CREATE (?:UNIQUE )?INDEX (CONCURRENTLY )?(?:IF NOT EXISTS )?(?:${NAME} )?ON (?:ONLY )?(${NAME})`
)
const ALTER_TABLE = re(String.raw`^ALTER TABLE (?:IF EXISTS )?(?:ONLY )?(${NAME})(?: ?\*)? (.*)$`)
const DROP_TABLE = re(String.raw`^DROP TABLE (?:IF EXISTS )?(.*)$`)
const TRUNCATE = re(String.raw`^TRUNCATE (?:TABLE )?(.*)$`)
const DROP_SCHEMA = re(String.raw`^DROP SCHEMA\b`)
const DELETE = re(String.raw`^DELETE FROM (?:ONLY )?(${NAME})`)
const UPDATE = re(String.raw`^UPDATE (?:ONLY )?(${NAME})`)

/** Words after ADD that start a table constraint rather than a column. */
const CONSTRAINT_START = /^(?:CONSTRAINT|PRIMARY|UNIQUE|CHECK|FOREIGN|EXCLUDE)\b/i
/** Defaults PostgreSQL must compute per row, which rewrite the table when a column is added. */
const VOLATILE_DEFAULT =
  /\bDEFAULT \(?\s?(?:\w+\.)?(?:gen_random_uuid|uuid_generate_v[14]|uuidv[47]|random|clock_timestamp|timeofday|nextval)\s?\(/i

/** `ADD [COLUMN] [IF NOT EXISTS] name type …` */
const checkAddColumn = (definition: string): Array<Hit> => {
  const top = topLevel(definition)
  const hits: Array<Hit> = []
  const serial = /^\S+ (?:small|big)?serial\d?\b/i.test(top)
  const generated = /\bGENERATED\b/i.test(top)
  const hasDefault = /\bDEFAULT (?!NULL\b)/i.test(top) || serial || generated
  // Identity and STORED generated columns compute a value per existing row; VIRTUAL (PG18) ones do not.
  const rewrites = serial || /\bAS IDENTITY\b|\bSTORED\b/i.test(top) || VOLATILE_DEFAULT.test(definition)
  if (/\bNOT NULL\b|\bPRIMARY KEY\b/i.test(top) && !hasDefault) hits.push(hit("add-column-not-null-without-default"))
  if (rewrites) hits.push(hit("add-column-volatile-default"))
  if (/\bUNIQUE\b|\bPRIMARY KEY\b/i.test(top)) hits.push(hit("add-unique-without-index"))
  return hits
}

/** `ADD [CONSTRAINT name] FOREIGN KEY | CHECK | UNIQUE | PRIMARY KEY …` */
const checkAddConstraint = (action: string, table: string, masked: Masked, state: State): Array<Hit> => {
  const match = re(String.raw`^ADD (?:CONSTRAINT (${NAME}) )?(FOREIGN KEY|CHECK|UNIQUE|PRIMARY KEY)\b ?(.*)$`)
    .exec(action)
  if (!match) return []
  const constraint = match[1] === undefined ? undefined : `${table}/${identifier(match[1], masked)}`
  const kind = match[2]!.toUpperCase()
  const rest = match[3] ?? ""
  const notValid = /\bNOT VALID\b/i.test(topLevel(rest))
  if (notValid && constraint !== undefined) state.notValidInTransaction.add(constraint)
  if (kind === "CHECK") {
    const column = re(String.raw`^\( ?(${PART}) IS NOT NULL ?\)`).exec(rest)?.[1]
    if (column !== undefined) {
      const key = `${table}.${identifier(column, masked)}`
      if (!notValid) state.provenNotNull.add(key)
      else if (constraint !== undefined) state.pendingNotNullChecks.set(constraint, key)
    }
    return notValid ? [] : [hit("add-check-without-not-valid")]
  }
  if (kind === "FOREIGN KEY") return notValid ? [] : [hit("add-foreign-key-without-not-valid")]
  return /\bUSING INDEX\b/i.test(rest) ? [] : [hit("add-unique-without-index")]
}

/** `VALIDATE CONSTRAINT name`: proves a NOT NULL check, and is flagged next to its NOT VALID ADD. */
const checkValidate = (action: string, table: string, masked: Masked, state: State): Array<Hit> => {
  const name = re(String.raw`^VALIDATE CONSTRAINT (${NAME})`).exec(action)?.[1]
  if (name === undefined) return []
  const constraint = `${table}/${identifier(name, masked)}`
  const column = state.pendingNotNullChecks.get(constraint)
  if (column !== undefined) state.provenNotNull.add(column)
  return state.notValidInTransaction.has(constraint) ? [hit("validate-in-same-transaction")] : []
}

/** One sub-command of ALTER TABLE on an existing table. */
const checkAlterAction = (action: string, table: string, masked: Masked, state: State): Array<Hit> => {
  if (/^ADD /i.test(action)) {
    const column = re(String.raw`^ADD (COLUMN )?(?:IF NOT EXISTS )?(.*)$`).exec(action)!
    const definition = column[2] ?? ""
    return column[1] !== undefined || !CONSTRAINT_START.test(definition)
      ? checkAddColumn(definition)
      : checkAddConstraint(action, table, masked, state)
  }
  const alterColumn = re(String.raw`^ALTER (?:COLUMN )?(${PART}) (.*)$`).exec(action)
  if (alterColumn) {
    const change = alterColumn[2] ?? ""
    if (/^(?:SET DATA )?TYPE\b/i.test(change)) return [hit("alter-column-type")]
    const column = `${table}.${identifier(alterColumn[1]!, masked)}`
    if (/^SET NOT NULL\b/i.test(change) && !state.provenNotNull.has(column)) return [hit("set-not-null")]
    return []
  }
  if (/^DROP /i.test(action) && !/^DROP CONSTRAINT\b/i.test(action)) return [hit("drop-column")]
  if (/^RENAME /i.test(action) && !/^RENAME CONSTRAINT\b/i.test(action)) return [hit("rename")]
  if (/^SET SCHEMA\b/i.test(action)) return [hit("rename")]
  if (/^VALIDATE /i.test(action)) return checkValidate(action, table, masked, state)
  return []
}

/** ALTER TABLE: every comma-separated sub-command is checked; new tables only update the state. */
const checkAlterTable = (masked: Masked, state: State): Array<Hit> => {
  const match = ALTER_TABLE.exec(masked.sql)
  if (!match) return []
  const table = tableKey(match[1]!, masked)
  const actions = match[2] ?? ""
  if (state.newTables.has(table)) {
    const renamed = re(String.raw`^RENAME TO (${NAME})`).exec(actions)?.[1]
    const schema = table.slice(0, table.indexOf("."))
    if (renamed !== undefined) state.newTables.add(`${schema}.${identifier(renamed, masked)}`)
    return []
  }
  return splitTopLevel(actions).flatMap((action) => checkAlterAction(action, table, masked, state))
}

/** Every other statement kind, by its leading keywords. */
const checkStatement = (masked: Masked, state: State): Array<Hit> => {
  const sql = masked.sql
  const isNew = (name: string) => state.newTables.has(tableKey(name, masked))

  const created = CREATE_TABLE.exec(sql)
  if (created) {
    state.newTables.add(tableKey(created[1]!, masked))
    return []
  }
  const index = CREATE_INDEX.exec(sql)
  if (index) return index[1] === undefined && !isNew(index[2]!) ? [hit("create-index-without-concurrently")] : []
  if (ALTER_TABLE.test(sql)) return checkAlterTable(masked, state)
  const dropped = DROP_TABLE.exec(sql)
  if (dropped) {
    const tables = tableList(dropped[1] ?? "", masked)
    const existing = tables.filter((t) => !state.newTables.has(t))
    tables.forEach((t) => state.newTables.delete(t))
    return existing.length > 0 ? [hit("drop-table")] : []
  }
  const truncated = TRUNCATE.exec(sql)
  if (truncated) {
    return tableList(truncated[1] ?? "", masked).some((t) => !state.newTables.has(t)) ? [hit("truncate")] : []
  }
  if (DROP_SCHEMA.test(sql)) return [hit("drop-schema")]
  const deleted = DELETE.exec(sql)
  if (deleted && !isNew(deleted[1]!) && !/\bWHERE\b/i.test(topLevel(sql))) return [hit("delete-without-where")]
  const updated = UPDATE.exec(sql)
  if (updated && !isNew(updated[1]!) && !/\bWHERE\b/i.test(topLevel(sql))) return [hit("update-without-where")]
  return []
}

/** Each rule once per statement, in the order found. */
const unique = (hits: ReadonlyArray<Hit>): Array<Hit> =>
  hits.filter((h, i) => hits.findIndex((other) => other.rule === h.rule) === i)

// ---------------------------------------------------------------------------------------------
// API
// ---------------------------------------------------------------------------------------------

/** The risks of one statement on its own (every table taken to exist and hold rows). */
export const lintStatement = (text: string): ReadonlyArray<{ rule: LintRule; message: string }> => {
  const masked = mask(text)
  return unique([...checkStatement(masked, emptyState()), ...tenancyLinter().statement(masked, null).map(hit)])
}

const EXCERPT_LENGTH = 120

/** The statement without comments, whitespace collapsed, cut to about 120 characters. */
const excerpt = (masked: Masked): string =>
  masked.plain.length <= EXCERPT_LENGTH ? masked.plain : `${masked.plain.slice(0, EXCERPT_LENGTH - 1).trimEnd()}…`

/**
 * Lints pending migrations in the order they will run. `newTables` names tables to treat as
 * new in addition to those the migrations create (e.g. created by a code migration).
 */
export const lintMigrations = (
  migrations: ReadonlyArray<Migration>,
  options: { readonly newTables?: Iterable<string> } = {}
): ReadonlyArray<LintFinding> => {
  const state = emptyState(options.newTables)
  type At = { readonly order: number; readonly migration: string; readonly statement: number; readonly masked: Masked }
  const tenancy = tenancyLinter<At>()
  const found: Array<{ readonly at: At; readonly hit: Hit }> = []
  migrations.forEach((migration, order) => {
    if (migration.up._tag !== "Sql") return
    state.notValidInTransaction.clear()
    migration.up.statements.forEach((statement, index) => {
      const masked = mask(statement.text)
      const at: At = { order, migration: migration.name, statement: index + 1, masked }
      const hits = checkStatement(masked, state)
      if (migration.transactional && transactionControl(statement.text) !== undefined) {
        hits.push(hit("transaction-control"))
      }
      hits.push(...tenancy.statement(masked, at).map(hit))
      for (const h of unique(hits)) found.push({ at, hit: h })
      if (!migration.transactional) state.notValidInTransaction.clear()
    })
  })
  // Decided by the whole set (a later migration may fix an earlier one), reported where they arose.
  for (const { at, rule } of tenancy.end()) found.push({ at, hit: hit(rule) })
  return found
    .map((f, i) => ({ ...f, i }))
    .sort((a, b) => a.at.order - b.at.order || a.at.statement - b.at.statement || a.i - b.i)
    .map(({ at, hit: { message, rule } }) => ({
      migration: at.migration,
      statement: at.statement,
      rule,
      severity: "warning" as const,
      message,
      excerpt: excerpt(at.masked)
    }))
}
