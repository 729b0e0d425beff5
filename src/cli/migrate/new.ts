/**
 * `dbkit migrate new NAME`: scaffold the next plain SQL migration and its down file.
 */
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import { DbConfig } from "../../Config.js"
import { scaffold } from "../../migrator/source.js"
import { ConfigLive } from "../live.js"

export const create = (args: { readonly name: string }) =>
  Effect.gen(function*() {
    const config = yield* DbConfig
    const files = yield* scaffold(config.migrationsDir, args.name)
    yield* Console.log(`created ${files.up}\ncreated ${files.down}`)
  }).pipe(Effect.provide(ConfigLive)) // `new` never opens a database
