/**
 * Restore's trust boundary: a backup file is untrusted input. Before a restore creates or
 * touches any database it asks, once (checkRestorable): is the manifest forged; is the file a
 * dump at all; does it come from where dbkit can vouch for it (signature.ts) — if not, only
 * `--trust-unsigned` or a user typing the database name at a terminal lets it through, and in
 * production only the flag; and, over a database, would it leave no tables where there are some.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as Redacted from "effect/Redacted"
import type { Readable } from "node:stream"
import { pipeline } from "node:stream/promises"
import type { Environment } from "../Config.js"
import { Guard } from "../Guard.js"
import {
  BackupCorrupt,
  type BackupKeyInvalid,
  type BackupManifestForged,
  type BackupNotFound,
  BackupUntrustedOrigin
} from "./errors.js"
import * as Files from "./files.js"
import type { Manifest } from "./manifest.js"
import { type Origin, originOf } from "./signature.js"

/** What a restore says about the file and the database it goes to. */
export interface RestoreRequest {
  /** The database restored into or over (a user at a terminal types its name to trust a file). */
  readonly target: string
  readonly environment: Environment
  /** DB_BACKUP_KEY. */
  readonly key: Redacted.Redacted<string> | undefined
  /** `--trust-unsigned`: restore a file of unverified origin. */
  readonly trustUnsigned?: boolean | undefined
  /** Over an existing database: refuse to leave it without tables, unless `allowEmpty`. */
  readonly over?: { readonly allowEmpty?: boolean | undefined } | undefined
}

export type RestoreRefusal =
  | BackupNotFound
  | BackupCorrupt
  | BackupKeyInvalid
  | BackupManifestForged
  | BackupUntrustedOrigin

/**
 * Everything a restore checks about where a file comes from, before anything else: fails when
 * its manifest is forged, when a file without a manifest is not a dump, when its origin is
 * unverified and not trusted, and (over) when it would empty the target. The file's bytes are
 * checked after this by Files.checkBeforeLoad (checksum, decryption, content).
 */
export const checkRestorable = (
  file: string,
  request: RestoreRequest
): Effect.Effect<Origin, RestoreRefusal | SqlError, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const { foreign, manifest } = yield* Files.inspect(file)
    const origin = yield* originOf(file, foreign ? undefined : manifest, request.key)
    // Nothing holds a foreign file to anything: that it is a dump at all is said first.
    if (foreign) yield* Files.checkContent(file, manifest, request.key)
    if (origin.status === "unverified") {
      // An encrypted backup signed under DB_BACKUP_KEY is unverified under a wrong one: say that first.
      yield* Files.checkKey(file, manifest, request.key)
      yield* trust(file, origin, request)
    }
    if (request.over !== undefined && request.over.allowEmpty !== true) {
      const targetTables = yield* userTableCount
      if (targetTables > 0) {
        yield* refuseEmptying(
          file,
          request.target,
          yield* restoredTableCount(file, manifest, foreign, request.key),
          targetTables
        )
      }
    }
    return origin
  })

/** Lets a file of unverified origin through on `--trust-unsigned`, or (not in production) a typed confirmation. */
const trust = (file: string, origin: Origin, request: RestoreRequest) =>
  Effect.gen(function*() {
    if (request.trustUnsigned === true) {
      return yield* Effect.logWarning("restoring a file of unverified origin (--trust-unsigned)").pipe(
        Effect.annotateLogs({ file, reason: origin.reason })
      )
    }
    if (request.environment === "production") {
      return yield* new BackupUntrustedOrigin({
        file,
        reason: `${origin.reason}; in production only --trust-unsigned restores it`
      })
    }
    const guard = yield* Effect.serviceOption(Guard)
    const answer = Option.isSome(guard)
      ? yield* guard.value.ask(
        `${file} has unverified origin: ${origin.reason}. Restoring it runs whatever SQL it holds.\n` +
          `Type the database name (${request.target}) to restore it anyway: `,
        request.target
      )
      : "no terminal"
    if (answer === "typed") return
    return yield* new BackupUntrustedOrigin({
      file,
      reason: answer === "mismatch" ? `${origin.reason}; the name typed did not match` : origin.reason
    })
  })

/** User tables in the current database (every schema but the system's). */
export const userTableCount: Effect.Effect<number, SqlError, SqlClient.SqlClient> = Effect.flatMap(
  SqlClient.SqlClient,
  (sql) =>
    Effect.map(
      sql<{ n: number }>`
      SELECT count(*)::int AS n FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'`,
      (rows) => rows[0]?.n ?? 0
    )
)

/**
 * Refuses a restore that would leave `target` (which has `targetTables` tables) with none:
 * `restoredTables` is 0. Undefined means not known (a schema-only backup, a foreign custom archive).
 */
export const refuseEmptying = (
  file: string,
  target: string,
  restoredTables: number | undefined,
  targetTables: number
) =>
  restoredTables === 0 && targetTables > 0
    ? Effect.fail(
      new BackupCorrupt({
        file,
        reason:
          `it holds no tables, and restoring it would leave ${target} (${targetTables} tables now) with none; pass --allow-empty (allowEmpty: true) if that is what you want`
      })
    )
    : Effect.void

/** `CREATE TABLE` lines of a plain script, as pg_dump writes them. */
const CREATE_TABLE = /^CREATE (?:UNLOGGED |FOREIGN )?TABLE /

/**
 * How many tables a restore of the file creates: its manifest's count for a dbkit backup; for a
 * plain pg_dump file, its CREATE TABLE lines (read through); undefined when not known.
 */
const restoredTableCount = (
  file: string,
  manifest: Manifest,
  foreign: boolean,
  key: Redacted.Redacted<string> | undefined
): Effect.Effect<number | undefined, BackupCorrupt | BackupKeyInvalid> =>
  Effect.gen(function*() {
    if (!foreign) return manifest.contents === "schema-only" ? undefined : Object.keys(manifest.tables ?? {}).length
    if (manifest.format !== "plain") return undefined
    const stages = yield* Files.openDump(file, manifest, key)
    return yield* Effect.tryPromise({
      try: async () => {
        let tables = 0
        let carry = ""
        await pipeline(...(stages as [Readable]), async (source: AsyncIterable<Buffer>) => {
          for await (const chunk of source) {
            const lines = (carry + chunk.toString("utf8")).split("\n")
            carry = lines.pop()!
            for (const line of lines) if (CREATE_TABLE.test(line)) tables++
          }
        })
        return tables + (CREATE_TABLE.test(carry) ? 1 : 0)
      },
      catch: (cause) => new BackupCorrupt({ file, reason: (cause as Error).message })
    })
  })
