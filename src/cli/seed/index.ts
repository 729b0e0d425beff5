/**
 * `dbkit seed`: run the seeds for the environment; `seed list`, `seed validate`, `seed clean`.
 */
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { Seeder, type SeedEvent } from "../../seeder/Seeder.js"
import { GuardLive, SeederLive } from "../live.js"
import { SeedsInvalid } from "../outcomes.js"
import { banner, duration, json, table } from "../render.js"
import { jsonOption, plural, yesOption } from "../shared.js"

const printEvent = (event: SeedEvent): Effect.Effect<void> => {
  switch (event._tag) {
    case "Started":
    case "Progress":
      return Effect.void
    case "Finished": {
      const r = event.result
      const mark = r.status === "ran" ? "✓" : r.status === "failed" ? "✗" : "·"
      const rows = r.rows > 0 ? `  ${r.rows.toLocaleString("en-US")} rows` : ""
      const time = r.status === "ran" ? `  ${duration(r.durationMs)}` : ""
      return Console.log(`  ${mark} ${r.seed} (${r.profile}) ${r.status === "ran" ? "" : r.status}${rows}${time}`.replace(/\s+$/, ""))
    }
  }
}

const list = Command.make("list", { json: jsonOption }, (options) =>
  Effect.gen(function*() {
    const seeder = yield* Seeder
    const seeds = yield* seeder.list
    if (options.json) return yield* json(seeds.map((s) => ({ ...s, lastRun: Option.getOrNull(s.lastRun) })))
    yield* Console.log(table(
      ["seed", "profile", "runs", "depends on", "last run (UTC)", "rows"],
      seeds.map((s) => [
        s.name,
        s.profile,
        s.once ? "once" : "every time",
        s.dependsOn.join(", "),
        Option.match(s.lastRun, { onNone: () => "never", onSome: (r) => `${r.at} (seed ${r.seed}, scale ${r.scale})` }),
        Option.match(s.lastRun, { onNone: () => "", onSome: (r) => r.rows.toLocaleString("en-US") })
      ])
    ))
  })).pipe(Command.withDescription("List the seeds: profile, dependencies, run-once or every time, and what has run"))

const validate = Command.make("validate", { json: jsonOption }, (options) =>
  Effect.gen(function*() {
    const seeder = yield* Seeder
    const problems = yield* seeder.validate()
    if (options.json) yield* json({ problems })
    else if (problems.length === 0) yield* Console.log("seeded tables hold at least the rows their seeds declare")
    else {
      yield* Console.log(table(["seed", "table", "expected at least", "found"], problems.map((p) => [p.seed, p.table, String(p.expected), String(p.actual)])))
    }
    if (problems.length > 0) return yield* new SeedsInvalid({ problems: problems.length })
  })).pipe(Command.withDescription("Check seeded row counts against what each seed declares (exit 12 when short); foreign keys are enforced by the schema"))

const clean = Command.make("clean", { yes: yesOption, json: jsonOption }, (options) =>
  Effect.gen(function*() {
    const seeder = yield* Seeder
    yield* banner("seed clean")
    const result = yield* seeder.clean({ yes: options.yes })
    if (options.json) return yield* json(result)
    for (const t of result.tables) yield* Console.log(`  deleted ${t.rows.toLocaleString("en-US")} rows from ${t.table}`)
    yield* Console.log("generated data removed; reference data kept")
  })).pipe(
    Command.withDescription("Delete generated (development/test) data and forget those runs (guarded: DB_SEED_CLEAN_CONFIRM=1 or --yes)"),
    Command.provide(GuardLive)
  )

/** `dbkit seed`. */
export const seed = Command.make(
  "seed",
  {
    only: Options.text("only").pipe(Options.repeated, Options.withDescription("Run only this seed (repeatable)")),
    profile: Options.choice("profile", ["reference", "development", "test"]).pipe(
      Options.optional,
      Options.withDescription("Generated data to add to the reference data (default: by environment)")
    ),
    seedNumber: Options.integer("seed").pipe(Options.withDefault(1), Options.withDescription("Random seed: the same number gives the same data")),
    scale: Options.float("scale").pipe(Options.withDefault(1), Options.withDescription("How much generated data (1 = the default size)")),
    tenant: Options.text("tenant").pipe(Options.optional, Options.withDescription("Seed only this organization (slug)")),
    dryRun: Options.boolean("dry-run").pipe(Options.withDescription("Show what would run, change nothing")),
    json: jsonOption
  },
  (options) =>
    Effect.gen(function*() {
      const seeder = yield* Seeder
      yield* banner(options.dryRun ? "seed --dry-run" : "seed")
      const results = yield* seeder.run({
        only: options.only.length > 0 ? options.only : undefined,
        profile: Option.getOrUndefined(options.profile),
        seed: options.seedNumber,
        scale: options.scale,
        tenant: Option.getOrUndefined(options.tenant),
        dryRun: options.dryRun,
        onEvent: options.json ? undefined : printEvent
      })
      if (options.json) return yield* json(results)
      const ran = results.filter((r) => r.status === "ran")
      const rows = ran.reduce((sum, r) => sum + r.rows, 0)
      yield* Console.log(
        options.dryRun
          ? `${plural(results.filter((r) => r.status === "would run").length, "seed")} would run`
          : `${plural(ran.length, "seed")} ran, ${rows.toLocaleString("en-US")} rows generated`
      )
    }).pipe(Effect.provide(SeederLive))
).pipe(
  Command.withDescription("Run the seeds for the environment in dependency order, each in its own transaction"),
  Command.withSubcommands([
    list.pipe(Command.provide(SeederLive)),
    validate.pipe(Command.provide(SeederLive)),
    clean.pipe(Command.provide(SeederLive))
  ])
)
