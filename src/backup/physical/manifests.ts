/**
 * The physical backups dbkit recorded: the configured stanza's `<stanza>_<label>.pgbackrest.json`
 * manifests in the backup folder, newest first. Read-only; a file that is not a manifest of this
 * stanza (unreadable, not JSON, another kind) is skipped, never fatal.
 */
import * as Config from "effect/Config"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
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

/** The stanza's manifests in `backupDir`, newest first (none when the folder does not exist). */
export const list = (backupDir: string, stanza: string): Effect.Effect<ReadonlyArray<PhysicalManifest>> =>
  Effect.sync(() => {
    const names = fs.existsSync(backupDir) ? fs.readdirSync(backupDir) : []
    return names
      .filter((name) => name.startsWith(`${stanza}_`) && name.endsWith(suffix))
      .flatMap((name) => readManifest(path.join(backupDir, name), stanza) ?? [])
      .sort((a, b) => Date.parse(b.stop.time) - Date.parse(a.stop.time))
  })

/**
 * The configured stanza's manifests, or null when DBKIT_PGBACKREST_STANZA is unset (physical
 * backups are not in use); other settings that cannot be used fail as everywhere else.
 */
export const configured = (backupDir: string): Effect.Effect<PhysicalBackups | null, PitrNotConfigured> =>
  Effect.gen(function*() {
    const stanza = yield* Config.option(Config.string("DBKIT_PGBACKREST_STANZA")).pipe(
      Effect.orElseSucceed(() => Option.none<string>())
    )
    if (Option.isNone(stanza) || stanza.value.trim() === "") return null
    const settings = yield* Settings.fromEnvironment
    return { stanza: settings.stanza, backupDir, manifests: yield* list(backupDir, settings.stanza) }
  })
