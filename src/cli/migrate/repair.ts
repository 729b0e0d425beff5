/**
 * `dbkit migrate repair`: accept changed checksums and clear failed records, deliberately.
 */
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import { Migrator } from "../../migrator/Migrator.js"
import { banner, json } from "../render.js"
import { MigratorLive } from "./live.js"

export const repair = (options: { readonly markApplied: ReadonlyArray<string>; readonly json: boolean }) =>
  Effect.gen(function*() {
    const migrator = yield* Migrator
    yield* banner("migrate repair")
    const result = yield* migrator.repair({ markApplied: options.markApplied })
    if (options.json) return yield* json(result)
    for (const name of result.checksumsAccepted) yield* Console.log(`  checksum accepted: ${name}`)
    for (const name of result.cleared) yield* Console.log(`  failed record cleared (will run again): ${name}`)
    for (const name of result.markedApplied) yield* Console.log(`  marked applied: ${name}`)
    const total = result.checksumsAccepted.length + result.cleared.length + result.markedApplied.length
    yield* Console.log(total === 0 ? "nothing to repair" : "history repaired")
  }).pipe(Effect.provide(MigratorLive))
