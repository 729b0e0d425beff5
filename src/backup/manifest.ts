/**
 * The manifest: what a backup file holds and how to read it, written beside it as
 * `<file>.json` and signed (signature.ts). Types only; Backup, files and signature all read it
 * from here, so none of them imports another for it.
 */

/** The tag a signed manifest carries. */
export interface ManifestSignature {
  readonly alg: "hmac-sha256"
  /** Which key: the first 8 hex digits of its sha256. */
  readonly key: string
  readonly mac: string
}

/** What a backup file holds and how to read it; written beside it as `<file>.json`. */
export interface Manifest {
  readonly tool: { readonly name: "dbkit" | "pg_dump"; readonly version: string; readonly pgDump: number }
  readonly createdAt: string
  readonly file: string
  readonly database: string
  readonly target: string
  readonly environment: string
  readonly serverVersion: string
  readonly migrationHead: string | null
  readonly format: "plain" | "custom"
  readonly compression: { readonly algorithm: "gzip" | "pg_dump" | "none"; readonly level: number }
  readonly encryption:
    | { readonly algorithm: "aes-256-gcm"; readonly kdf: "scrypt"; readonly keyFingerprint: string }
    | null
  readonly contents: "full" | "schema-only" | "data-only"
  readonly excludedTables: ReadonlyArray<string>
  readonly sizes: { readonly dump: number; readonly file: number }
  readonly sha256: string
  readonly tables: Readonly<Record<string, number>>
  /** HMAC over the rest of the manifest (signature.ts); absent from manifests written before 0.x or by hand. */
  readonly signature?: ManifestSignature | undefined
}
