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
import type { InvalidBackupOptions } from "./errors.js"
import * as Leftovers from "./leftovers.js"
import type { Manifest } from "./manifest.js"
import type { PhysicalManifest } from "./physical/backup.js"
import type { PitrNotConfigured } from "./physical/errors.js"
import { physicalHome } from "./physical/home.js"
import * as PhysicalManifests from "./physical/manifests.js"
import { checkRules, selectForPruning } from "./retention.js"

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

/** A backup as `backups list` shows it: a logical one, or a physical one from its dbkit manifest. */
export type ListedBackup =
  | (BackupListing & { readonly kind: "logical" })
  | (PhysicalManifest & { readonly file: string })

/** When a listed backup was made, to sort by: a logical one's manifest time, a physical one's stop time and label. */
const createdOf = (b: ListedBackup) => b.kind === "logical" ? b.createdAt : `${b.stop.time} ${b.label}`

/**
 * The logical backups in `directory` and, when a pgBackRest stanza is configured, its physical
 * ones from their manifests (in the stanza's home, physical/home.ts), newest first.
 */
export const listAllBackups = (
  directory: string,
  environment: string
): Effect.Effect<ReadonlyArray<ListedBackup>, PitrNotConfigured> =>
  Effect.gen(function*() {
    const logical = yield* listBackups(directory)
    const home = physicalHome(directory, environment)
    const physical = (yield* PhysicalManifests.configured(home, environment))?.manifests ?? []
    return [
      ...logical.map((b) => ({ ...b, kind: "logical" as const })),
      ...physical.map((m) => ({ ...m, file: path.join(home, PhysicalManifests.fileName(m.stanza, m.label)) }))
    ].sort((a, b) => createdOf(b).localeCompare(createdOf(a)))
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
    yield* checkRules(options)
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
