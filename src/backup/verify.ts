/**
 * Verifying a backup: its manifest's signature (origin), checksum, key, that it is a dump,
 * authenticated decryption, full decompression through dbkit's own reader and size — and, with
 * a restore test, a load into a scratch database whose row counts must match the manifest's.
 * A passed check is recorded beside a dbkit backup (FILE.verified.json).
 */
import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import { Database, NotSupportedOnEmbedded } from "../Database.js"
import * as Scratch from "../Scratch.js"
import type { VerifyResult } from "./Backup.js"
import type { BackupContext } from "./context.js"
import { backupKey } from "./crypto.js"
import { writeDurably } from "./durable.js"
import { BackupCorrupt, type VerifyError } from "./errors.js"
import * as Files from "./files.js"
import * as Load from "./load.js"
import type { Manifest } from "./manifest.js"
import { screenDump } from "./screen.js"
import { originOf } from "./signature.js"

/** Checks a backup file, then `restoreTest` if given; records a passed check beside a dbkit backup. */
const checkFile = <E, R>(
  file: string,
  restoreTest?: (
    file: string,
    manifest: Manifest,
    key: Redacted.Redacted<string> | undefined
  ) => Effect.Effect<{ readonly tables: number; readonly rows: number }, E, R>
): Effect.Effect<VerifyResult, VerifyError | E, Exclude<R, Scope.Scope>> =>
  Effect.scoped(
    Effect.gen(function*() {
      const { foreign, manifest } = yield* Files.inspect(file)
      const key = Option.getOrUndefined(yield* backupKey)
      const origin = yield* originOf(file, foreign ? undefined : manifest, key) // a forged manifest is refused first
      if (!foreign) yield* Files.checkChecksum(file, manifest)
      yield* Files.checkContent(file, manifest, key)
      // Read whole through dbkit's reader: a line it would refuse on restore fails verification.
      const { dumpBytes } = yield* screenDump(file, manifest, key)
      if (!foreign && dumpBytes !== manifest.sizes.dump) {
        return yield* new BackupCorrupt({
          file,
          reason: `decompressed to ${dumpBytes} bytes, the manifest says ${manifest.sizes.dump}`
        })
      }
      const tested = restoreTest ? yield* restoreTest(file, manifest, key) : null
      if (!foreign) {
        yield* Effect.sync(() =>
          writeDurably(
            `${file}.verified.json`,
            JSON.stringify({ at: new Date().toISOString(), restoreTest: tested !== null }) + "\n"
          )
        )
      }
      return {
        file,
        checksum: "ok",
        origin: origin.status,
        originReason: origin.reason,
        decrypted: manifest.encryption !== null,
        dumpBytes,
        restoreTest: tested
      } satisfies VerifyResult
    })
  )

/**
 * Checks a backup file without opening any database (checksum, key, authenticated decryption,
 * full decompression, size) and records the check; what `restore --validate-only` runs.
 */
export const verifyFile = (file: string): Effect.Effect<VerifyResult, VerifyError> => checkFile(file)

/**
 * Restores into a scratch database (dropped afterwards) and compares row counts with the
 * manifest: a new database on the server (dbkit's loader; pg_restore for custom archives), a
 * fresh in-memory PGlite on the embedded database (plain dumps only).
 */
const testRestore =
  ({ database, serverMajor, sql }: BackupContext) =>
  (file: string, manifest: Manifest, key: Redacted.Redacted<string> | undefined) =>
    Effect.gen(function*() {
      const scratch = yield* Scratch.make("dbkit_restore_test").pipe(
        Effect.provideService(SqlClient.SqlClient, sql),
        Effect.provideService(Database, database)
      )
      if (Option.isNone(scratch.url)) {
        return yield* Effect.flatMap(Database, (embedded) =>
          Option.match(embedded.embeddedLoad, {
            onNone: () => Effect.fail(new NotSupportedOnEmbedded({ feature: "verify --restore-test" })),
            onSome: (load) =>
              Effect.flatMap(
                Load.loadEmbedded(load, file, manifest, key),
                (loaded) => Load.compareCounts(file, manifest, loaded)
              )
          })).pipe(Effect.provide(scratch.layer))
      }
      const loaded = yield* Load.loadDump(file, manifest, key, scratch.url.value, serverMajor)
      return yield* Load.compareCounts(file, manifest, loaded).pipe(Effect.provide(scratch.layer))
    })

/** Backup.verify: the file's checks, and with `restoreTest` a test restore. */
export const verify = (
  context: BackupContext,
  file: string,
  options: { readonly restoreTest?: boolean | undefined } = {}
) => checkFile(file, options.restoreTest === true ? testRestore(context) : undefined)
