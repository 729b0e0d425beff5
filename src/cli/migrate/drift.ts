/**
 * `dbkit migrate drift`: replay every migration into a scratch database and compare catalogs.
 */
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Catalog from "../../migrator/catalog.js"
import { Migrator } from "../../migrator/Migrator.js"
import { MigratorLive } from "../live.js"
import { MigrationsDrifted } from "../outcomes.js"
import { json } from "../render.js"
import { plural } from "../shared.js"

export const drift = (options: { readonly json: boolean }) =>
  Effect.gen(function*() {
    const migrator = yield* Migrator
    if (!options.json) yield* Console.error("replaying every migration into a scratch database…")
    const report = yield* migrator.drift
    if (options.json) yield* json(report)
    else if (report.differences.length === 0) yield* Console.log(`${report.target}: matches its migrations`)
    else for (const d of report.differences) yield* Console.log(`  ${Catalog.formatDifference(d)}`)
    if (report.differences.length > 0) {
      return yield* new MigrationsDrifted({ problems: [`${plural(report.differences.length, "difference")} from a fresh replay`] })
    }
  }).pipe(Effect.provide(MigratorLive))
