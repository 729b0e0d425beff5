/** What anonymize is asked to do (`AnonymizeOptions`), reports as it goes, and returns. */
import type { Keyring } from "./fieldCrypto.js"

export interface AnonymizeOptions {
  /** Make an anonymized copy in this new database (server only); without it, anonymize in place. */
  readonly into?: string | undefined
  /** Field keys, needed when the map declares encrypted columns. */
  readonly keyring?: Keyring | undefined
  /** Rows per batch (default 1000). */
  readonly batchSize?: number | undefined
  /** In place: confirmed (`--yes`), instead of DB_ANONYMIZE_CONFIRM or the prompt. */
  readonly yes?: boolean | undefined
  readonly onProgress?: ((event: AnonymizeProgress) => void) | undefined
}

export type AnonymizeProgress =
  | { readonly _tag: "Copying"; readonly into: string }
  | { readonly _tag: "Copied"; readonly bytes: number; readonly durationMs: number }
  | { readonly _tag: "Rewriting"; readonly table: string; readonly rows: number; readonly estimate: number | null }
  | { readonly _tag: "Rewritten"; readonly table: TableReport }
  | { readonly _tag: "Vacuuming"; readonly table: string }

/** One declared table: rows rewritten (rows with at least one non-empty declared value), columns, time. */
export interface TableReport {
  readonly table: string
  readonly columns: ReadonlyArray<string>
  readonly rows: number
  readonly durationMs: number
}

export interface AnonymizeReport {
  readonly mode: "into" | "in-place"
  /** The configured database (the source of a copy). */
  readonly source: string
  /** The database that now holds fakes. */
  readonly database: string
  readonly tables: ReadonlyArray<TableReport>
  readonly rows: number
  /** pg_dump | psql (into only). */
  readonly copyMs: number | null
  readonly rewriteMs: number
  /** VACUUM FULL, ANALYZE of the rewritten tables. */
  readonly vacuumMs: number
  readonly durationMs: number
  /** Rows rewritten per second of rewriting. */
  readonly rowsPerSecond: number
}
