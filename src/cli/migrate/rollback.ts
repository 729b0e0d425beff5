/**
 * `dbkit migrate rollback`: run down migrations, newest first. Guarded (DB_ROLLBACK_CONFIRM=1,
 * --yes or the prompt; production also needs DB_ROLLBACK_ALLOW_PRODUCTION=1).
 */
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { Database } from "../../Database.js"
import { Migrator } from "../../migrator/Migrator.js"
import { GuardLive } from "../live.js"
import { banner, json } from "../render.js"
import { jsonOption, plural, printEvent, yesOption } from "../shared.js"

export const rollback = Command.make(
  "rollback",
  {
    steps: Options.integer("steps").pipe(Options.optional, Options.withDescription("How many applied migrations to roll back (default 1)")),
    to: Options.text("to").pipe(Options.optional, Options.withDescription("Roll back everything applied after this migration")),
    yes: yesOption,
    json: jsonOption
  },
  (options) =>
    Effect.gen(function*() {
      const migrator = yield* Migrator
      const database = yield* Database
      yield* banner("migrate rollback")
      const result = yield* migrator.rollback({
        steps: Option.getOrUndefined(options.steps),
        to: Option.getOrUndefined(options.to),
        yes: options.yes,
        onEvent: options.json ? undefined : printEvent
      })
      if (options.json) return yield* json({ target: database.target, ...result })
      yield* Console.log(
        result.rolledBack.length === 0 ? "nothing to roll back" : `${plural(result.rolledBack.length, "migration")} rolled back`
      )
    })
).pipe(
  Command.withDescription("Roll back applied migrations with their .down.sql files (guarded; a missing down file stops before anything runs)"),
  Command.provide(GuardLive)
)
