/**
 * `dbkit db …`: performance insight (stats), upkeep (maintain), data integrity (validate),
 * retention (cleanup) and a load test, over the configured database.
 */
import * as Command from "@effect/cli/Command"
import { GuardLive } from "../live.js"
import { cleanup } from "./cleanup.js"
import { MaintenanceLive } from "./live.js"
import { loadTest } from "./loadTest.js"
import { maintain } from "./maintain.js"
import { stats } from "./stats.js"
import { validate } from "./validate.js"

export const db = Command.make("db").pipe(
  Command.withDescription("Look after the database: stats, maintain, validate, cleanup, load-test"),
  Command.withSubcommands([
    stats.pipe(Command.provide(MaintenanceLive)),
    maintain.pipe(Command.provide(MaintenanceLive), Command.provide(GuardLive)),
    validate.pipe(Command.provide(MaintenanceLive)),
    cleanup.pipe(Command.provide(MaintenanceLive), Command.provide(GuardLive)),
    loadTest.pipe(Command.provide(MaintenanceLive), Command.provide(GuardLive))
  ])
)
