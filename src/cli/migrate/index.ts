/**
 * `dbkit migrate`: apply pending migrations (or try them with --dry-run); its subcommands plan,
 * check, roll back and repair.
 */
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { Database } from "../../Database.js"
import { Migrator } from "../../migrator/Migrator.js"
import { ConfigLive, MigratorLive } from "../live.js"
import { banner, duration, json } from "../render.js"
import { jsonOption, plural, printEvent } from "../shared.js"
import { adopt } from "./adopt.js"
import { baseline } from "./baseline.js"
import { drift } from "./drift.js"
import { create } from "./new.js"
import { plan } from "./plan.js"
import { repair } from "./repair.js"
import { rollback } from "./rollback.js"
import { status } from "./status.js"
import { verify } from "./verify.js"

export const migrate = Command.make(
  "migrate",
  {
    to: Options.text("to").pipe(Options.optional, Options.withDescription("Stop after this migration (inclusive)")),
    dryRun: Options.boolean("dry-run").pipe(
      Options.withDescription("Run pending transactional migrations in a transaction, then roll it back")
    ),
    allowOutOfOrder: Options.boolean("allow-out-of-order").pipe(
      Options.withDescription("Apply pending migrations that sort before the newest applied one")
    ),
    json: jsonOption
  },
  (options) =>
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
        yield* Console.log(
          `dry run: ${plural(result.applied.length, "migration")} ran cleanly and were rolled back` +
            (result.skipped.length ? `; not tried (cannot run in a transaction): ${result.skipped.join(", ")}` : "")
        )
      } else if (result.applied.length === 0) {
        yield* Console.log(`up to date: ${plural(result.upToDate, "migration")} applied, nothing pending`)
      } else {
        yield* Console.log(`${result.applied.length} applied in ${duration(total)} (${result.upToDate} were already applied)`)
      }
    }).pipe(Effect.provide(MigratorLive)) // here, not Command.provide: that would wrap the subcommands too
).pipe(
  Command.withDescription("Apply pending migrations from the migrations folder (DBKIT_MIGRATIONS_DIR, default ./migrations)"),
  // Each subcommand builds only what it needs (`new` never opens a database).
  Command.withSubcommands([
    status.pipe(Command.provide(MigratorLive)),
    plan.pipe(Command.provide(MigratorLive)),
    verify.pipe(Command.provide(MigratorLive)),
    rollback.pipe(Command.provide(MigratorLive)),
    baseline.pipe(Command.provide(MigratorLive)),
    adopt.pipe(Command.provide(MigratorLive)),
    repair.pipe(Command.provide(MigratorLive)),
    drift.pipe(Command.provide(MigratorLive)),
    create.pipe(Command.provide(ConfigLive))
  ])
)
