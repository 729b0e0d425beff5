/**
 * The backups in a folder, read from their manifests: listed newest first, and pruned by the
 * retention rules (retention.ts) together with what killed backups and restores left
 * (leftovers.ts). Files only; a database is touched only to drop stale staging databases.
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as fs from "node:fs"
import * as path from "node:path"
import type { BackupListing, PruneOptions, PruneResult } from "./Backup.js"
import { InvalidBackupOptions } from "./errors.js"
import * as Leftovers from "./leftovers.js"
import type { Manifest } from "./manifest.js"
import { selectForPruning } from "./retention.js"

/** Backups in a directory, newest first (reads files only; no database). */
export const listBackups = (directory: string): Effect.Effect<ReadonlyArray<BackupListing>> =>
  Effect.sync(() => {
    if (!fs.existsSync(directory)) return []
    const listings: Array<BackupListing> = []
    for (const name of fs.readdirSync(directory)) {
      if (!name.endsWith(".json") || name.endsWith(".verified.json")) continue
      const file = path.join(directory, name.slice(0, -".json".length))
      if (!fs.existsSync(file)) continue
      try {
        const manifest = JSON.parse(fs.readFileSync(`${file}.json`, "utf8")) as Manifest
        const verifiedFile = `${file}.verified.json`
        listings.push({
          file,
          createdAt: manifest.createdAt,
          bytes: fs.statSync(file).size,
          database: manifest.database,
          environment: manifest.environment,
          encrypted: manifest.encryption !== null,
          format: manifest.format,
          verified: fs.existsSync(verifiedFile) ? JSON.parse(fs.readFileSync(verifiedFile, "utf8")) : null
        })
      } catch {
        // not a dbkit manifest: not ours to list
      }
    }
    return listings.sort((a, b) => b.createdAt.localeCompare(a.createdAt))
  })

/**
 * Deletes backups outside the retention rules (file, manifest, verification record); the newest
 * backup and the newest verified one are always kept. Leftovers go too: `.partial` files nobody
 * is writing, and — with `databaseUrl`, when the server answers — staging databases of killed
 * restores. Needs no database otherwise.
 */
export const pruneBackups = (
  options: PruneOptions & { readonly directory: string }
): Effect.Effect<PruneResult, InvalidBackupOptions> =>
  Effect.gen(function*() {
    if (options.keepLast === undefined && options.keepDays === undefined) {
      return yield* new InvalidBackupOptions({ reason: "say what to keep: --keep-last N and/or --keep-days D" })
    }
    if ((options.keepLast ?? 1) < 1) {
      return yield* new InvalidBackupOptions({
        reason: "--keep-last must be at least 1: the newest backup is always kept"
      })
    }
    if ((options.keepDays ?? 1) < 0) {
      return yield* new InvalidBackupOptions({ reason: "--keep-days must not be negative" })
    }
    const now = new Date()
    const { keep, prune: doomed } = selectForPruning(yield* listBackups(options.directory), options, now)
    const url = options.databaseUrl ?? Option.none()
    if (options.dryRun === true) {
      const found = yield* Leftovers.findLeftovers(options.directory, url, now)
      const leftovers: Leftovers.Removed = {
        partialFiles: found.partialFiles.map((f) => f.file),
        stagingDatabases: (found.stagingDatabases ?? []).map((d) => d.database)
      }
      return { kept: keep, pruned: doomed, leftoversRemoved: leftovers }
    }
    yield* Effect.sync(() => {
      for (const b of doomed) {
        for (const f of [b.file, `${b.file}.json`, `${b.file}.verified.json`]) fs.rmSync(f, { force: true })
      }
    })
    return {
      kept: keep,
      pruned: doomed,
      leftoversRemoved: yield* Leftovers.removeLeftovers(options.directory, url, now)
    }
  })
