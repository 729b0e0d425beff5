/**
 * Restore: puts a verified backup back into a database. Every restore verifies the file first
 * (checksum, key, authenticated decryption, full decompression) and refuses a bad one before
 * any database is touched.
 *
 * `into` restores into a new database: created, loaded in one transaction that stops at the
 * first error, and its row counts compared with the manifest; on any failure the new database
 * is dropped again, so nothing is left behind. (Restoring over an existing database, guarded and
 * swapped atomically, comes next.)
 */
import type * as CommandExecutor from "@effect/platform/CommandExecutor"
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Config from "effect/Config"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import { type ConnectError, Database, NotSupportedOnEmbedded, PgLive } from "../Database.js"
import type * as PgTools from "../PgTools.js"
import { siblingUrl } from "../Scratch.js"
import { Backup, type VerifyResult } from "./Backup.js"
import type { VerifyError } from "./errors.js"
import * as Files from "./files.js"
import * as Load from "./load.js"

/** The database to restore into already exists (restore --into only creates new ones). */
export class RestoreTargetExists extends Data.TaggedError("RestoreTargetExists")<{ readonly database: string }> {
  override get message() {
    return `database ${this.database} already exists; --into restores into a new database (pick another name, or drop it first)`
  }
}

/** Not a name PostgreSQL would take unquoted. */
export class InvalidDatabaseName extends Data.TaggedError("InvalidDatabaseName")<{ readonly name: string }> {
  override get message() {
    return `"${this.name}" is not a valid database name: use letters, digits and underscores, starting with a letter or underscore, at most 63 characters`
  }
}

export interface RestoreResult {
  readonly file: string
  readonly database: string
  readonly tables: number
  readonly rows: number
}

export type RestoreError =
  | VerifyError
  | RestoreTargetExists
  | InvalidDatabaseName
  | NotSupportedOnEmbedded
  | PgTools.PgToolFailed
  | PgTools.PgToolMissing
  | ConnectError
  | SqlError

/** The Restore service. */
export class Restore extends Context.Tag("dbkit/Restore")<Restore, {
  /** Verifies a backup without touching any database (`restore --validate-only`). */
  readonly validate: (file: string) => Effect.Effect<VerifyResult, RestoreError>
  /** Restores into a new database on the same server; leaves nothing behind on failure. */
  readonly into: (file: string, database: string) => Effect.Effect<RestoreResult, RestoreError>
}>() {}

const NAME = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/

const make = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const database = yield* Database
  const backup = yield* Backup
  const executor = yield* Effect.context<CommandExecutor.CommandExecutor>()

  const validate = (file: string) => backup.verify(file)

  const into = (file: string, name: string) =>
    Effect.scoped(
      Effect.gen(function*() {
        if (!NAME.test(name)) return yield* new InvalidDatabaseName({ name })
        const url = yield* Option.match(database.url, {
          onNone: () => Effect.fail(new NotSupportedOnEmbedded({ feature: "restore --into" })),
          onSome: Effect.succeed
        })
        yield* backup.verify(file)
        const manifest = yield* Files.readManifest(file)
        const key = Option.getOrUndefined(
          yield* Config.option(Config.redacted("DB_BACKUP_KEY")).pipe(
            Effect.map(Option.filter((k) => Redacted.value(k) !== "")),
            Effect.orElseSucceed(() => Option.none<Redacted.Redacted<string>>())
          )
        )
        const [exists] = yield* sql<{ e: boolean }>`SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = ${name}) AS e`
        if (exists?.e) return yield* new RestoreTargetExists({ database: name })
        yield* sql.unsafe(`CREATE DATABASE "${name}"`)
        const target = siblingUrl(url, name)
        const restored = Effect.gen(function*() {
          yield* Load.loadDump(file, manifest, key, target).pipe(Effect.provide(executor))
          return yield* Load.compareCounts(file, manifest).pipe(
            Effect.provide(PgLive({ url: target, poolSize: 1, applicationName: "dbkit-restore" }))
          )
        })
        const counts = yield* restored.pipe(
          Effect.tapErrorCause(() => Effect.ignore(sql.unsafe(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`)))
        )
        return { file, database: name, ...counts } satisfies RestoreResult
      })
    )

  return Restore.of({ validate, into })
})

/** The Restore service (uses Backup's verification; pg tools run as child processes). */
export const layer: Layer.Layer<Restore, never, SqlClient.SqlClient | Database | Backup | CommandExecutor.CommandExecutor> =
  Layer.effect(Restore, make)
