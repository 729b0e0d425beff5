/**
 * `dbkit migrate baseline --to NAME`: mark an existing schema as migrated up to NAME.
 */
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import { Migrator } from "../../migrator/Migrator.js"
import { banner, json } from "../render.js"
import { plural } from "../shared.js"
import { MigratorLive } from "./live.js"

export const baseline = (options: { readonly to: string; readonly json: boolean }) =>
  Effect.gen(function*() {
    const migrator = yield* Migrator
    yield* banner("migrate baseline")
    const result = yield* migrator.baseline({ to: options.to })
    if (options.json) return yield* json(result)
    for (const name of result.marked) yield* Console.log(`  ≡ ${name}`)
    yield* Console.log(`${plural(result.marked.length, "migration")} recorded as applied without running`)
  }).pipe(Effect.provide(MigratorLive))
