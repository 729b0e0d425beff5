/**
 * `dbkit db cleanup --plan | --run`: the retention rules' counts, or their deletion in small
 * batches.
 */
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { MaintenanceFailed } from "../../maintenance/errors.js"
import { Maintenance } from "../../maintenance/Maintenance.js"
import { GuardLive } from "../live.js"
import type { Parsed } from "../options.js"
import { banner, count, json, table } from "../render.js"
import type { cleanupConfig } from "./index.js"
import { MaintenanceLive } from "./live.js"
import { modeOf } from "./shared.js"

export const cleanup = (options: Parsed<typeof cleanupConfig>) =>
  Effect.gen(function*() {
    const mode = yield* modeOf(options)
    const maintenance = yield* Maintenance
    const tenant = Option.getOrUndefined(options.tenant)
    if (mode === "plan") {
      const plan = yield* maintenance.cleanupPlan({ tenant })
      if (options.json) return yield* json(plan)
      yield* Console.log(table(
        ["rule", "table", "older than", "rows"],
        plan.rules.map((r) => [r.rule, r.table, r.cutoff ?? "-", r.skipped ? `skipped: ${r.skipped}` : count(r.rows)])
      ))
      const total = plan.rules.reduce((n, r) => n + r.rows, 0)
      return yield* Console.log(
        `\n${count(total)} rows past their retention${total > 0 ? "; delete them with dbkit db cleanup --run" : ""}`
      )
    }
    yield* banner("db cleanup --run")
    const result = yield* maintenance.cleanup({
      tenant,
      yes: options.yes,
      onBatch: (rule, deleted) => Effect.logDebug(`${rule}: ${deleted} rows deleted so far`)
    })
    if (options.json) yield* json(result)
    else {
      yield* Console.log(table(
        ["rule", "table", "status", "deleted", "batches"],
        result.rules.map((r) => [
          r.rule,
          r.table,
          r.status === "skipped" ? `skipped: ${r.skipped}` : r.status === "failed" ? `failed: ${r.error}` : r.status,
          count(r.deleted),
          count(r.batches)
        ])
      ))
      yield* Console.log(`\n${count(result.deleted)} rows deleted`)
    }
    if (result.failed > 0) {
      return yield* new MaintenanceFailed({
        failed: result.rules.filter((r) => r.status === "failed").map((r) => `${r.rule}: ${r.error}`)
      })
    }
  }).pipe(Effect.provide(MaintenanceLive), Effect.provide(GuardLive))
