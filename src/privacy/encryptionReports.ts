/** What key rotation and verification report (counts and sample keys, never values), and their options. */
import * as Effect from "effect/Effect"

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
