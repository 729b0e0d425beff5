/**
 * Field-level encryption at rest: key rotation and verification over every column the privacy
 * map declares `encrypted: true` (values `enc:v1:<key id>:…`, see fieldCrypto.ts).
 *
 * - `rotateKey` re-encrypts, under the keyring's active key, every value that is not under it
 *   yet (plaintext is encrypted too), online: keyset pagination on the primary key, each batch
 *   one short transaction whose UPDATE writes a row only if it still holds the value read, so a
 *   value the application changed meanwhile is left alone (and counted as skipped). An
 *   interrupted run loses nothing: values already under the active key are filtered out by SQL,
 *   so the next run carries on where it stopped.
 * - `verifyEncryption` counts every column's values by class (active key, older key, plaintext,
 *   unknown key, undecryptable) with sample primary keys.
 *
 * Decryption happens here in Node; the database only ever sees ciphertext. Reports, errors and
 * logs name key ids and primary keys, never key material or values.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Schedule from "effect/Schedule"
import { quoteIdent } from "../Identifier.js"
import { sqlState } from "../ServerError.js"
import type { PersonalTable, PrivacyMap } from "./declare.js"
import { type Classified, classify, type Keyring, parseEnvelope, PREFIX } from "./fieldCrypto.js"
import { relationAccess } from "./subject.js"

/** Values per batch unless told otherwise. */
export const DEFAULT_BATCH_SIZE = 2000

/** Sample primary keys kept per problem class. */
const SAMPLE = 5

/** Recorded as the actor of the rotation's updates (audit triggers read `app.actor`). */
const ACTOR = "dbkit privacy rotate-key"

// ---------------------------------------------------------------------------------------------
// Errors

/** Options that cannot be used: a batch size below 1, a table filter that matches no encrypted column. */
export class InvalidEncryptionOptions extends Data.TaggedError("InvalidEncryptionOptions")<{
  readonly reason: string
}> {
  override get message() {
    return this.reason
  }
}

/** A declared encrypted column cannot be scanned: missing, not text, or hidden by row-level security. */
export class EncryptedColumnUnavailable extends Data.TaggedError("EncryptedColumnUnavailable")<{
  /** `schema.table.column`. */
  readonly column: string
  readonly reason: string
}> {
  override get message() {
    return `${this.column} ${this.reason}`
  }
}

/** Counts of the values a run found wrong in one column (never the values themselves). */
export interface ColumnProblems {
  /** `schema.table.column`. */
  readonly column: string
  readonly plaintext: number
  readonly unknownKey: number
  readonly undecryptable: number
  /** Key ids seen on values under unknown keys (ids only). */
  readonly unknownKeyIds: ReadonlyArray<string>
  /** Up to 5 primary keys of such rows. */
  readonly sample: ReadonlyArray<string>
}

/**
 * Values that are not safely encrypted: plaintext (verify only; rotation encrypts it), under a key
 * the keyring lacks, or failing authentication. Rotation leaves those untouched and finishes the rest.
 */
export class EncryptionProblems extends Data.TaggedError("EncryptionProblems")<{
  readonly operation: "rotate-key" | "verify-encryption"
  readonly columns: ReadonlyArray<ColumnProblems>
  /** The full report of the run (rotation or verification), for rendering. */
  readonly report: RotateReport | VerifyReport
}> {
  override get message() {
    const parts = this.columns.map((c) => {
      const kinds = [
        c.plaintext > 0 ? `${c.plaintext} plaintext` : "",
        c.unknownKey > 0 ? `${c.unknownKey} under an unknown key (${c.unknownKeyIds.join(", ")})` : "",
        c.undecryptable > 0 ? `${c.undecryptable} undecryptable` : ""
      ].filter((s) => s !== "")
      return `${c.column}: ${kinds.join(", ")} (e.g. row${c.sample.length === 1 ? "" : "s"} ${c.sample.join(", ")})`
    })
    const has = (f: (c: ColumnProblems) => number) => this.columns.some((c) => f(c) > 0)
    const next = [
      this.operation === "rotate-key"
        ? "those values were left as they are, every other one is under the active key"
        : "",
      has((c) => c.plaintext) ? "dbkit privacy rotate-key encrypts plaintext" : "",
      has((c) => c.unknownKey) ? "add the missing keys to DBKIT_FIELD_KEYS (or DBKIT_FIELD_KEYS_FILE)" : "",
      has((c) => c.undecryptable) ? "undecryptable values were altered or truncated: repair or clear those rows" : "",
      this.operation === "rotate-key" ? "then run rotate-key again" : ""
    ].filter((s) => s !== "")
    return `${parts.join("; ")} — ${next.join("; ")}`
  }
}

// ---------------------------------------------------------------------------------------------
// Reports

/** Values of one kind, with up to 5 sample primary keys ("42", or "(a, b)" for a composite key). */
export interface Sampled {
  readonly count: number
  readonly sample: ReadonlyArray<string>
}

/** What rotation did to one column. */
export interface ColumnRotation {
  readonly schema: string
  readonly table: string
  readonly column: string
  /** Values not under the active key when the column's rotation started. */
  readonly pending: number
  /** Values read by the batches. */
  readonly scanned: number
  /** Values moved from an older key to the active one. */
  readonly rotated: number
  /** Plaintext values now encrypted under the active key. */
  readonly encrypted: number
  /** Values changed by someone else between read and write: left alone. */
  readonly skipped: number
  readonly unknownKey: Sampled & { readonly keyIds: ReadonlyArray<string> }
  readonly undecryptable: Sampled
  readonly batches: number
  readonly durationMs: number
  /** Values scanned per second. */
  readonly rowsPerSecond: number
}

/** A rotation run. */
export interface RotateReport {
  /** The key every value was moved to (its id). */
  readonly activeKey: string
  readonly columns: ReadonlyArray<ColumnRotation>
  readonly rotated: number
  readonly encrypted: number
  readonly skipped: number
  /** Values left alone because they are under an unknown key or undecryptable. */
  readonly problems: number
  readonly durationMs: number
}

/** What verification found in one column. */
export interface ColumnVerification {
  readonly schema: string
  readonly table: string
  readonly column: string
  /** Non-null values. */
  readonly values: number
  readonly nulls: number
  readonly active: number
  readonly oldKey: number
  readonly plaintext: Sampled
  readonly unknownKey: Sampled
  readonly undecryptable: Sampled
  /** Values per key id named in them (known or not). */
  readonly byKey: Readonly<Record<string, number>>
  /** No plaintext, unknown-key or undecryptable values. */
  readonly ok: boolean
}

/** A verification run. */
export interface VerifyReport {
  readonly activeKey: string
  /** The configured key ids, the active one first. */
  readonly keys: ReadonlyArray<string>
  readonly columns: ReadonlyArray<ColumnVerification>
  readonly ok: boolean
  readonly durationMs: number
}

/** After each rotation batch. */
export interface RotateProgress {
  readonly schema: string
  readonly table: string
  readonly column: string
  /** Values handled so far in this column. */
  readonly done: number
  /** Values not under the active key when the column started (others may appear meanwhile). */
  readonly total: number
  readonly batches: number
  readonly elapsedMs: number
}

export interface EncryptionOptions {
  /** Values per batch (default 2,000). */
  readonly batchSize?: number | undefined
  /** Only these tables (`table` or `schema.table`) or columns (`table.column` or `schema.table.column`). */
  readonly tables?: ReadonlyArray<string> | undefined
}

export interface RotateOptions extends EncryptionOptions {
  /** Called after every batch. */
  readonly onProgress?: ((progress: RotateProgress) => Effect.Effect<void>) | undefined
}

// ---------------------------------------------------------------------------------------------
// Targets: the encrypted columns, checked against the catalog

interface Target {
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

const targetsOf = (sql: SqlClient.SqlClient, map: PrivacyMap, options: EncryptionOptions) =>
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

// ---------------------------------------------------------------------------------------------
// Batches

interface Row {
  readonly value: string
  readonly [key: `k${number}`]: string
}

/** Reads the next batch after `cursor` (the last key read, as text), in key order. */
const readBatch = (
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

const keysOf = (target: Target, row: Row): ReadonlyArray<string> => target.keys.map((_, i) => row[`k${i}`]!)

/** A row's key as samples show it: "42", or "(a, b)". */
const sampleKey = (keys: ReadonlyArray<string>) => (keys.length === 1 ? keys[0]! : `(${keys.join(", ")})`)

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
const writeBatch = (
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
const classifyStored = (keyring: Keyring, value: string): Classified =>
  value.startsWith(PREFIX) && parseEnvelope(value) === undefined ? "undecryptable" : classify(keyring, value)

const elapsed = (started: number) => Date.now() - started
const perSecond = (n: number, ms: number) => (ms > 0 ? Math.round((n * 1000) / ms) : n)

// ---------------------------------------------------------------------------------------------
// Rotation

interface Prepared {
  readonly rows: number
  /** The last key read: the next batch starts after it. */
  readonly last: ReadonlyArray<string> | undefined
  readonly writes: { keys: Array<Array<string>>; old: Array<string>; next: Array<string> }
  readonly unknown: ReadonlyArray<{ readonly key: string; readonly keyId: string }>
  readonly broken: ReadonlyArray<string>
}

/** Decides each value of a batch: re-encrypted (or encrypted, when plaintext) under the active key, or left alone as a problem. */
const prepare = (target: Target, keyring: Keyring, rows: ReadonlyArray<Row>): Prepared => {
  const writes = {
    keys: target.keys.map(() => [] as Array<string>),
    old: [] as Array<string>,
    next: [] as Array<string>
  }
  const unknown: Array<{ key: string; keyId: string }> = []
  const broken: Array<string> = []
  for (const row of rows) {
    const keys = keysOf(target, row)
    const envelope = parseEnvelope(row.value)
    let plaintext: string
    if (envelope === undefined) {
      if (row.value.startsWith(PREFIX)) { // damaged, not plaintext: encrypting it would hide the damage
        broken.push(sampleKey(keys))
        continue
      }
      plaintext = row.value
    } else if (!keyring.has(envelope.keyId)) {
      unknown.push({ key: sampleKey(keys), keyId: envelope.keyId })
      continue
    } else {
      try {
        plaintext = keyring.decrypt(row.value) // (decrypted once: this is most of rotation's CPU time)
      } catch {
        broken.push(sampleKey(keys))
        continue
      }
    }
    keys.forEach((k, i) => writes.keys[i]!.push(k))
    writes.old.push(row.value)
    writes.next.push(keyring.encrypt(plaintext))
  }
  const last = rows.length > 0 ? keysOf(target, rows[rows.length - 1]!) : undefined
  return { rows: rows.length, last, writes, unknown, broken }
}

const rotateColumn = (
  sql: SqlClient.SqlClient,
  target: Target,
  keyring: Keyring,
  batchSize: number,
  options: RotateOptions
) =>
  Effect.gen(function*() {
    const started = Date.now()
    const activePrefix = `${PREFIX}${keyring.active}:`
    const condition = `t.${target.col} IS NOT NULL AND NOT starts_with(t.${target.col}, $1)`
    const [count] = yield* sql.unsafe<{ n: number }>(
      `SELECT count(*)::int AS n FROM ${target.sql} t WHERE ${condition}`,
      [activePrefix]
    )
    const pending = count?.n ?? 0
    const read = (cursor: ReadonlyArray<string> | undefined) =>
      Effect.map(readBatch(sql, target, condition, [activePrefix], cursor, batchSize), (rows) =>
        prepare(target, keyring, rows))
    let scanned = 0, rotated = 0, encrypted = 0, skipped = 0, batches = 0
    const unknown = { count: 0, sample: [] as Array<string>, keyIds: new Set<string>() }
    const broken = { count: 0, sample: [] as Array<string> }
    // The next batch is read and re-encrypted while this one is written: the server updates on one
    // connection while another reads, and Node's crypto overlaps both. Batches never overlap (keyset).
    let reading = yield* Effect.fork(read(undefined))
    for (;;) {
      const batch = yield* Fiber.join(reading)
      if (batch.rows === 0) {
        break
      }
      const more = batch.rows === batchSize
      if (more) {
        reading = yield* Effect.fork(read(batch.last))
      }
      for (const { key, keyId } of batch.unknown) {
        unknown.count++
        unknown.keyIds.add(keyId)
        if (unknown.sample.length < SAMPLE) {
          unknown.sample.push(key)
        }
      }
      for (const key of batch.broken) {
        broken.count++
        if (broken.sample.length < SAMPLE) {
          broken.sample.push(key)
        }
      }
      if (batch.writes.old.length > 0) {
        const done = yield* writeBatch(sql, target, batch.writes)
        skipped += batch.writes.old.length - done.written
        encrypted += done.plaintext
        rotated += done.written - done.plaintext
      }
      scanned += batch.rows
      batches++
      if (options.onProgress) {
        yield* options.onProgress({
          schema: target.schema,
          table: target.table,
          column: target.column,
          done: scanned,
          total: Math.max(pending, scanned),
          batches,
          elapsedMs: elapsed(started)
        })
      }
      if (!more) {
        break
      }
    }
    const durationMs = elapsed(started)
    return {
      schema: target.schema,
      table: target.table,
      column: target.column,
      pending,
      scanned,
      rotated,
      encrypted,
      skipped,
      unknownKey: { count: unknown.count, sample: unknown.sample, keyIds: [...unknown.keyIds].sort() },
      undecryptable: broken,
      batches,
      durationMs,
      rowsPerSecond: perSecond(scanned, durationMs)
    } satisfies ColumnRotation
  })

/**
 * Re-encrypts every declared encrypted column's values under `keyring.active`, online and
 * resumable (see the module comment). Values under an unknown key or failing authentication are
 * left untouched; when there are any, the run still finishes every column and then fails with
 * `EncryptionProblems` (which carries the report).
 */
export const rotateKey = (
  map: PrivacyMap,
  keyring: Keyring,
  options: RotateOptions = {}
): Effect.Effect<
  RotateReport,
  EncryptionProblems | InvalidEncryptionOptions | EncryptedColumnUnavailable | SqlError,
  SqlClient.SqlClient
> =>
  Effect.gen(function*() {
    const started = Date.now()
    const sql = yield* SqlClient.SqlClient
    const { batchSize, targets } = yield* targetsOf(sql, map, options)
    const columns = yield* Effect.forEach(targets, (target) =>
      rotateColumn(sql, target, keyring, batchSize, options).pipe(
        Effect.annotateLogs({ column: target.name })
      ))
    const sum = (f: (c: ColumnRotation) => number) =>
      columns.reduce((n, c) =>
        n + f(c), 0)
    const report: RotateReport = {
      activeKey: keyring.active,
      columns,
      rotated: sum((c) => c.rotated),
      encrypted: sum((c) => c.encrypted),
      skipped: sum((c) => c.skipped),
      problems: sum((c) => c.unknownKey.count + c.undecryptable.count),
      durationMs: elapsed(started)
    }
    if (report.problems > 0) {
      return yield* new EncryptionProblems({
        operation: "rotate-key",
        report,
        columns: columns.filter((c) => c.unknownKey.count + c.undecryptable.count > 0).map((c) => ({
          column: `${c.schema}.${c.table}.${c.column}`,
          plaintext: 0,
          unknownKey: c.unknownKey.count,
          undecryptable: c.undecryptable.count,
          unknownKeyIds: c.unknownKey.keyIds,
          sample: [...c.unknownKey.sample, ...c.undecryptable.sample].slice(0, SAMPLE)
        }))
      })
    }
    return report
  })

// ---------------------------------------------------------------------------------------------
// Verification

const verifyColumn = (sql: SqlClient.SqlClient, target: Target, keyring: Keyring, batchSize: number) =>
  Effect.gen(function*() {
    const [counts] = yield* sql.unsafe<{ values: number; nulls: number }>(
      `SELECT count(t.${target.col})::int AS values, (count(*) - count(t.${target.col}))::int AS nulls FROM ${target.sql} t`
    )
    const sampled = () => ({ count: 0, sample: [] as Array<string> })
    const found = { plaintext: sampled(), "unknown-key": sampled(), undecryptable: sampled() }
    let active = 0, oldKey = 0, values = 0
    const byKey: Record<string, number> = {}
    let cursor: ReadonlyArray<string> | undefined
    for (;;) {
      const rows = yield* readBatch(sql, target, `t.${target.col} IS NOT NULL`, [], cursor, batchSize)
      if (rows.length === 0) break
      cursor = keysOf(target, rows[rows.length - 1]!)
      for (const row of rows) {
        values++
        const keyId = parseEnvelope(row.value)?.keyId
        if (keyId !== undefined) byKey[keyId] = (byKey[keyId] ?? 0) + 1
        const kind = classifyStored(keyring, row.value)
        if (kind === "active") active++
        else if (kind === "old-key") oldKey++
        else {
          const bucket = found[kind]
          bucket.count++
          if (bucket.sample.length < SAMPLE) bucket.sample.push(sampleKey(keysOf(target, row)))
        }
      }
      if (rows.length < batchSize) break
    }
    return {
      schema: target.schema,
      table: target.table,
      column: target.column,
      // Rows may come and go while the scan runs: the count is the scan's, not the earlier query's.
      values,
      nulls: counts?.nulls ?? 0,
      active,
      oldKey,
      plaintext: found.plaintext,
      unknownKey: found["unknown-key"],
      undecryptable: found.undecryptable,
      byKey,
      ok: found.plaintext.count + found["unknown-key"].count + found.undecryptable.count === 0
    } satisfies ColumnVerification
  })

/** Scans every declared encrypted column and counts its values by class; `ok` when none is plaintext, under an unknown key or undecryptable. */
export const verifyEncryption = (
  map: PrivacyMap,
  keyring: Keyring,
  options: EncryptionOptions = {}
): Effect.Effect<VerifyReport, InvalidEncryptionOptions | EncryptedColumnUnavailable | SqlError, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const started = Date.now()
    const sql = yield* SqlClient.SqlClient
    const { batchSize, targets } = yield* targetsOf(sql, map, options)
    const columns = yield* Effect.forEach(targets, (target) => verifyColumn(sql, target, keyring, batchSize))
    return {
      activeKey: keyring.active,
      keys: keyring.ids,
      columns,
      ok: columns.every((c) => c.ok),
      durationMs: elapsed(started)
    }
  })

/** The verification as a success only when it is ok; otherwise `EncryptionProblems` (carrying the report). */
export const requireEncrypted = (report: VerifyReport): Effect.Effect<VerifyReport, EncryptionProblems> =>
  report.ok
    ? Effect.succeed(report)
    : Effect.fail(
      new EncryptionProblems({
        operation: "verify-encryption",
        report,
        columns: report.columns.filter((c) => !c.ok).map((c) => ({
          column: `${c.schema}.${c.table}.${c.column}`,
          plaintext: c.plaintext.count,
          unknownKey: c.unknownKey.count,
          undecryptable: c.undecryptable.count,
          unknownKeyIds: Object.keys(c.byKey).filter((id) => !report.keys.includes(id)).sort(),
          sample: [...c.plaintext.sample, ...c.unknownKey.sample, ...c.undecryptable.sample].slice(0, SAMPLE)
        }))
      })
    )
