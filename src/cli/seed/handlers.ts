/**
 * Handlers of `dbkit seed` and `dbkit seed list | validate | clean` (definitions in index.ts).
 */
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { Seeder, type SeedEvent, type SeedOptions } from "../../seeder/Seeder.js"
import { seedTarget } from "../../tenancy/seedTenant.js"
import { GuardLive } from "../live.js"
import type { Parsed } from "../options.js"
import { SeedsInvalid } from "../outcomes.js"
import { banner, duration, json, statusLine, table } from "../render.js"
import { plural } from "../shared.js"
import type { cleanConfig, listConfig, seedConfig, validateConfig } from "./index.js"
import { SeederLive, SeederWithTenancyLive } from "./live.js"

/**
 * On a terminal, a seed at work shows a line on stderr that counts the rows it has written so far,
 * cleared when it finishes: a seed generating for seconds is never silent. Off a terminal (CI
 * logs, pipes) only the finished lines are printed.
 */
const live = statusLine()

const printEvent = (event: SeedEvent): Effect.Effect<void> => {
  switch (event._tag) {
    case "Started":
      return live.show(`  … ${event.seed}`, true)
    case "Progress":
      return live.show(`  … ${event.seed}: ${event.rows.toLocaleString("en-US")} rows so far (${event.table})`)
    case "Finished": {
      const r = event.result
      const mark = r.status === "ran" ? "✓" : r.status === "failed" ? "✗" : "·"
      const rows = r.rows !== null && r.rows > 0 ? `  ${r.rows.toLocaleString("en-US")} rows` : ""
      const time = r.status === "ran" ? `  ${duration(r.durationMs)}` : ""
      const previous = r.previousRun === undefined
        ? ""
        : ` (seed ${r.previousRun.seed}, scale ${r.previousRun.scale}, ${r.previousRun.at})`
      return Effect.zipRight(
        live.clear,
        Console.log(
          `  ${mark} ${r.seed} (${r.profile}) ${r.status === "ran" ? "" : r.status}${previous}${rows}${time}`.replace(
            /\s+$/,
            ""
          )
        )
      )
    }
  }
}

/** `dbkit seed list`. */
export const list = (options: Parsed<typeof listConfig>) =>
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
        // A seed that reported no count (reference upserts written with plain SQL) shows a dash, not 0.
        Option.match(s.lastRun, {
          onNone: () => "",
          onSome: (r) => r.rows === null ? "—" : r.rows.toLocaleString("en-US")
        })
      ])
    ))
  }).pipe(Effect.provide(SeederLive))

/** `dbkit seed validate`. */
export const validate = (options: Parsed<typeof validateConfig>) =>
  Effect.gen(function*() {
    const seeder = yield* Seeder
    const problems = yield* seeder.validate()
    if (options.json) yield* json({ problems })
    else if (problems.length === 0) yield* Console.log("seeded tables hold at least the rows their seeds declare")
    else {
      yield* Console.log(
        table(
          ["seed", "table", "expected at least", "found"],
          problems.map((p) => [p.seed, p.table, String(p.expected), String(p.actual)])
        )
      )
    }
    if (problems.length > 0) return yield* new SeedsInvalid({ problems: problems.length })
  }).pipe(Effect.provide(SeederLive))

/** `dbkit seed clean`. */
export const clean = (options: Parsed<typeof cleanConfig>) =>
  Effect.gen(function*() {
    const seeder = yield* Seeder
    yield* banner("seed clean")
    const result = yield* seeder.clean({ yes: options.yes })
    if (options.json) return yield* json(result)
    for (const t of result.tables) {
      yield* Console.log(`  deleted ${t.rows.toLocaleString("en-US")} rows from ${t.table}`)
    }
    yield* Console.log("generated data removed; reference data kept")
  }).pipe(Effect.provide(GuardLive), Effect.provide(SeederLive))

/** `dbkit seed`. */
export const seed = (options: Parsed<typeof seedConfig>) =>
  Option.match(options.tenant, {
    onNone: () => Effect.provide(seedRun(options, Effect.succeed({})), SeederLive),
    // The tenant resolved through the registry (id, slug or domain): its slug, and its schema for the schema strategy.
    onSome: (tenant) => Effect.provide(seedRun(options, seedTarget(tenant)), SeederWithTenancyLive)
  })

const seedRun = <E, R>(
  options: Parsed<typeof seedConfig>,
  resolveTarget: Effect.Effect<Pick<SeedOptions, "tenant" | "searchPath">, E, R>
) =>
  Effect.gen(function*() {
    const seeder = yield* Seeder
    const target = yield* resolveTarget
    yield* banner(options.dryRun ? "seed --dry-run" : "seed")
    const results = yield* seeder.run({
      only: options.only.length > 0 ? options.only : undefined,
      profile: Option.getOrUndefined(options.profile),
      seed: Option.getOrUndefined(options.seedNumber),
      scale: Option.getOrUndefined(options.scale),
      ...target,
      dryRun: options.dryRun,
      onEvent: options.json ? undefined : printEvent
    })
    if (options.json) return yield* json(results)
    const ran = results.filter((r) => r.status === "ran")
    // Generated rows only: a reference seed's count is the rows its data holds.
    const rows = ran.filter((r) => r.profile !== "reference").reduce((sum, r) => sum + (r.rows ?? 0), 0)
    yield* Console.log(
      options.dryRun
        ? `${plural(results.filter((r) => r.status === "would run").length, "seed")} would run`
        : `${plural(ran.length, "seed")} ran, ${rows.toLocaleString("en-US")} rows generated`
    )
    for (const r of results) if (r.note !== undefined) yield* Console.error(`note: ${r.note}`)
  })
