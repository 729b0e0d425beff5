/**
 * `dbkit migrate adopt`: import drizzle-orm's and @effect/sql's migration history.
 */
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import { Migrator } from "../../migrator/Migrator.js"
import { banner, json } from "../render.js"
import { plural } from "../shared.js"
import { MigratorLive } from "./live.js"

export const adopt = (options: { readonly json: boolean }) =>
  Effect.gen(function*() {
    const migrator = yield* Migrator
    yield* banner("migrate adopt")
    const result = yield* migrator.adopt
    if (options.json) return yield* json(result)
    for (const a of result.adopted) yield* Console.log(`  ≡ ${a.name}  (from ${a.from})`)
    for (const u of result.unmatched) yield* Console.log(`  ? ${u}: no matching migration file`)
    yield* Console.log(`${plural(result.adopted.length, "migration")} adopted`)
  }).pipe(Effect.provide(MigratorLive))
