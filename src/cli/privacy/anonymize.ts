/**
 * Handler of `dbkit privacy anonymize` (definition in index.ts).
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { InvalidConfig } from "../../Config.js"
import { anonymize as run, type AnonymizeProgress } from "../../privacy/anonymize.js"
import { optionalKeyring } from "../../privacy/fieldCrypto.js"
import { loadPrivacyMap } from "../../privacy/loadMap.js"
import { DatabaseFromEnv, GuardLive } from "../live.js"
import type { Parsed } from "../options.js"
import { banner, bytes, count, duration, json, table } from "../render.js"
import type { anonymizeConfig } from "./index.js"

/** One redrawn line on a terminal's stderr (nothing in CI logs or under --json). */
const progressLine = (enabled: boolean) => {
  const on = enabled && process.stderr.isTTY === true
  let last = 0
  const show = (text: string, force = false) => {
    const now = Date.now()
    if (!on || (!force && now - last < 200)) return
    last = now
    process.stderr.write(`\r\x1b[K${text}`)
  }
  return {
    onProgress: (event: AnonymizeProgress) => {
      switch (event._tag) {
        case "Copying":
          return show(`copying into ${event.into} (pg_dump | psql)…`, true)
        case "Copied":
          return show(`copied ${bytes(event.bytes)} of SQL in ${duration(event.durationMs)}`, true)
        case "Rewriting":
          return show(
            `anonymizing ${event.table}: ${count(event.rows)} rows${
              event.estimate ? ` of ~${count(event.estimate)}` : ""
            }`
          )
        case "Rewritten":
          return show(`anonymized ${event.table.table}: ${count(event.table.rows)} rows`, true)
        case "Vacuuming":
          return show(`VACUUM FULL ${event.table}…`, true)
      }
    },
    done: () => {
      if (on && last > 0) process.stderr.write("\r\x1b[K")
    }
  }
}

/** `dbkit privacy anonymize`. */
export const anonymize = (options: Parsed<typeof anonymizeConfig>) =>
  Effect.gen(function*() {
    const into = Option.getOrUndefined(options.into)
    if ((into === undefined) === !options.inPlace) {
      return yield* new InvalidConfig({
        variable: "--into / --in-place",
        reason: into === undefined
          ? "say where the fakes go: --into NEWDB makes an anonymized copy, --in-place overwrites the configured database"
          : "give one of them, not both"
      })
    }
    if (options.batchSize < 1) {
      return yield* new InvalidConfig({ variable: "--batch-size", reason: "must be a positive whole number" })
    }
    const map = yield* loadPrivacyMap()
    // Keys are optional unless the map declares encrypted columns (anonymize says so then).
    const keyring = yield* optionalKeyring()
    yield* banner(into === undefined ? "privacy anonymize --in-place" : `privacy anonymize --into ${into}`)
    const meter = progressLine(!options.json)
    const report = yield* run(map, {
      into,
      keyring,
      yes: options.yes,
      batchSize: options.batchSize,
      onProgress: meter.onProgress
    }).pipe(
      Effect.ensuring(Effect.sync(meter.done))
    )
    if (options.json) {
      return yield* json(report)
    }
    yield* Console.log(
      `${
        report.mode === "into"
          ? `anonymized copy ${report.database} of ${report.source}`
          : `anonymized ${report.database} in place`
      }: ` +
        `${count(report.rows)} rows rewritten in ${report.tables.length} table${
          report.tables.length === 1 ? "" : "s"
        }, ` +
        `${count(Math.round(report.rowsPerSecond))} rows/s; ` +
        `${report.copyMs === null ? "" : `copy ${duration(report.copyMs)}, `}rewrite ${
          duration(report.rewriteMs)
        }, vacuum ${duration(report.vacuumMs)}, total ${duration(report.durationMs)}`
    )
    yield* Console.log(table(
      ["table", "rows", "time", "columns"],
      report.tables.map((t) => [t.table, count(t.rows), duration(t.durationMs), t.columns.join(", ")])
    ))
  }).pipe(Effect.provide(DatabaseFromEnv), Effect.provide(GuardLive), Effect.provide(NodeContext.layer))
