/**
 * `dbkit migrate drift`: replay every migration into a scratch database and compare catalogs.
 * The replay shows which migration it is on (a live line on a terminal), and says when it moves
 * on to the comparison; stdout carries only the result.
 */
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Catalog from "../../migrator/catalog.js"
import { type DriftEvent, Migrator } from "../../migrator/Migrator.js"
import { MigratorLive } from "../live.js"
import { MigrationsDrifted } from "../outcomes.js"
import { duration, json, statusLine } from "../render.js"
import { plural } from "../shared.js"

export const drift = (options: { readonly json: boolean }) =>
  Effect.gen(function*() {
    const migrator = yield* Migrator
    const live = statusLine()
    const started = Date.now()
    let replayed = 0
    const onEvent = (event: DriftEvent): Effect.Effect<void> => {
      switch (event._tag) {
        case "Started":
          return Console.error(`replaying ${plural(event.pending, "migration")} into a scratch database…`)
        case "Applying":
          return live.show(`  … [${event.index}/${event.total}] ${event.name}`)
        case "Applied":
          return Effect.sync(() => void (replayed += 1))
        case "Comparing":
          return Effect.zipRight(
            live.clear,
            Effect.suspend(() =>
              Console.error(
                `replayed ${plural(replayed, "migration")} in ${duration(Date.now() - started)}; comparing catalogs…`
              )
            )
          )
        default:
          return Effect.void
      }
    }
    const report = yield* migrator.drift({ onEvent: options.json ? undefined : onEvent }).pipe(
      Effect.ensuring(live.clear)
    )
    if (options.json) yield* json(report)
    else if (report.differences.length === 0) yield* Console.log(`${report.target}: matches its migrations`)
    else for (const d of report.differences) yield* Console.log(`  ${Catalog.formatDifference(d)}`)
    if (report.differences.length > 0) {
      return yield* new MigrationsDrifted({
        problems: [`${plural(report.differences.length, "difference")} from a fresh replay`]
      })
    }
  }).pipe(Effect.provide(MigratorLive))
