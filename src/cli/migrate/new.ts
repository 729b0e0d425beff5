/**
 * `dbkit migrate new NAME`: scaffold the next plain SQL migration and its down file.
 */
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import { DbConfig } from "../../Config.js"
import { scaffold } from "../../migrator/source.js"

export const create = Command.make(
  "new",
  { name: Args.text({ name: "name" }).pipe(Args.withDescription("What the migration does, e.g. \"add invoice notes\"")) },
  (args) =>
    Effect.gen(function*() {
      const config = yield* DbConfig
      const files = yield* scaffold(config.migrationsDir, args.name)
      yield* Console.log(`created ${files.up}\ncreated ${files.down}`)
    })
).pipe(Command.withDescription("Create the next NNNN_name.sql and NNNN_name.down.sql in a plain migrations folder"))
