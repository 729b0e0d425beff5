/**
 * Handler of `dbkit restore` (definition in index.ts).
 */
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { Backup, InvalidBackupOptions } from "../../backup/Backup.js"
import { Restore, type RestoreProgress, validateFile } from "../../backup/Restore.js"
import { BackupLive, GuardLive, RestoreLive } from "../live.js"
import type { Parsed } from "../options.js"
import { renderRestore } from "../pitr/render.js"
import { banner, bytes, json, progress } from "../render.js"
import type { restoreConfig } from "./index.js"

export const restore = (options: Parsed<typeof restoreConfig>) =>
  Effect.gen(function*() {
    if (options.physical) return yield* physical(options)
    if (Option.isNone(options.file)) {
      return yield* new InvalidBackupOptions({
        reason: "name the backup file to restore, or pass --physical with --to-time, --to-lsn or --to-name"
      })
    }
    return yield* fromFile({ ...options, file: options.file.value })
  })

/** `restore --physical`: pgBackRest into a new data directory, guarded like every restore. */
const physical = (options: Parsed<typeof restoreConfig>) =>
  Effect.gen(function*() {
    const missing = Option.isNone(options.intoCluster)
      ? "--into-cluster PATH"
      : Option.isNone(options.port)
      ? "--port N"
      : undefined
    if (missing !== undefined || Option.isSome(options.file)) {
      return yield* new InvalidBackupOptions({
        reason: missing !== undefined
          ? `restore --physical needs ${missing}: it restores into a new data directory started on its own port`
          : "restore --physical takes no backup file: it restores from the pgBackRest repository"
      })
    }
    yield* banner("restore --physical")
    const result = yield* Effect.flatMap(Backup, (b) =>
      b.physical.restore({
        toTime: Option.getOrUndefined(options.toTime),
        toLsn: Option.getOrUndefined(options.toLsn),
        toName: Option.getOrUndefined(options.toName),
        into: Option.getOrThrow(options.intoCluster),
        port: Option.getOrThrow(options.port),
        expectSql: Option.getOrUndefined(options.expectSql),
        yes: options.yes
      }))
    if (options.json) return yield* json(result)
    yield* renderRestore(result)
  }).pipe(Effect.provide(BackupLive), Effect.provide(GuardLive))

const fromFile = (options: Omit<Parsed<typeof restoreConfig>, "file"> & { readonly file: string }) =>
  options.validateOnly
    ? Effect.gen(function*() {
      const result = yield* validateFile(options.file)
      if (options.json) return yield* json(result)
      return yield* Console.log(
        `${options.file}: valid (${bytes(result.dumpBytes)} of SQL${
          result.decrypted ? ", decrypted and authenticated" : ""
        }), ` +
          `${
            result.origin === "signed"
              ? "signed"
              : `unverified origin (${result.originReason}): restoring it needs --trust-unsigned`
          }; no database was touched`
      )
    })
    : Effect.gen(function*() {
      const service = yield* Restore
      // On a terminal: SQL loaded so far and how much of the file that is.
      const meter = progress("restoring", !options.json)
      const onProgress = meter.enabled
        ? (p: RestoreProgress) =>
          meter.update(
            p.dumpBytes,
            `of SQL, ${p.fileSize === 0 ? 100 : Math.floor((100 * p.fileBytes) / p.fileSize)}% of the file`
          )
        : undefined
      const done = Effect.ensuring(Effect.sync(meter.done))
      if (Option.isSome(options.into)) {
        yield* banner(`restore --into ${options.into.value}`)
        const result = yield* service.into(options.file, options.into.value, {
          onProgress,
          trustUnsigned: options.trustUnsigned
        }).pipe(done)
        if (options.json) return yield* json(result)
        yield* Console.log(
          `restored into ${result.database}: ${result.tables} tables, ${result.rows.toLocaleString("en-US")} rows, ${
            checked(result.countsChecked)
          }`
        )
        return yield* skipped(result.skippedSettings)
      }
      yield* banner("restore")
      const result = yield* service.over(options.file, {
        yes: options.yes,
        safetyBackup: !options.noSafetyBackup,
        terminateConnections: options.terminateConnections,
        trustUnsigned: options.trustUnsigned,
        allowEmpty: options.allowEmpty,
        onProgress
      }).pipe(done)
      if (options.json) return yield* json(result)
      yield* Console.log(
        `restored ${result.database} from ${options.file}: ${result.tables} tables, ${
          result.rows.toLocaleString("en-US")
        } rows, ${checked(result.countsChecked)}`
      )
      if (result.safetyBackup) yield* Console.log(`  the replaced database was backed up to ${result.safetyBackup}`)
      if (result.previous) {
        yield* Console.log(`  the replaced database is kept as ${result.previous} (drop it when you are sure)`)
      }
      for (const d of result.leftoversRemoved.stagingDatabases) {
        yield* Console.log(`  dropped ${d}, a staging database an interrupted restore left`)
      }
      for (const f of result.leftoversRemoved.partialFiles) {
        yield* Console.log(`  deleted ${f}, a backup an interrupted run left unfinished`)
      }
      yield* skipped(result.skippedSettings)
      if (result.rolesCreated.length > 0) {
        yield* Console.log(
          `  created the missing role(s) ${result.rolesCreated.join(", ")} (NOLOGIN) that the backup grants to`
        )
      }
    }).pipe(Effect.provide(RestoreLive), Effect.provide(GuardLive))

/** Settings of a newer pg_dump this server does not have, left out (harmless ones only). */
const skipped = (settings: ReadonlyArray<string> | undefined) =>
  settings === undefined || settings.length === 0
    ? Effect.void
    : Console.log(
      `  left out ${
        settings.join(", ")
      }: the dump was written by a newer pg_dump and this server does not have it (harmless)`
    )

const checked = (countsChecked: boolean) =>
  countsChecked ? "counts match the manifest" : "no manifest to compare the counts with (a file from plain pg_dump)"
