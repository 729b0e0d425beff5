/**
 * `dbkit migrate`: apply pending migrations, or with --dry-run try them and change nothing.
 */
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { Database } from "../../Database.js"
import { Migrator } from "../../migrator/Migrator.js"
import { banner, duration, json } from "../render.js"
import { plural, printEvent } from "../shared.js"
import { MigratorLive } from "./live.js"

export const apply = (options: {
  readonly to: Option.Option<string>
  readonly dryRun: boolean
  readonly allowOutOfOrder: boolean
  readonly json: boolean
}) =>
  Effect.gen(function*() {
    const migrator = yield* Migrator
    const database = yield* Database
    yield* banner(options.dryRun ? "migrate --dry-run" : "migrate")
    const result = yield* migrator.migrate({
      to: Option.getOrUndefined(options.to),
      dryRun: options.dryRun,
      allowOutOfOrder: options.allowOutOfOrder,
      onEvent: options.json ? undefined : printEvent
    })
    if (options.json) return yield* json({ target: database.target, ...result })
    const total = result.applied.reduce((sum, a) => sum + a.durationMs, 0)
    if (result.dryRun) {
      const replayed = result.replayed ?? []
      yield* Console.log(
        `dry run: ${plural(result.applied.length, "migration")} ran cleanly and were rolled back` +
          (replayed.length
            ? `; ${replayed.join(", ")} ${
              replayed.length > 1 ? "were" : "was"
            } tried in a scratch database that replays the migrations and commits each, as migrate does (without this database's data)`
            : "") +
          (result.skipped.length
            ? `; not tried: ${result.skipped.join(", ")} (${result.skippedBecause ?? "cannot run in a transaction"})`
            : "")
      )
    } else if (result.applied.length === 0) {
      yield* Console.log(`up to date: ${plural(result.upToDate, "migration")} applied, nothing pending`)
    } else {
      yield* Console.log(
        `${result.applied.length} applied in ${duration(total)} (${result.upToDate} were already applied)`
      )
    }
  }).pipe(Effect.provide(MigratorLive))
