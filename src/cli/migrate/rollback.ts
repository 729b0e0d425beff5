/**
 * `dbkit migrate rollback`: run down migrations, newest first. Guarded (DB_ROLLBACK_CONFIRM=1,
 * --yes or the prompt; production also needs DB_ROLLBACK_ALLOW_PRODUCTION=1).
 */
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { Database } from "../../Database.js"
import { Migrator } from "../../migrator/Migrator.js"
import { GuardLive, MigratorLive } from "../live.js"
import { banner, json } from "../render.js"
import { plural, printEvent } from "../shared.js"

export const rollback = (options: {
  readonly steps: Option.Option<number>
  readonly to: Option.Option<string>
  readonly yes: boolean
  readonly json: boolean
}) =>
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
      result.rolledBack.length === 0
        ? "nothing to roll back"
        : `${plural(result.rolledBack.length, "migration")} rolled back`
    )
  }).pipe(Effect.provide(GuardLive), Effect.provide(MigratorLive))
