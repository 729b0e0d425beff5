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
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import type { PrivacyMap } from "./declare.js"
import { EncryptedColumnUnavailable, EncryptionProblems, InvalidEncryptionOptions } from "./encryptionErrors.js"
import type { ColumnRotation, RotateOptions, RotateReport } from "./encryptionReports.js"
import {
  elapsed,
  keysOf,
  perSecond,
  readBatch,
  type Row,
  SAMPLE,
  sampleKey,
  type Target,
  targetsOf,
  writeBatch
} from "./encryptionScan.js"
import { type Keyring, parseEnvelope, PREFIX } from "./fieldCrypto.js"
export {
  type ColumnProblems,
  EncryptedColumnUnavailable,
  EncryptionProblems,
  InvalidEncryptionOptions
} from "./encryptionErrors.js"
export {
  type ColumnRotation,
  type ColumnVerification,
  type EncryptionOptions,
  type RotateOptions,
  type RotateProgress,
  type RotateReport,
  type Sampled,
  type VerifyReport
} from "./encryptionReports.js"
export { DEFAULT_BATCH_SIZE } from "./encryptionScan.js"
export { requireEncrypted, verifyEncryption } from "./encryptionVerify.js"

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
