/**
 * `dbkit backup`: write a compressed, checksummed (and with DB_BACKUP_KEY, encrypted) backup
 * and its manifest; `dbkit backups list` and `dbkit backups verify FILE`.
 */
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { Backup, listBackups, pruneBackups, verifyFile } from "../../backup/Backup.js"
import { DbConfig } from "../../Config.js"
import { BackupLive, ConfigLive } from "../live.js"
import { age, banner, bytes, duration, json, progress, table } from "../render.js"
import { jsonOption } from "../shared.js"

/** `dbkit backup`. */
export const backup = Command.make(
  "backup",
  {
    format: Options.choice("format", ["plain", "custom"]).pipe(Options.withDefault("plain" as const), Options.withDescription("plain SQL (gzip) or pg_dump's custom format")),
    compress: Options.integer("compress").pipe(Options.withDefault(6), Options.withDescription("Compression level 0-9")),
    schemaOnly: Options.boolean("schema-only").pipe(Options.withDescription("Only the schema, no data")),
    dataOnly: Options.boolean("data-only").pipe(Options.withDescription("Only the data, no schema")),
    excludeTable: Options.text("exclude-table").pipe(Options.repeated, Options.withDescription("Leave this table out (repeatable; pg_dump patterns)")),
    out: Options.directory("out").pipe(Options.optional, Options.withDescription("Directory to write to (default DBKIT_BACKUP_DIR, ./backups)")),
    json: jsonOption
  },
  (options) =>
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
).pipe(Command.withDescription("Back up the database: pg_dump → gzip → AES-256-GCM (with DB_BACKUP_KEY) → file (0600) + manifest"))

const list = Command.make(
  "list",
  { dir: Options.directory("dir").pipe(Options.optional, Options.withDescription("Directory (default DBKIT_BACKUP_DIR)")), json: jsonOption },
  (options) =>
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
    })
).pipe(Command.withDescription("List backups, newest first, with size, age and when each was last verified"))

const verify = Command.make(
  "verify",
  {
    file: Args.file({ name: "file", exists: "yes" }).pipe(Args.withDescription("The backup file (its manifest is FILE.json)")),
    restoreTest: Options.boolean("restore-test").pipe(Options.withDescription("Also restore into a scratch database and compare row counts with the manifest")),
    json: jsonOption
  },
  (options) =>
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
).pipe(Command.withDescription("Check a backup: checksum, key, authenticated decryption, full decompression; --restore-test restores it into a scratch database"))

const prune = Command.make(
  "prune",
  {
    keepLast: Options.integer("keep-last").pipe(Options.optional, Options.withDescription("Keep the newest N backups")),
    keepDays: Options.integer("keep-days").pipe(Options.optional, Options.withDescription("Keep backups younger than D days")),
    dryRun: Options.boolean("dry-run").pipe(Options.withDescription("Show what would be deleted, delete nothing")),
    dir: Options.directory("dir").pipe(Options.optional, Options.withDescription("Directory (default DBKIT_BACKUP_DIR)")),
    json: jsonOption
  },
  (options) =>
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
    })
).pipe(Command.withDescription("Delete backups outside --keep-last N / --keep-days D; never the newest verified one; --dry-run first"))

/** `dbkit backups`. */
export const backups = Command.make("backups").pipe(
  Command.withDescription("Inspect and check backups"),
  // Listing, pruning and checking files need no database (only verify --restore-test does).
  Command.withSubcommands([list.pipe(Command.provide(ConfigLive)), verify, prune.pipe(Command.provide(ConfigLive))])
)
