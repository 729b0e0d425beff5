/**
 * `dbkit migrate`: apply pending migrations (or try them with --dry-run), and
 * `dbkit migrate status`: where every migration stands.
 */
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { Database } from "../Database.js"
import * as Migrator from "../migrator/Migrator.js"
import { isUpToDate } from "../migrator/plan.js"
import { MigratorLive } from "./live.js"
import { banner, duration, json, table } from "./render.js"

const jsonOption = Options.boolean("json").pipe(Options.withDescription("Print the result as JSON on stdout"))

const printEvent = (event: Migrator.MigrateEvent) => {
  switch (event._tag) {
    case "Started":
      return event.pending === 0 ? Effect.void : Console.log(`applying ${event.pending} migration${event.pending === 1 ? "" : "s"}`)
    case "Applied":
      return Console.log(`  ✓ ${event.name}  ${duration(event.durationMs)}`)
    case "Retrying":
      return Console.log(`  … ${event.name}: ${event.reason}, retrying (attempt ${event.attempt + 1})`)
    case "WaitingForLock":
      return Console.log(`waiting for the migration lock${event.holderPid ? ` (held by process ${event.holderPid})` : ""}…`)
    case "Applying":
      return Effect.void
  }
}

const status = Command.make("status", { json: jsonOption }, (options) =>
  Effect.gen(function*() {
    const migrator = yield* Migrator.Migrator
    const database = yield* Database
    const state = yield* migrator.status
    if (options.json) return yield* json({ target: database.target, upToDate: isUpToDate(state), ...state })
    const migrations = yield* migrator.migrations
    const applied = new Map(state.applied.map((a) => [a.name, a]))
    const changed = new Set(state.changed.map((c) => c.name))
    const outOfOrder = new Set(state.outOfOrder)
    const failed = new Map(state.failed.map((f) => [f.name, f]))
    const rows = migrations.map((m) => {
      const a = applied.get(m.name)
      const f = failed.get(m.name)
      const stateText = f ? f.status : changed.has(m.name) ? "changed" : a ? "applied" : outOfOrder.has(m.name) ? "pending (out of order)" : "pending"
      return [m.name, stateText, a ? a.appliedAt : ""]
    })
    for (const name of state.missing) rows.push([name, "missing (applied, no file)", applied.get(name)?.appliedAt ?? ""])
    yield* Console.log(table(["migration", "state", "applied at (UTC)"], rows))
    yield* Console.log(
      `\n${database.target}: ${state.applied.length} applied, ${state.pending.length} pending` +
        (state.changed.length ? `, ${state.changed.length} changed` : "") +
        (state.missing.length ? `, ${state.missing.length} missing` : "") +
        (state.failed.length ? `, ${state.failed.length} failed` : "") +
        (isUpToDate(state) ? " — up to date" : "")
    )
  })).pipe(Command.withDescription("Show applied, pending, changed, missing, out-of-order and failed migrations"))

/** `dbkit migrate`. */
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
      const migrator = yield* Migrator.Migrator
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
          `dry run: ${result.applied.length} migration${result.applied.length === 1 ? "" : "s"} ran cleanly and were rolled back` +
            (result.skipped.length ? `; not tried (cannot run in a transaction): ${result.skipped.join(", ")}` : "")
        )
      } else if (result.applied.length === 0) {
        yield* Console.log(`up to date: ${result.upToDate} migration${result.upToDate === 1 ? "" : "s"} applied, nothing pending`)
      } else {
        yield* Console.log(`${result.applied.length} applied in ${duration(total)} (${result.upToDate} were already applied)`)
      }
    })
).pipe(
  Command.withDescription("Apply pending migrations from the migrations folder (DBKIT_MIGRATIONS_DIR, default ./migrations)"),
  Command.withSubcommands([status]),
  Command.provide(MigratorLive)
)
