/**
 * Handlers of `dbkit privacy rotate-key` and `verify-encryption` (definitions in index.ts).
 */
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import {
  type ColumnRotation,
  type EncryptionProblems,
  requireEncrypted,
  rotateKey as rotate,
  type RotateProgress,
  type RotateReport,
  verifyEncryption as verify,
  type VerifyReport
} from "../../privacy/encryption.js"
import { loadKeyring } from "../../privacy/fieldCrypto.js"
import { loadPrivacyMap } from "../../privacy/loadMap.js"
import { DatabaseFromEnv } from "../live.js"
import type { Parsed } from "../options.js"
import { banner, count, duration, json, table } from "../render.js"
import type { rotateKeyConfig, verifyEncryptionConfig } from "./index.js"

const columnName = (c: { schema: string; table: string; column: string }) => `${c.schema}.${c.table}.${c.column}`

/** One progress line on stderr about every second, and when a column is done. */
const progressPrinter = () => {
  let last = 0
  return (p: RotateProgress) =>
    Effect.suspend(() => {
      const now = Date.now()
      if (now - last < 1000 && p.done < p.total) return Effect.void
      last = now
      const rate = p.elapsedMs > 0 ? (p.done * 1000) / p.elapsedMs : 0
      return Console.error(`  ${columnName(p)}  ${count(p.done)}/${count(p.total)}  ${count(rate)} rows/s`)
    })
}

const renderRotation = (report: RotateReport) =>
  Effect.gen(function*() {
    if (report.columns.length === 0) return yield* Console.log("no encrypted columns are declared in the privacy map")
    yield* Console.log(table(
      ["column", "rotated", "encrypted", "skipped", "unknown key", "undecryptable", "time", "rows/s"],
      report.columns.map((c: ColumnRotation) => [
        columnName(c),
        count(c.rotated),
        count(c.encrypted),
        count(c.skipped),
        count(c.unknownKey.count),
        count(c.undecryptable.count),
        duration(c.durationMs),
        count(c.rowsPerSecond)
      ])
    ))
    yield* Console.log(
      `\n${count(report.rotated + report.encrypted)} value(s) now under key ${report.activeKey} ` +
        `(${count(report.rotated)} re-encrypted, ${count(report.encrypted)} were plaintext) in ${
          duration(report.durationMs)
        }`
    )
    if (report.skipped > 0) {
      yield* Console.log(
        `${
          count(report.skipped)
        } value(s) changed by someone else meanwhile were left alone; run rotate-key again for them`
      )
    }
    for (const c of report.columns) {
      if (c.unknownKey.count > 0) {
        yield* Console.log(
          `${columnName(c)}: under an unknown key (${c.unknownKey.keyIds.join(", ")}): rows ${
            c.unknownKey.sample.join(", ")
          }`
        )
      }
      if (c.undecryptable.count > 0) {
        yield* Console.log(`${columnName(c)}: undecryptable: rows ${c.undecryptable.sample.join(", ")}`)
      }
    }
  })

const renderVerification = (report: VerifyReport) =>
  Effect.gen(function*() {
    if (report.columns.length === 0) return yield* Console.log("no encrypted columns are declared in the privacy map")
    yield* Console.log(table(
      [
        "column",
        "values",
        `active (${report.activeKey})`,
        "older keys",
        "plaintext",
        "unknown key",
        "undecryptable",
        "null"
      ],
      report.columns.map((c) => [
        columnName(c),
        count(c.values),
        count(c.active),
        count(c.oldKey),
        count(c.plaintext.count),
        count(c.unknownKey.count),
        count(c.undecryptable.count),
        count(c.nulls)
      ])
    ))
    for (const c of report.columns) {
      for (
        const [label, found] of [["plaintext", c.plaintext], ["unknown key", c.unknownKey], [
          "undecryptable",
          c.undecryptable
        ]] as const
      ) {
        if (found.count > 0) {
          yield* Console.log(
            `${columnName(c)}: ${label}: rows ${found.sample.join(", ")}${
              found.count > found.sample.length ? ", …" : ""
            }`
          )
        }
      }
    }
    const old = report.columns.reduce((n, c) => n + c.oldKey, 0)
    if (report.ok) {
      yield* Console.log(
        `\nok: every value is encrypted under a configured key${
          old > 0 ? `; ${count(old)} under older keys (dbkit privacy rotate-key moves them to ${report.activeKey})` : ""
        }`
      )
    }
  })

/** `dbkit privacy rotate-key`. */
export const rotateKey = (options: Parsed<typeof rotateKeyConfig>) =>
  Effect.gen(function*() {
    const map = yield* loadPrivacyMap()
    const keyring = yield* loadKeyring()
    yield* banner("privacy rotate-key")
    const render = (report: RotateReport) => (options.json ? json(report) : renderRotation(report))
    const report = yield* rotate(map, keyring, {
      batchSize: options.batchSize,
      tables: options.table,
      onProgress: progressPrinter()
    }).pipe(
      Effect.tapErrorTag("EncryptionProblems", (error: EncryptionProblems) => render(error.report as RotateReport))
    )
    yield* render(report)
  }).pipe(Effect.provide(DatabaseFromEnv))

/** `dbkit privacy verify-encryption`. */
export const verifyEncryption = (options: Parsed<typeof verifyEncryptionConfig>) =>
  Effect.gen(function*() {
    const map = yield* loadPrivacyMap()
    const keyring = yield* loadKeyring()
    const report = yield* verify(map, keyring, { batchSize: options.batchSize, tables: options.table })
    yield* options.json ? json(report) : renderVerification(report)
    yield* requireEncrypted(report)
  }).pipe(Effect.provide(DatabaseFromEnv))
