/**
 * The encrypted columns a run works on, checked against the catalog, and their values read and
 * written in key-ordered batches (writes retried on lock timeouts and deadlocks).
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import { quoteIdent } from "../Identifier.js"
import { sqlState } from "../ServerError.js"
import type { PersonalTable, PrivacyMap } from "./declare.js"
import { EncryptedColumnUnavailable, InvalidEncryptionOptions } from "./encryptionErrors.js"
import type { EncryptionOptions } from "./encryptionReports.js"
import { type Classified, classify, type Keyring, parseEnvelope, PREFIX } from "./fieldCrypto.js"
import { relationAccess } from "./subject.js"

/** Values per batch unless told otherwise. */
export const DEFAULT_BATCH_SIZE = 2000

/** Sample primary keys kept per problem class. */
export const SAMPLE = 5

/** Recorded as the actor of the rotation's updates (audit triggers read `app.actor`). */
const ACTOR = "dbkit privacy rotate-key"

export interface Target {
  readonly schema: string
  readonly table: string
  readonly column: string
  /** `schema.table.column`. */
  readonly name: string
  /** Quoted `schema.table`. */
  readonly sql: string
  /** Quoted column. */
  readonly col: string
  /** Primary key columns (quoted) and their types (for casting text back). */
  readonly keys: ReadonlyArray<{ readonly sql: string; readonly type: string }>
}

/** The declared encrypted columns the filter selects. */
const selectColumns = (
  map: PrivacyMap,
  filter: ReadonlyArray<string> | undefined
): Effect.Effect<ReadonlyArray<{ table: PersonalTable; column: string }>, InvalidEncryptionOptions> => {
  const all = map.tables.flatMap((table) =>
    table.columns.filter((c) => c.encrypted).map((c) => ({ table, column: c.column }))
  )
  if (filter === undefined || filter.length === 0) return Effect.succeed(all)
  const names = ({ table, column }: { table: PersonalTable; column: string }) => [
    table.table,
    `${table.schema}.${table.table}`,
    `${table.table}.${column}`,
    `${table.schema}.${table.table}.${column}`
  ]
  const unmatched = filter.filter((f) => !all.some((c) => names(c).includes(f)))
  if (unmatched.length > 0) {
    const declared = all.map((c) => `${c.table.schema}.${c.table.table}.${c.column}`)
    return Effect.fail(
      new InvalidEncryptionOptions({
        reason: `${unmatched.join(", ")}: no encrypted column of the privacy map matches (declared: ${
          declared.join(", ") || "none"
        })`
      })
    )
  }
  return Effect.succeed(all.filter((c) => filter.some((f) => names(c).includes(f))))
}

const TEXT_TYPES = /^(text|character varying(\(\d+\))?|character(\(\d+\))?|citext)$/

/** Checks one declared column against the database and learns its key's types. */
const resolveTarget = (sql: SqlClient.SqlClient, table: PersonalTable, column: string) =>
  Effect.gen(function*() {
    const name = `${table.schema}.${table.table}.${column}`
    const relation = `${quoteIdent(table.schema)}.${quoteIdent(table.table)}`
    const unavailable = (reason: string) => Effect.fail(new EncryptedColumnUnavailable({ column: name, reason }))
    const rel = yield* Effect.provideService(relationAccess(table.schema, table.table), SqlClient.SqlClient, sql)
    if (rel === undefined) {
      return yield* unavailable(
        "is declared in the privacy map, but its table does not exist (run the migrations, or fix the map)"
      )
    }
    // Row-level security would silently show this role only some rows: a rotation that misses rows,
    // a verification that passes without looking. Refuse instead.
    if (rel.hidden) {
      return yield* unavailable(
        `has row-level security and ${rel.role} would see only some of its rows; connect as a role with BYPASSRLS (or a superuser, or the owner without FORCE ROW LEVEL SECURITY)`
      )
    }
    const columns = yield* sql.unsafe<{ name: string; type: string }>(
      `SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type FROM pg_attribute a
        WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped AND a.attname = ANY($2::text[])`,
      [rel.oid, [column, ...table.key]]
    )
    const typeOf = (c: string) => columns.find((row) => row.name === c)?.type
    const type = typeOf(column)
    if (type === undefined) {
      return yield* unavailable(
        "is declared in the privacy map, but the table has no such column (run the migrations, or fix the map)"
      )
    }
    if (!TEXT_TYPES.test(type)) return yield* unavailable(`is ${type}; encrypted values are text`)
    const keys = table.key.map((k) => ({ name: k, sql: quoteIdent(k), type: typeOf(k) }))
    const missing = keys.find((k) => k.type === undefined)
    if (missing) return yield* unavailable(`has no key column ${missing.name} (the map's primary key); fix the map`)
    return {
      schema: table.schema,
      table: table.table,
      column,
      name,
      sql: relation,
      col: quoteIdent(column),
      keys: keys.map((k) => ({ sql: k.sql, type: k.type! }))
    } satisfies Target
  })

export const targetsOf = (sql: SqlClient.SqlClient, map: PrivacyMap, options: EncryptionOptions) =>
  Effect.gen(function*() {
    const batchSize = options.batchSize ?? DEFAULT_BATCH_SIZE
    if (!Number.isInteger(batchSize) || batchSize < 1) {
      return yield* new InvalidEncryptionOptions({
        reason: `the batch size must be a positive integer, not ${batchSize}`
      })
    }
    const selected = yield* selectColumns(map, options.tables)
    const targets = yield* Effect.forEach(selected, ({ table, column }) => resolveTarget(sql, table, column))
    return { batchSize, targets }
  })

export interface Row {
  readonly value: string
  readonly [key: `k${number}`]: string
}

/** Reads the next batch after `cursor` (the last key read, as text), in key order. */
export const readBatch = (
  sql: SqlClient.SqlClient,
  target: Target,
  condition: string,
  params: ReadonlyArray<unknown>,
  cursor: ReadonlyArray<string> | undefined,
  batchSize: number
) => {
  const keyText = target.keys.map((k, i) => `t.${k.sql}::text AS k${i}`).join(", ")
  const order = target.keys.map((k) => `t.${k.sql}`).join(", ")
  const after = cursor === undefined
    ? ""
    : ` AND (${order}) > (${target.keys.map((k, i) => `$${params.length + i + 1}::${k.type}`).join(", ")})`
  return sql.unsafe<Row>(
    `SELECT ${keyText}, t.${target.col} AS value FROM ${target.sql} t
      WHERE ${condition}${after} ORDER BY ${order} LIMIT ${batchSize}`,
    [...params, ...(cursor ?? [])]
  )
}

export const keysOf = (target: Target, row: Row): ReadonlyArray<string> => target.keys.map((_, i) => row[`k${i}`]!)

/** A row's key as samples show it: "42", or "(a, b)". */
export const sampleKey = (keys: ReadonlyArray<string>) => (keys.length === 1 ? keys[0]! : `(${keys.join(", ")})`)

/** Lock waits end in lock_timeout; a deadlock aborts one side. Both are worth another try. */
const isTransient = (error: SqlError) => ["55P03", "40P01", "40001"].includes(sqlState(error) ?? "")
const transient = Schedule.exponential("200 millis").pipe(
  Schedule.jittered,
  Schedule.intersect(Schedule.recurs(8)),
  Schedule.whileInput(isTransient)
)

/**
 * Writes new values where the row still holds the value read; returns how many were written.
 * One short transaction: the row locks are held for one statement, never across batches.
 */
export const writeBatch = (
  sql: SqlClient.SqlClient,
  target: Target,
  writes: { keys: Array<Array<string>>; old: Array<string>; next: Array<string> }
) => {
  const keyCols = target.keys.map((_, i) => `k${i}`)
  const params = [...writes.keys, writes.old, writes.next]
  const unnest = params.map((_, i) => `$${i + 1}::text[]`).join(", ")
  const match = target.keys.map((k, i) => `t.${k.sql} = d.k${i}::${k.type}`).join(" AND ")
  const statement = `WITH written AS (
      UPDATE ${target.sql} t SET ${target.col} = d.next
        FROM unnest(${unnest}) AS d(${[...keyCols, "old", "next"].join(", ")})
       WHERE ${match} AND t.${target.col} = d.old
      RETURNING NOT starts_with(d.old, '${PREFIX}') AS plaintext)
    SELECT count(*)::int AS n, count(*) FILTER (WHERE plaintext)::int AS plaintext FROM written`
  return sql.withTransaction(
    Effect.zipRight(
      // Re-encryption changes no value a person or the application sees, so it is not an audit
      // event: a million rotated values would otherwise add a million audit rows and double the
      // rotation's time. The triggers honour this only for roles that bypass RLS anyway.
      sql.unsafe(
        "SELECT set_config('lock_timeout', '5s', true), set_config('app.actor', $1, true), set_config('dbkit.audit', 'off', true)",
        [ACTOR]
      ),
      sql.unsafe<{ n: number; plaintext: number }>(statement, params)
    )
  ).pipe(
    Effect.tapError((error) =>
      isTransient(error)
        ? Effect.logWarning(`${target.name}: batch not written (${sqlState(error)}: lock wait or deadlock), retrying`)
        : Effect.void
    ),
    Effect.retry(transient),
    Effect.map((rows) => ({ written: rows[0]?.n ?? 0, plaintext: rows[0]?.plaintext ?? 0 }))
  )
}

/** How rotation sees a stored value: a value starting with the envelope's prefix that does not parse is damaged, not plaintext. */
export const classifyStored = (keyring: Keyring, value: string): Classified =>
  value.startsWith(PREFIX) && parseEnvelope(value) === undefined ? "undecryptable" : classify(keyring, value)

export const elapsed = (started: number) => Date.now() - started
export const perSecond = (n: number, ms: number) => (ms > 0 ? Math.round((n * 1000) / ms) : n)
