/**
 * Handlers of `dbkit pitr setup | point` (definitions in index.ts).
 */
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import { Backup } from "../../backup/Backup.js"
import { BackupLive } from "../live.js"
import type { Parsed } from "../options.js"
import { json } from "../render.js"
import type { pointConfig, setupConfig } from "./index.js"

/** `dbkit pitr setup`. */
export const setup = (options: Parsed<typeof setupConfig>) =>
  Effect.gen(function*() {
    const result = yield* Effect.flatMap(Backup, (b) => b.physical.setup())
    if (options.json) return yield* json(result)
    for (const change of result.applied) {
      yield* Console.log(`set ${change.setting} = '${change.wanted}' (was '${change.current}') and reloaded`)
    }
    yield* Console.log(
      `stanza ${result.stanza} ready: wal_level ${result.settings.walLevel}, archive_mode ${result.settings.archiveMode}, ` +
        "archiving checked (a WAL segment reached the repository)"
    )
  }).pipe(Effect.provide(BackupLive))

/** `dbkit pitr point NAME`. */
export const point = (options: Parsed<typeof pointConfig>) =>
  Effect.gen(function*() {
    const result = yield* Effect.flatMap(Backup, (b) => b.physical.point(options.name))
    if (options.json) return yield* json(result)
    yield* Console.log(
      `restore point ${result.name} at ${result.lsn} (${result.createdAt}); recover to it with ` +
        `\`dbkit restore --physical --to-name ${result.name} --into-cluster PATH --port N\``
    )
  }).pipe(Effect.provide(BackupLive))
