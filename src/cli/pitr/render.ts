/**
 * What `dbkit backup --physical` and `dbkit restore --physical` print for humans.
 */
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import type { PhysicalBackupResult, PhysicalRestoreResult } from "../../backup/physical/Physical.js"
import { bytes, duration } from "../render.js"

/** What `backup --physical` prints. */
export const renderBackup = (result: PhysicalBackupResult) => {
  const m = result.manifest
  return Effect.zipRight(
    Console.log(`pgBackRest ${m.type} backup ${m.label} (stanza ${m.stanza})`),
    Console.log(
      `  ${bytes(m.sizes.database)} database, ${bytes(m.sizes.repositoryDelta)} added to the repository, ` +
        `WAL ${m.start.lsn ?? "?"} – ${m.stop.lsn ?? "?"}, ` +
        `${m.encryption ? `encrypted (${m.encryption.cipher})` : "not encrypted"}, ${duration(result.durationMs)}\n` +
        `  manifest ${result.manifestFile}`
    )
  )
}

/** What `restore --physical` prints. */
export const renderRestore = (result: PhysicalRestoreResult) =>
  Console.log(
    `restored backup ${result.backup} into ${result.dataDir}, running on port ${result.port} (${result.target})\n` +
      `  recovered to ${result.recoveryTarget.type} ${result.recoveryTarget.value}: last transaction ${
        result.reached.time ?? "none replayed"
      }, LSN ${result.reached.lsn ?? "?"}, timeline ${result.reached.timeline}` +
      (result.reached.stop === null ? "" : `\n  the server: ${result.reached.stop}`) +
      (result.expect === null ? "" : `\n  expected state holds: \`${result.expect.sql}\` → ${result.expect.value}`) +
      `\n  the running database was not touched; stop the copy with pg_ctl -D ${result.dataDir} stop`
  )
