/**
 * Handlers of `dbkit backup` and `dbkit backups list | verify | prune` (definitions in index.ts).
 */
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { Backup, listBackups, pruneBackups, verifyFile } from "../../backup/Backup.js"
import { DbConfig } from "../../Config.js"
import { BackupLive, ConfigLive } from "../live.js"
import { age, banner, bytes, duration, json, progress, table } from "../render.js"

/** `dbkit backup`. */
export const backup = (options: {
  readonly format: "plain" | "custom"
  readonly compress: number
  readonly schemaOnly: boolean
  readonly dataOnly: boolean
  readonly excludeTable: ReadonlyArray<string>
  readonly out: Option.Option<string>
  readonly json: boolean
}) =>
  Effect.gen(function*() {
    const service = yield* Backup
    yield* banner("backup")
    const meter = progress("backing up", !options.json)
    const result = yield* service.backup({
      format: options.format,
      compress: options.compress,
      schemaOnly: options.schemaOnly,
      dataOnly: options.dataOnly,
      excludeTable: options.excludeTable,
      out: Option.getOrUndefined(options.out),
      onProgress: meter.update
    }).pipe(Effect.ensuring(Effect.sync(meter.done)))
    if (options.json) return yield* json(result)
    const m = result.manifest
    const rows = Object.values(m.tables).reduce((sum, n) => sum + n, 0)
    yield* Console.log(`${result.file}`)
    yield* Console.log(
      `  ${bytes(m.sizes.file)} (${bytes(m.sizes.dump)} of SQL), ${Object.keys(m.tables).length} tables, ${rows.toLocaleString("en-US")} rows, ` +
        `${m.encryption ? `encrypted (key ${m.encryption.keyFingerprint})` : "not encrypted"}, ${duration(result.durationMs)}`
    )
    yield* Console.log(`  manifest ${result.manifestFile}`)
  }).pipe(Effect.provide(BackupLive))

// Listing, pruning and checking files need no database (only verify --restore-test does).

/** `dbkit backups list`. */
export const list = (options: { readonly dir: Option.Option<string>; readonly json: boolean }) =>
  Effect.gen(function*() {
    const config = yield* DbConfig
    const backups = yield* listBackups(Option.getOrElse(options.dir, () => config.backupDir))
    if (options.json) return yield* json(backups)
    if (backups.length === 0) return yield* Console.log("no backups")
    const now = Date.now()
    yield* Console.log(table(
      ["file", "created (UTC)", "age", "size", "encrypted", "verified"],
      backups.map((b) => [
        b.file.split("/").pop() ?? b.file,
        b.createdAt.replace("T", " ").replace(/\.\d+Z$/, ""),
        age(now - Date.parse(b.createdAt)),
        bytes(b.bytes),
        b.encrypted ? "yes" : "no",
        b.verified ? `${b.verified.at.slice(0, 10)}${b.verified.restoreTest ? " (restore-tested)" : ""}` : "never"
      ])
    ))
  }).pipe(Effect.provide(ConfigLive))

/** `dbkit backups verify FILE`. */
export const verify = (options: { readonly file: string; readonly restoreTest: boolean; readonly json: boolean }) =>
  Effect.gen(function*() {
    // Only a test restore needs a database; the checks of the file itself need none.
    const result = options.restoreTest
      ? yield* Effect.flatMap(Backup, (service) => service.verify(options.file, { restoreTest: true })).pipe(Effect.provide(BackupLive))
      : yield* verifyFile(options.file)
    if (options.json) return yield* json(result)
    yield* Console.log(
      `${options.file}: checksum ok, ${result.decrypted ? "decrypted and authenticated, " : ""}${bytes(result.dumpBytes)} of SQL` +
        (result.restoreTest ? `, test restore matched the manifest (${result.restoreTest.tables} tables, ${result.restoreTest.rows.toLocaleString("en-US")} rows)` : "")
    )
  })

/** `dbkit backups prune`. */
export const prune = (options: {
  readonly keepLast: Option.Option<number>
  readonly keepDays: Option.Option<number>
  readonly dryRun: boolean
  readonly dir: Option.Option<string>
  readonly json: boolean
}) =>
  Effect.gen(function*() {
    const config = yield* DbConfig
    const result = yield* pruneBackups({
      keepLast: Option.getOrUndefined(options.keepLast),
      keepDays: Option.getOrUndefined(options.keepDays),
      dryRun: options.dryRun,
      directory: Option.getOrElse(options.dir, () => config.backupDir)
    })
    if (options.json) return yield* json(result)
    for (const b of result.pruned) yield* Console.log(`  ${options.dryRun ? "would delete" : "deleted"} ${b.file}`)
    yield* Console.log(`${result.pruned.length} ${options.dryRun ? "would be " : ""}pruned, ${result.kept.length} kept (the newest verified backup is always kept)`)
  }).pipe(Effect.provide(ConfigLive))
