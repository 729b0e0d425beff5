/**
 * A seeding run: which seeds it covers, one run per database at a time, each seed in its own
 * transaction recorded in dbkit.seeds, run-once seeds that already ran skipped, and the seeds
 * that depend on a failed one not run.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as AdvisoryLock from "../AdvisoryLock.js"
import { copyRows } from "../Bulk.js"
import * as ServerError from "../ServerError.js"
import { ordered, type SeederContext } from "./context.js"
import { InvalidSeedOptions, SeedFailed, SeedRefusedInProduction, UnknownSeed } from "./errors.js"
import { ensureHistory, readHistory, recordRun } from "./history.js"
import { scaleProblem, seedNumberProblem } from "./options.js"
import * as Random from "./random.js"
import { defaultProfile, onceOf, type Profile, profilesOf, type Seed, type SeedContext } from "./seed.js"

export interface SeedOptions {
  /** Run only these seeds (no dependencies added). */
  readonly only?: ReadonlyArray<string> | undefined
  /** Which generated profile runs beside reference data (default from the environment); `test` includes development. */
  readonly profile?: Profile | undefined
  /** The random seed number, a safe integer (default 1). */
  readonly seed?: number | undefined
  /** How much generated data, a finite number above 0 (default 1). */
  readonly scale?: number | undefined
  readonly tenant?: string | undefined
  /**
   * A schema the seeds run in: each seed's transaction puts it first on the search_path (then
   * public), so unqualified table names are the tenant's (schema-per-tenant seeding).
   */
  readonly searchPath?: string | undefined
  /** Plan only: say what would run. */
  readonly dryRun?: boolean | undefined
  readonly onEvent?: ((event: SeedEvent) => Effect.Effect<void>) | undefined
  /** How long to wait for another seeding run of the same database to finish (default 10 minutes). */
  readonly lockWait?: Duration.DurationInput | undefined
}

export type SeedEvent =
  | { readonly _tag: "Started"; readonly seed: string }
  | { readonly _tag: "Progress"; readonly seed: string; readonly table: string; readonly rows: number }
  | { readonly _tag: "Finished"; readonly seed: string; readonly result: SeedResult }

/** A recorded run of a seed: when, and with which seed number and scale. */
export interface PreviousRun {
  readonly at: string
  readonly seed: number
  readonly scale: number
}

export interface SeedResult {
  readonly seed: string
  readonly profile: Profile
  readonly status: "ran" | "would run" | "already ran" | "not run: a dependency failed" | "failed"
  /** Rows it wrote (0 when it did not run); null when it ran without reporting a count. */
  readonly rows: number | null
  readonly durationMs: number
  readonly error?: string | undefined
  /** For "already ran": the run whose data it keeps. */
  readonly previousRun?: PreviousRun | undefined
  /** For "already ran" when this run asked for another seed number or scale: that it changed nothing, and what to do. */
  readonly note?: string | undefined
}

/** Why these options cannot run, before anything does. */
const optionsProblem = (options: SeedOptions): string | undefined =>
  (options.seed === undefined ? undefined : seedNumberProblem(options.seed)) ??
    (options.scale === undefined ? undefined : scaleProblem(options.scale))

/** What an "already ran" seed tells a run that asked for another seed number or scale, if it did. */
const unchangedNote = (name: string, previous: PreviousRun, options: SeedOptions): string | undefined => {
  const seedDiffers = options.seed !== undefined && options.seed !== previous.seed
  const scaleDiffers = options.scale !== undefined && options.scale !== previous.scale
  if (!seedDiffers && !scaleDiffers) return undefined
  const asked = [seedDiffers ? `seed ${options.seed}` : "", scaleDiffers ? `scale ${options.scale}` : ""].filter((s) =>
    s !== ""
  ).join(", ")
  return `${name} already ran with seed ${previous.seed}, scale ${previous.scale} (${previous.at}) and was not run again: ` +
    `${asked} changed nothing; \`dbkit seed clean\` forgets generated data, then seed again`
}

/** The server-wide lock one seeding run of a database holds. */
const seedLockKey = AdvisoryLock.keyOf("dbkit:seeds")

/** Which seeds this run covers, refusing generated data in production. */
const select = (context: SeederContext, options: SeedOptions) =>
  Effect.gen(function*() {
    const { config } = context
    const all = yield* ordered(context)
    if (options.only !== undefined) {
      for (const name of options.only) {
        if (!all.some((s) => s.name === name)) return yield* new UnknownSeed({ name, known: all.map((s) => s.name) })
      }
    }
    const profiles = profilesOf(options.profile ?? defaultProfile(config.environment))
    const chosen = options.only !== undefined
      ? all.filter((s) => options.only!.includes(s.name))
      : all.filter((s) => profiles.includes(s.profile))
    const generated = chosen.filter((s) => s.profile !== "reference")
    if (config.environment === "production" && generated.length > 0) {
      return yield* new SeedRefusedInProduction({ seeds: generated.map((s) => s.name) })
    }
    return chosen
  })

/**
 * One seeding run per database at a time: two deploys seeding at once would both find a
 * run-once seed unrecorded and both run it. In this process a semaphore; across processes
 * a session advisory lock on a reserved connection, held for the run (the embedded
 * database is opened by one process only).
 */
const exclusive = (context: SeederContext, wait: Duration.DurationInput) =>
  Effect.gen(function*() {
    const { database, runLock, sql } = context
    yield* Effect.acquireRelease(runLock.take(1), () => runLock.release(1))
    if (!database.sessionLocks) return
    const conn = yield* sql.reserve
    yield* AdvisoryLock.acquire((text, params = []) => conn.executeUnprepared(text, params, undefined), seedLockKey, {
      wait,
      onTimeout: (holder) =>
        new AdvisoryLock.LockTimeout({ what: "seeding run", waitedMs: Duration.toMillis(wait), holder })
    })
  })

/** Runs one seed in its own transaction and records it; its row count (null: none reported) and duration. */
const runOne = (context: SeederContext, seed: Seed, options: SeedOptions, seedNumber: number, scale: number) =>
  Effect.gen(function*() {
    const { config, sql } = context
    const onEvent = options.onEvent ?? (() => Effect.void)
    let rows = 0
    let counted = false
    const seedContext: SeedContext = {
      random: Random.make(seedNumber, seed.name),
      seed: seedNumber,
      scale,
      tenant: Option.fromNullable(options.tenant),
      environment: config.environment,
      copy: (table, columns, data, copyOptions) =>
        copyRows(table, columns, data, {
          ...copyOptions,
          onProgress: (n) => {
            copyOptions?.onProgress?.(n)
            Effect.runFork(onEvent({ _tag: "Progress", seed: seed.name, table, rows: rows + n }))
          }
        }).pipe(Effect.tap((n) =>
          Effect.sync(() => {
            rows += n
            counted = true
          })
        ))
    }
    const started = yield* Clock.currentTimeMillis
    yield* sql.withTransaction(
      Effect.gen(function*() {
        // Seeded rows are not audit events: the audit triggers (migration 0004) skip this
        // transaction when the role may bypass RLS anyway; for the application role they still record.
        yield* sql`SELECT set_config('dbkit.audit', 'off', true)`
        if (options.searchPath !== undefined) {
          // Transaction-local, quoted by the server: the schema name never becomes SQL text.
          yield* sql`SELECT set_config('search_path', quote_ident(${options.searchPath}) || ', public', true)`
        }
        const reported = yield* Effect.provideService(seed.run(seedContext), SqlClient.SqlClient, sql)
        // A returned number is the seed's row count (say, rows it wrote with plain SQL);
        // otherwise the rows it wrote through `copy` are counted; neither: no count (NULL).
        if (typeof reported === "number" && Number.isFinite(reported)) {
          rows = reported
          counted = true
        }
        yield* recordRun(context, {
          name: seed.name,
          tenant: options.tenant ?? "",
          profile: seed.profile,
          seedNumber,
          scale,
          rows: counted ? rows : null,
          durationMs: (yield* Clock.currentTimeMillis) - started
        })
      })
    )
    return { rows: counted ? rows : null, durationMs: (yield* Clock.currentTimeMillis) - started }
  })

/** Runs the seeds for the environment (or options), in dependency order. */
export const run = (context: SeederContext, options: SeedOptions = {}) =>
  Effect.gen(function*() {
    const problem = optionsProblem(options)
    if (problem !== undefined) return yield* new InvalidSeedOptions({ reason: problem })
    const chosen = yield* select(context, options)
    const seedNumber = options.seed ?? 1
    const scale = options.scale ?? 1
    const onEvent = options.onEvent ?? (() => Effect.void)
    if (options.dryRun !== true) {
      yield* exclusive(context, options.lockWait ?? "10 minutes")
      yield* ensureHistory(context)
    }
    const ran = new Map(
      (yield* readHistory(context))
        .filter((h) => h.tenant === (options.tenant ?? ""))
        .map((h): [string, PreviousRun] => [h.name, { at: h.ranAt, seed: h.seedNumber, scale: h.scale }])
    )
    const failed = new Set<string>()
    const results: Array<SeedResult> = []
    for (const seed of chosen) {
      const base = { seed: seed.name, profile: seed.profile, rows: 0, durationMs: 0 }
      let result: SeedResult
      const previousRun = ran.get(seed.name)
      if (onceOf(seed) && previousRun !== undefined) {
        const note = unchangedNote(seed.name, previousRun, options)
        result = { ...base, status: "already ran", previousRun, ...(note === undefined ? {} : { note }) }
      } else if ((seed.dependsOn ?? []).some((d) => failed.has(d))) {
        failed.add(seed.name)
        result = { ...base, status: "not run: a dependency failed" }
      } else if (options.dryRun === true) {
        result = { ...base, status: "would run" }
      } else {
        yield* onEvent({ _tag: "Started", seed: seed.name })
        const outcome = yield* Effect.either(runOne(context, seed, options, seedNumber, scale))
        if (Either.isRight(outcome)) {
          result = { ...base, status: "ran", ...outcome.right }
        } else {
          failed.add(seed.name)
          result = { ...base, status: "failed", error: ServerError.describe(outcome.left) }
        }
      }
      results.push(result)
      yield* onEvent({ _tag: "Finished", seed: seed.name, result })
    }
    const failures = results.filter((r) => r.status === "failed")
    if (failures.length > 0) {
      return yield* new SeedFailed({
        failures: failures.map((f) => ({ seed: f.seed, message: f.error ?? "" })),
        skipped: results.filter((r) => r.status === "not run: a dependency failed").map((r) => r.seed)
      })
    }
    return results
  }).pipe(Effect.scoped)
