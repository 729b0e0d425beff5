/**
 * `pitr setup`: what the server needs for WAL archiving into pgBackRest, checked over SQL
 * (`wal_level`, `archive_mode`, `archive_command`); the one setting a superuser can change
 * without a restart (archive_command) is changed with ALTER SYSTEM and a reload, the others are
 * reported with exactly where to set them. Then `stanza-create` and `check`. Idempotent: a
 * second run changes nothing and pgBackRest's commands accept an existing stanza.
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Effect from "effect/Effect"
import type * as PgTools from "../../PgTools.js"
import { PitrServerNotReady, type RequiredChange } from "./errors.js"
import { pgbackrest } from "./run.js"
import { archiveCommand, type PitrSettings } from "./settings.js"

/** The server's archiving settings, as read (null: not readable by this role). */
export interface ArchivingSettings {
  readonly walLevel: string
  readonly archiveMode: string
  readonly archiveCommand: string | null
}

export interface SetupResult {
  readonly stanza: string
  readonly settings: ArchivingSettings
  /** Changes dbkit made itself (ALTER SYSTEM + reload). */
  readonly applied: ReadonlyArray<RequiredChange>
  /** `pgbackrest check` passed: a WAL segment went from the server into the repository. */
  readonly checked: true
}

/** Whether an archive_command pushes into this stanza through pgBackRest. */
const pushesToStanza = (command: string, settings: PitrSettings) =>
  /\bpgbackrest\b/.test(command) && command.includes("archive-push") &&
  command.split(/\s+/).includes(`--stanza=${settings.stanza}`)

/**
 * What has to change, in two kinds: `restart` (postgresql.conf, then a restart: dbkit never
 * restarts a server) and `reload` (archive_command: ALTER SYSTEM and a reload do).
 */
export const plan = (
  current: ArchivingSettings,
  settings: PitrSettings
): { readonly restart: ReadonlyArray<RequiredChange>; readonly reload: ReadonlyArray<RequiredChange> } => {
  const where = "postgresql.conf (or your provider's parameter group), then restart the server"
  const restart: Array<RequiredChange> = []
  if (current.walLevel !== "replica" && current.walLevel !== "logical") {
    restart.push({ setting: "wal_level", current: current.walLevel, wanted: "replica", where })
  }
  if (current.archiveMode !== "on" && current.archiveMode !== "always") {
    restart.push({ setting: "archive_mode", current: current.archiveMode, wanted: "on", where })
  }
  const wanted = archiveCommand(settings)
  const reload = current.archiveCommand !== null && pushesToStanza(current.archiveCommand, settings)
    ? []
    : [{
      setting: "archive_command",
      current: current.archiveCommand ?? "(not readable: needs superuser or pg_read_all_settings)",
      wanted,
      where: "ALTER SYSTEM SET archive_command = '…' as a superuser (or postgresql.conf), then reload"
    }]
  return { restart, reload }
}

const readSettings = (sql: SqlClient.SqlClient) =>
  Effect.gen(function*() {
    const rows = yield* sql<{ name: string; setting: string }>`
      SELECT name, setting FROM pg_settings WHERE name IN ('wal_level', 'archive_mode', 'archive_command')`
    const value = (name: string) => rows.find((r) => r.name === name)?.setting
    const [role] = yield* sql<{ superuser: boolean }>`
      SELECT rolsuper AS superuser FROM pg_roles WHERE rolname = current_user`
    return {
      settings: {
        walLevel: value("wal_level") ?? "unknown",
        archiveMode: value("archive_mode") ?? "unknown",
        archiveCommand: value("archive_command") ?? null
      } satisfies ArchivingSettings,
      superuser: role?.superuser === true
    }
  })

/** Checks and prepares the server and the repository (see the module comment). */
export const setup = (
  sql: SqlClient.SqlClient,
  settings: PitrSettings
): Effect.Effect<SetupResult, PitrServerNotReady | PgTools.PgToolFailed | PgTools.PgToolMissing | SqlError> =>
  Effect.gen(function*() {
    const { settings: current, superuser } = yield* readSettings(sql)
    const { reload, restart } = plan(current, settings)
    // Nothing is changed while a restart is still needed: the report lists everything at once.
    if (restart.length > 0 || (reload.length > 0 && !superuser)) {
      return yield* new PitrServerNotReady({ changes: [...restart, ...reload] })
    }
    for (const change of reload) {
      // The command is built from checked names and paths (no quotes); doubled anyway.
      yield* sql.unsafe(`ALTER SYSTEM SET archive_command = '${change.wanted.replace(/'/g, "''")}'`)
      yield* sql`SELECT pg_reload_conf()`
    }
    yield* pgbackrest(settings, "stanza-create")
    yield* pgbackrest(settings, "check")
    const after = reload.length === 0 ? current : { ...current, archiveCommand: archiveCommand(settings) }
    return { stanza: settings.stanza, settings: after, applied: reload, checked: true as const }
  })
