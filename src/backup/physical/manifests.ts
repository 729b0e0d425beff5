/**
 * The physical backups dbkit recorded: the configured stanza's `<stanza>_<label>.pgbackrest.json`
 * manifests in the backup folder, newest first. Read-only; a file that is not a manifest of this
 * stanza (unreadable, not JSON, another kind) is skipped, never fatal.
 */
import * as Effect from "effect/Effect"
import * as fs from "node:fs"
import * as path from "node:path"
import type { PhysicalManifest } from "./backup.js"
import type { PitrNotConfigured } from "./errors.js"
import * as Settings from "./settings.js"

export interface PhysicalBackups {
  readonly stanza: string
  readonly backupDir: string
  /** Newest (by the backup's stop time) first. */
  readonly manifests: ReadonlyArray<PhysicalManifest>
}

const suffix = ".pgbackrest.json"

/** A manifest's file name in the stanza's home (home.ts). */
export const fileName = (stanza: string, label: string) => `${stanza}_${label}${suffix}`

const readManifest = (file: string, stanza: string): PhysicalManifest | undefined => {
  try {
    const parsed = JSON.parse(fs.readFileSync(file, "utf8")) as Partial<PhysicalManifest>
    return parsed.kind === "physical" && parsed.stanza === stanza && typeof parsed.stop?.time === "string"
      ? parsed as PhysicalManifest
      : undefined
  } catch {
    return undefined
  }
}

/**
 * The stanza's manifests in `backupDir`, newest first (none when the folder does not exist); with
 * `environment`, only that environment's — two environments may name their stanzas alike, in
 * repositories of their own, and one's records are not the other's.
 */
export const list = (
  backupDir: string,
  stanza: string,
  environment?: string
): Effect.Effect<ReadonlyArray<PhysicalManifest>> =>
  Effect.sync(() => {
    const names = fs.existsSync(backupDir) ? fs.readdirSync(backupDir) : []
    return names
      .filter((name) => name.startsWith(`${stanza}_`) && name.endsWith(suffix))
      .flatMap((name) => readManifest(path.join(backupDir, name), stanza) ?? [])
      .filter((manifest) => environment === undefined || manifest.environment === environment)
      // Labels order backups taken within the same second.
      .sort((a, b) => Date.parse(b.stop.time) - Date.parse(a.stop.time) || b.label.localeCompare(a.label))
  })

/**
 * The configured stanza's manifests in `backupDir` (its home, home.ts), or null when no stanza is named (physical
 * backups are not in use); other settings that cannot be used fail as everywhere else.
 */
export const configured = (
  backupDir: string,
  environment?: string
): Effect.Effect<PhysicalBackups | null, PitrNotConfigured> =>
  Effect.gen(function*() {
    if (!(yield* Settings.stanzaNamed())) return null
    const settings = yield* Settings.fromEnvironment
    return { stanza: settings.stanza, backupDir, manifests: yield* list(backupDir, settings.stanza, environment) }
  })
