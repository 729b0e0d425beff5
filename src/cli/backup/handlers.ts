/**
 * Handlers of `dbkit backup` and `dbkit backups list | verify | prune` (definitions in index.ts).
 */
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { Backup, InvalidBackupOptions, pruneBackups, verifyFile } from "../../backup/Backup.js"
import * as Leftovers from "../../backup/leftovers.js"
import { listAllBackups } from "../../backup/listing.js"
import { verifyConfigured } from "../../backup/physical/backup.js"
import { physicalHome } from "../../backup/physical/home.js"
import { pruneConfigured } from "../../backup/physical/prune.js"
import { DbConfig } from "../../Config.js"
import { Guard } from "../../Guard.js"
import { BackupLive, ConfigLive, GuardLive } from "../live.js"
import type { Parsed } from "../options.js"
import { renderBackup } from "../pitr/render.js"
import { age, banner, bytes, duration, json, percentProgress, progress, table } from "../render.js"
import type { backupConfig, listConfig, pruneConfig, verifyConfig } from "./index.js"

/** `dbkit backup`. */
export const backup = (options: Parsed<typeof backupConfig>) =>
  Effect.gen(function*() {
    const service = yield* Backup
    yield* banner("backup")
    if (options.physical) {
      const meter = percentProgress("backing up (pgBackRest)", !options.json)
      const physical = yield* service.physical.backup({
        type: options.type,
        onProgress: meter.enabled ? meter.update : undefined
      }).pipe(Effect.ensuring(Effect.sync(meter.done)))
      if (options.json) return yield* json(physical)
      return yield* renderBackup(physical)
    }
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
      `  ${bytes(m.sizes.file)} (${bytes(m.sizes.dump)} of SQL), ${Object.keys(m.tables).length} tables, ${
        rows.toLocaleString("en-US")
      } rows, ` +
        `${m.encryption ? `encrypted (key ${m.encryption.keyFingerprint})` : "not encrypted"}, ` +
        `${m.signature ? `manifest signed (key id ${m.signature.key})` : "manifest not signed"}, ${
          duration(result.durationMs)
        }`
    )
    yield* Console.log(`  manifest ${result.manifestFile}`)
    for (const f of result.leftoversRemoved) {
      yield* Console.log(`  deleted ${f}, a backup an interrupted run left unfinished`)
    }
  }).pipe(Effect.provide(BackupLive))

// Listing, pruning and checking files need no database (only verify --restore-test does).

/** `dbkit backups list`. */
export const list = (options: Parsed<typeof listConfig>) =>
  Effect.gen(function*() {
    const config = yield* DbConfig
    const directory = Option.getOrElse(options.dir, () => config.backupDir)
    // With pgBackRest's backups as dbkit recorded them, when a stanza is configured.
    const backups = yield* listAllBackups(directory, config.environment)
    // What killed backups and restores left: files always, staging databases when the server answers.
    const found = yield* Leftovers.findLeftovers(directory, config.databaseUrl)
    const leftovers = [
      ...found.partialFiles.map((f) => ({
        leftover: "partial file" as const,
        file: f.file,
        createdAt: f.modifiedAt,
        bytes: f.bytes
      })),
      ...(found.stagingDatabases ?? []).map((d) => ({
        leftover: "staging database" as const,
        database: d.database,
        createdAt: d.createdAt
      }))
    ]
    if (options.json) return yield* json([...backups, ...leftovers])
    if (backups.length === 0 && leftovers.length === 0) return yield* Console.log("no backups")
    const now = Date.now()
    const when = (iso: string) => iso.replace("T", " ").replace(/\.\d+Z$/, "").replace(/Z$/, "")
    yield* Console.log(table(
      ["kind", "file", "created (UTC)", "age", "size", "encrypted", "verified"],
      [
        ...backups.map((b) =>
          b.kind === "logical"
            ? [
              "logical",
              b.file.split("/").pop() ?? b.file,
              when(b.createdAt),
              age(now - Date.parse(b.createdAt)),
              bytes(b.bytes),
              b.encrypted ? "yes" : "no",
              b.verified ? `${b.verified.at.slice(0, 10)}${b.verified.restoreTest ? " (restore-tested)" : ""}` : "never"
            ]
            : [
              `physical ${b.type}`,
              `${b.stanza} ${b.label}`,
              when(b.stop.time),
              age(now - Date.parse(b.stop.time)),
              // What the backup added to the repository (a full one: all of it).
              bytes(b.sizes.repositoryDelta),
              b.encryption ? "yes" : "no",
              "backups verify --physical"
            ]
        ),
        ...leftovers.map((l) => [
          "",
          "file" in l ? l.file.split("/").pop() ?? l.file : `database ${l.database}`,
          when(l.createdAt),
          age(now - Date.parse(l.createdAt)),
          "bytes" in l ? bytes(l.bytes) : "",
          "",
          `LEFTOVER ${l.leftover}`
        ])
      ]
    ))
    if (leftovers.length > 0) {
      yield* Console.log(
        `${leftovers.length} leftover(s) of killed backups or restores: \`dbkit backups prune\` removes them`
      )
    }
  }).pipe(Effect.provide(ConfigLive))

/** `dbkit backups verify FILE`. */
export const verify = (options: Parsed<typeof verifyConfig>) =>
  Effect.gen(function*() {
    if (options.physical || Option.isNone(options.file)) {
      if (!options.physical || Option.isSome(options.file)) {
        return yield* new InvalidBackupOptions({
          reason: options.physical
            ? "backups verify --physical checks the pgBackRest repository and takes no file"
            : "name the backup file to verify, or pass --physical for the pgBackRest repository"
        })
      }
      // pgBackRest checks its repository: no database is opened.
      const physical = yield* verifyConfigured()
      if (options.json) return yield* json(physical)
      return yield* Console.log(
        `pgBackRest repository of stanza ${physical.stanza}: every file matches its checksum (${physical.backups} backup(s))`
      )
    }
    const file = options.file.value
    // Only a test restore needs a database; the checks of the file itself need none.
    const result = options.restoreTest
      ? yield* Effect.flatMap(Backup, (service) => service.verify(file, { restoreTest: true })).pipe(
        Effect.provide(BackupLive)
      )
      : yield* verifyFile(file)
    if (options.json) return yield* json(result)
    // "checksum ok" only where a signed manifest vouches for the checksum.
    const origin = result.origin === "signed"
      ? "signed, checksum ok"
      : `unverified origin (${result.originReason}), read through`
    yield* Console.log(
      `${file}: ${origin}, ${result.decrypted ? "decrypted and authenticated, " : ""}${
        bytes(result.dumpBytes)
      } of SQL` +
        (result.restoreTest
          ? `, test restore matched the manifest (${result.restoreTest.tables} tables, ${
            result.restoreTest.rows.toLocaleString("en-US")
          } rows)`
          : "")
    )
  })

/** `dbkit backups prune`. */
export const prune = (options: Parsed<typeof pruneConfig>) =>
  Effect.gen(function*() {
    const config = yield* DbConfig
    const directory = Option.getOrElse(options.dir, () => config.backupDir)
    const rules = {
      keepLast: Option.getOrUndefined(options.keepLast),
      keepDays: Option.getOrUndefined(options.keepDays),
      dryRun: options.dryRun
    }
    // The same rules for pgBackRest's backups (`pgbackrest expire`) when a stanza is configured.
    const prune = Effect.all({
      logical: pruneBackups({ ...rules, directory, databaseUrl: config.databaseUrl }),
      // `--dir` names a folder of logical backups: the repository is not in it, and is left alone.
      physical: Option.isSome(options.dir)
        ? Effect.succeed(null)
        : pruneConfigured(physicalHome(directory, config.environment), { ...rules, environment: config.environment })
    })
    // Deleting production's backups is as destructive as a reset: DB_PRUNE_CONFIRM / --yes and DB_PRUNE_ALLOW_PRODUCTION.
    const confirmed = config.environment === "production" && !options.dryRun
      ? Effect.zipRight(
        Effect.flatMap(Guard, (guard) =>
          guard.confirm({ action: "delete backups", variable: "DB_PRUNE", target: directory, yes: options.yes })),
        prune
      ).pipe(Effect.provide(GuardLive))
      : prune
    const { logical: result, physical } = yield* confirmed
    if (options.json) {
      return yield* json({ ...result, physical })
    }
    const verb = options.dryRun ? "would delete" : "deleted"
    for (const b of result.pruned) {
      yield* Console.log(`  ${verb} ${b.file}`)
    }
    for (const f of result.leftoversRemoved.partialFiles) {
      yield* Console.log(`  ${verb} leftover ${f}`)
    }
    for (const d of result.leftoversRemoved.stagingDatabases) {
      yield* Console.log(`  ${options.dryRun ? "would drop" : "dropped"} leftover staging database ${d}`)
    }
    yield* Console.log(
      `${result.pruned.length} ${
        options.dryRun ? "would be " : ""
      }pruned, ${result.kept.length} kept (the newest backup and the newest verified one are always kept)`
    )
    if (physical !== null) {
      for (const label of physical.expired) {
        yield* Console.log(`  ${verb} pgBackRest backup ${label}`)
      }
      for (const file of physical.manifestsRemoved) {
        yield* Console.log(`  ${verb} manifest ${file}`)
      }
      yield* Console.log(
        `pgBackRest stanza ${physical.stanza}: ${physical.expired.length} backup(s) ${
          options.dryRun ? "would be " : ""
        }expired, ${physical.kept.length} kept (retention ${physical.retention.type} ${physical.retention.full}${
          physical.retention.type === "time" ? " days" : " full backups"
        })`
      )
    }
  }).pipe(Effect.provide(ConfigLive))
