/** Verification: every declared encrypted column scanned and its values counted by class. */
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Effect from "effect/Effect"
import type { PrivacyMap } from "./declare.js"
import { EncryptedColumnUnavailable, EncryptionProblems, InvalidEncryptionOptions } from "./encryptionErrors.js"
import type { ColumnVerification, EncryptionOptions, VerifyReport } from "./encryptionReports.js"
import {
  classifyStored,
  elapsed,
  keysOf,
  readBatch,
  SAMPLE,
  sampleKey,
  type Target,
  targetsOf
} from "./encryptionScan.js"
import { type Keyring, parseEnvelope } from "./fieldCrypto.js"

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
