/**
 * `dbkit migrate baseline --to NAME`: mark an existing schema as migrated up to NAME.
 */
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import { Migrator } from "../../migrator/Migrator.js"
import { banner, json } from "../render.js"
import { jsonOption, plural } from "../shared.js"

export const baseline = Command.make(
  "baseline",
  {
    to: Options.text("to").pipe(Options.withDescription("The last migration the existing schema already contains")),
    json: jsonOption
  },
  (options) =>
    Effect.gen(function*() {
      const migrator = yield* Migrator
      yield* banner("migrate baseline")
      const result = yield* migrator.baseline({ to: options.to })
      if (options.json) return yield* json(result)
      for (const name of result.marked) yield* Console.log(`  ≡ ${name}`)
      yield* Console.log(`${plural(result.marked.length, "migration")} recorded as applied without running`)
    })
).pipe(Command.withDescription("Record migrations up to --to as applied without running them (for a database that already has the schema)"))
