/**
 * `dbkit db maintain --plan | --run`: ANALYZE stale statistics, VACUUM dead rows, rebuild
 * invalid indexes — planned with the reason for each, or run one statement at a time.
 */
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import { MaintenanceFailed } from "../../maintenance/errors.js"
import { Maintenance, type MaintenanceTask, type TaskResult } from "../../maintenance/Maintenance.js"
import { GuardLive } from "../live.js"
import type { Parsed } from "../options.js"
import { banner, duration, json } from "../render.js"
import { plural } from "../shared.js"
import type { maintainConfig } from "./index.js"
import { MaintenanceLive } from "./live.js"
import { modeOf } from "./shared.js"

const verb = (task: MaintenanceTask) => task.statement.replace(/\s+"[\s\S]*$/, "")

const planLine = (task: MaintenanceTask) => `${verb(task)} ${task.target}: ${task.reason}`

const resultLine = (result: TaskResult) =>
  result.status === "done"
    ? Console.log(`  ✓ ${verb(result)} ${result.target}  ${duration(result.durationMs)}`)
    : Console.log(`  ✗ ${verb(result)} ${result.target}: ${result.error}`)

export const maintain = (options: Parsed<typeof maintainConfig>) =>
  Effect.gen(function*() {
    const mode = yield* modeOf(options)
    const maintenance = yield* Maintenance
    if (mode === "plan") {
      const tasks = yield* maintenance.plan
      if (options.json) return yield* json({ tasks })
      if (tasks.length === 0) {
        return yield* Console.log("nothing to do: statistics are fresh, dead rows are few, every index is valid")
      }
      for (const task of tasks) yield* Console.log(planLine(task))
      return yield* Console.log(`\n${plural(tasks.length, "task")}; run them with dbkit db maintain --run`)
    }
    yield* banner("db maintain --run")
    const result = yield* maintenance.maintain({ yes: options.yes, onTask: options.json ? undefined : resultLine })
    if (options.json) yield* json(result)
    else {yield* Console.log(
        result.tasks.length === 0 ? "nothing to do" : `${result.done} done, ${result.failed} failed`
      )}
    if (result.failed > 0) {
      return yield* new MaintenanceFailed({
        failed: result.tasks.filter((t) => t.status === "failed").map((t) => `${verb(t)} ${t.target}: ${t.error}`)
      })
    }
  }).pipe(Effect.provide(MaintenanceLive), Effect.provide(GuardLive))
