/** Field-encryption maintenance's failures: bad options, a column that cannot be scanned, values found wrong. */
import * as Data from "effect/Data"
import type { RotateReport, VerifyReport } from "./encryptionReports.js"

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
