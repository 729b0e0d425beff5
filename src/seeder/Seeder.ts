/**
 * Seeder: runs declared seeds — production-safe reference data and deterministic generated data.
 *
 * Seeds run in dependency order, each in its own transaction: a failing seed is rolled back
 * whole and the seeds that depend on it do not run. Run-once seeds are recorded in `dbkit.seeds`
 * and skipped afterwards; reference seeds are idempotent upserts that run every time. Generated
 * data draws from a `Random` seeded by `--seed` and the seed's name, so the same number gives the
 * same bytes on every run and on both databases.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as AdvisoryLock from "../AdvisoryLock.js"
import { type BulkInsertFailed, copyRows, type CopyOptions, type CopyValue } from "../Bulk.js"
import { DbConfig, type Environment, type InvalidConfig } from "../Config.js"
import { quoteQualified } from "../Identifier.js"
import { Database } from "../Database.js"
import { Guard, type GuardError } from "../Guard.js"
import * as Project from "../Project.js"
import * as ServerError from "../ServerError.js"
import {
  InvalidSeedOptions,
  type SeedCycle,
  SeedFailed,
  type SeedPlanError,
  SeedRefusedInProduction,
  UnknownSeed,
  type UnknownSeedDependency
} from "./errors.js"
import { order } from "./graph.js"
import { scaleProblem, seedNumberProblem } from "./options.js"
import * as Random from "./random.js"

/**
 * reference: safe everywhere, idempotent. development / test: generated, never in production.
 * A run for a profile takes the seeds of the profiles below it too: `development` runs reference
 * and development seeds; `test` runs reference, development and test seeds (tests get the
 * development data, plus whatever a project declares for tests only).
 */
export type Profile = "reference" | "development" | "test"

/** What a running seed gets. */
export interface SeedContext {
  /** Deterministic for (`--seed`, this seed's name). */
  readonly random: Random.Random
  readonly seed: number
  /** How much generated data: 1 is the default size. */
  readonly scale: number
  /** `--tenant SLUG`: seed only this organization. */
  readonly tenant: Option.Option<string>
  readonly environment: Environment
  /** Bulk insert by COPY in this seed's transaction, reporting progress. */
  readonly copy: (
    table: string,
    columns: ReadonlyArray<string>,
    rows: Iterable<ReadonlyArray<CopyValue>>,
    options?: CopyOptions
  ) => Effect.Effect<number, BulkInsertFailed | SqlError, SqlClient.SqlClient>
}

/** A declared seed. */
export interface Seed {
  readonly name: string
  readonly profile: Profile
  readonly description?: string | undefined
  readonly dependsOn?: ReadonlyArray<string> | undefined
  /** Run once and record it (default: true for generated data, false for reference data). */
  readonly once?: boolean | undefined
  /** Tables it fills: `seed clean` deletes generated rows from them (children first). */
  readonly tables?: ReadonlyArray<string> | undefined
  /** Minimum row counts after it ran, checked by `seed validate`. */
  readonly expects?: ((scale: number) => Readonly<Record<string, number>>) | undefined
  /**
   * Its work. A returned number is its row count (a reference seed returns the rows its data
   * holds); otherwise the rows written through `copy` are counted; a seed that does neither has
   * no count (null: `seed list` shows a dash, not a 0 nobody measured).
   */
  readonly run: (context: SeedContext) => Effect.Effect<unknown, unknown, SqlClient.SqlClient>
}

/** Declares a seed (an identity function that checks the shape). */
export const make = (seed: Seed): Seed => seed

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

export interface SeedListing {
  readonly name: string
  readonly profile: Profile
  readonly dependsOn: ReadonlyArray<string>
  readonly once: boolean
  readonly description: string
  /** Its last run; `rows` is null when the seed reported no count. */
  readonly lastRun: Option.Option<PreviousRun & { readonly rows: number | null }>
}

export interface ValidationProblem {
  readonly seed: string
  readonly table: string
  readonly expected: number
  readonly actual: number
}

/** The Seeder service. */
export class Seeder extends Context.Tag("dbkit/Seeder")<Seeder, {
  /** Runs the seeds for the environment (or options), in dependency order. */
  readonly run: (options?: SeedOptions) => Effect.Effect<ReadonlyArray<SeedResult>, SeedPlanError | SeedFailed | AdvisoryLock.LockTimeout | SqlError>
  /** The declared seeds and what has run. */
  readonly list: Effect.Effect<ReadonlyArray<SeedListing>, UnknownSeedDependency | SeedCycle | SqlError>
  /** Row counts against what each seed that ran declares. */
  readonly validate: (options?: { readonly scale?: number | undefined }) => Effect.Effect<ReadonlyArray<ValidationProblem>, SqlError>
  /** Deletes generated data (guarded: DB_SEED_CLEAN_CONFIRM / --yes) and forgets those runs. */
  readonly clean: (options?: { readonly yes?: boolean | undefined }) => Effect.Effect<
    { readonly tables: ReadonlyArray<{ readonly table: string; readonly rows: number }> },
    GuardError | SqlError,
    Guard
  >
}>() {}

const onceOf = (seed: Seed) => seed.once ?? seed.profile !== "reference"

/** The generated profile an environment gets by default. */
const defaultProfile = (environment: Environment): Profile =>
  environment === "test" ? "test" : environment === "development" ? "development" : "reference"

/** The profiles whose seeds a run for `profile` takes (see `Profile`). */
const profilesOf = (profile: Profile): ReadonlyArray<Profile> =>
  profile === "test" ? ["reference", "development", "test"] : profile === "development" ? ["reference", "development"] : ["reference"]

/** Why these options cannot run, before anything does. */
const optionsProblem = (options: SeedOptions): string | undefined =>
  (options.seed === undefined ? undefined : seedNumberProblem(options.seed)) ??
    (options.scale === undefined ? undefined : scaleProblem(options.scale))

/** What an "already ran" seed tells a run that asked for another seed number or scale, if it did. */
const unchangedNote = (name: string, previous: PreviousRun, options: SeedOptions): string | undefined => {
  const seedDiffers = options.seed !== undefined && options.seed !== previous.seed
  const scaleDiffers = options.scale !== undefined && options.scale !== previous.scale
  if (!seedDiffers && !scaleDiffers) return undefined
  const asked = [seedDiffers ? `seed ${options.seed}` : "", scaleDiffers ? `scale ${options.scale}` : ""].filter((s) => s !== "").join(", ")
  return `${name} already ran with seed ${previous.seed}, scale ${previous.scale} (${previous.at}) and was not run again: ` +
    `${asked} changed nothing; \`dbkit seed clean\` forgets generated data, then seed again`
}

// rows is NULL for a seed that reported no count.
const HISTORY = `CREATE SCHEMA IF NOT EXISTS dbkit;
CREATE TABLE IF NOT EXISTS dbkit.seeds (
  name text NOT NULL,
  tenant text NOT NULL DEFAULT '',
  profile text NOT NULL,
  seed_number bigint NOT NULL,
  scale double precision NOT NULL,
  rows bigint,
  duration_ms integer NOT NULL,
  ran_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (name, tenant)
)`

const errorText = (error: unknown): string => ServerError.describe(error)

/** One seeding run per database in this process, whichever Seeder instance asks. */
const runLocks = new Map<string, Effect.Semaphore>()

/** The server-wide lock one seeding run of a database holds. */
const seedLockKey = AdvisoryLock.keyOf("dbkit:seeds")

const make_ = (seeds: ReadonlyArray<Seed>) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const config = yield* DbConfig
    const database = yield* Database

    const ordered = Effect.suspend(() => Either.match(order(seeds), { onLeft: Effect.fail, onRight: Effect.succeed }))

    const history = Effect.flatMap(
      sql<{ exists: boolean }>`SELECT to_regclass('dbkit.seeds') IS NOT NULL AS "exists"`,
      (rows) =>
        rows[0]?.exists
          ? sql<{ name: string; tenant: string; ranAt: string; rows: string | null; seedNumber: number; scale: number }>`
              SELECT name, tenant, to_char(ran_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS "ranAt",
                     rows::text AS rows, seed_number::float8 AS "seedNumber", scale FROM dbkit.seeds`
          : Effect.succeed([])
    )

    /** Which seeds this run covers, refusing generated data in production. */
    const select = (options: SeedOptions) =>
      Effect.gen(function*() {
        const all = yield* ordered
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

    const runOne = (seed: Seed, options: SeedOptions, seedNumber: number, scale: number) =>
      Effect.gen(function*() {
        const onEvent = options.onEvent ?? (() => Effect.void)
        let rows = 0
        let counted = false
        const context: SeedContext = {
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
            }).pipe(Effect.tap((n) => Effect.sync(() => {
              rows += n
              counted = true
            })))
        }
        const started = Date.now()
        yield* sql.withTransaction(
          Effect.gen(function*() {
            // Seeded rows are not audit events: the audit triggers (migration 0004) skip this
            // transaction when the role may bypass RLS anyway; for the application role they still record.
            yield* sql`SELECT set_config('dbkit.audit', 'off', true)`
            const reported = yield* Effect.provideService(seed.run(context), SqlClient.SqlClient, sql)
            // A returned number is the seed's row count (say, rows it wrote with plain SQL);
            // otherwise the rows it wrote through `copy` are counted; neither: no count (NULL).
            if (typeof reported === "number" && Number.isFinite(reported)) {
              rows = reported
              counted = true
            }
            yield* sql`
              INSERT INTO dbkit.seeds (name, tenant, profile, seed_number, scale, rows, duration_ms)
              VALUES (${seed.name}, ${options.tenant ?? ""}, ${seed.profile}, ${seedNumber}, ${scale}, ${counted ? rows : null}, ${Date.now() - started})
              ON CONFLICT (name, tenant) DO UPDATE SET profile = EXCLUDED.profile, seed_number = EXCLUDED.seed_number,
                scale = EXCLUDED.scale, rows = EXCLUDED.rows, duration_ms = EXCLUDED.duration_ms, ran_at = now()`
          })
        )
        return { rows: counted ? rows : null, durationMs: Date.now() - started }
      })

    /**
     * One seeding run per database at a time: two deploys seeding at once would both find a
     * run-once seed unrecorded and both run it. In this process a semaphore; across processes
     * a session advisory lock on a reserved connection, held for the run (the embedded
     * database is opened by one process only).
     */
    const inProcess = runLocks.get(database.target) ?? runLocks.set(database.target, Effect.unsafeMakeSemaphore(1)).get(database.target)!
    const exclusive = (wait: Duration.DurationInput) =>
      Effect.gen(function*() {
        yield* Effect.acquireRelease(inProcess.take(1), () => inProcess.release(1))
        if (!database.sessionLocks) return
        const conn = yield* sql.reserve
        yield* AdvisoryLock.acquire((text, params = []) => conn.executeUnprepared(text, params, undefined), seedLockKey, {
          wait,
          onTimeout: (holder) => new AdvisoryLock.LockTimeout({ what: "seeding run", waitedMs: Duration.toMillis(wait), holder })
        })
      })

    /** dbkit.seeds as it is now: made when missing, widened when an older dbkit made it. */
    const ensureHistory = Effect.gen(function*() {
      yield* sql.unsafe(HISTORY)
      // Older tables: seed_number was an integer (now any safe integer) and rows always set.
      const [old] = yield* sql<{ narrow: boolean | null; required: boolean | null }>`
        SELECT bool_or(attname = 'seed_number' AND atttypid = 'int4'::regtype) AS narrow,
               bool_or(attname = 'rows' AND attnotnull) AS required
          FROM pg_attribute WHERE attrelid = 'dbkit.seeds'::regclass AND attname IN ('seed_number', 'rows')`
      if (old?.narrow === true) yield* sql`ALTER TABLE dbkit.seeds ALTER COLUMN seed_number TYPE bigint`
      if (old?.required === true) yield* sql`ALTER TABLE dbkit.seeds ALTER COLUMN rows DROP NOT NULL`
    })

    const run = (options: SeedOptions = {}) =>
      Effect.gen(function*() {
        const problem = optionsProblem(options)
        if (problem !== undefined) return yield* new InvalidSeedOptions({ reason: problem })
        const chosen = yield* select(options)
        const seedNumber = options.seed ?? 1
        const scale = options.scale ?? 1
        const onEvent = options.onEvent ?? (() => Effect.void)
        if (options.dryRun !== true) {
          yield* exclusive(options.lockWait ?? "10 minutes")
          yield* ensureHistory
        }
        const ran = new Map(
          (yield* history)
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
            const outcome = yield* Effect.either(runOne(seed, options, seedNumber, scale))
            if (Either.isRight(outcome)) {
              result = { ...base, status: "ran", ...outcome.right }
            } else {
              failed.add(seed.name)
              result = { ...base, status: "failed", error: errorText(outcome.left) }
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

    const list = Effect.gen(function*() {
      const all = yield* ordered
      const recorded = yield* history
      return all.map((seed): SeedListing => {
        const last = recorded.find((h) => h.name === seed.name && h.tenant === "")
        return {
          name: seed.name,
          profile: seed.profile,
          dependsOn: seed.dependsOn ?? [],
          once: onceOf(seed),
          description: seed.description ?? "",
          lastRun: last === undefined
            ? Option.none()
            : Option.some({ at: last.ranAt, rows: last.rows === null ? null : Number(last.rows), seed: last.seedNumber, scale: last.scale })
        }
      })
    })

    const validate = (options: { readonly scale?: number | undefined } = {}) =>
      Effect.gen(function*() {
        const recorded = yield* history
        const problems: Array<ValidationProblem> = []
        for (const seed of seeds) {
          const last = recorded.find((h) => h.name === seed.name)
          if (last === undefined || seed.expects === undefined) continue
          for (const [table, expected] of Object.entries(seed.expects(options.scale ?? last.scale))) {
            const rows = yield* sql.unsafe<{ n: number }>(`SELECT count(*)::int AS n FROM ${quoteQualified(table)}`)
            const actual = rows[0]?.n ?? 0
            if (actual < expected) problems.push({ seed: seed.name, table, expected, actual })
          }
        }
        return problems
      })

    const clean = (options: { readonly yes?: boolean | undefined } = {}) =>
      Effect.gen(function*() {
        const guard = yield* Guard
        const generated = [...(Either.getOrElse(order(seeds), () => seeds))].filter((s) => s.profile !== "reference").reverse()
        const tables = [...new Set(generated.flatMap((s) => s.tables ?? []))]
        yield* guard.confirm({
          action: `delete generated data from ${tables.join(", ") || "no tables"}`,
          variable: "DB_SEED_CLEAN",
          target: database.database,
          yes: options.yes
        })
        return yield* sql.withTransaction(
          Effect.gen(function*() {
            yield* sql`SELECT set_config('dbkit.audit', 'off', true)`
            const deleted: Array<{ table: string; rows: number }> = []
            for (const table of tables) {
              const rows = yield* sql.unsafe<{ n: number }>(
                `WITH gone AS (DELETE FROM ${quoteQualified(table)} RETURNING 1) SELECT count(*)::int AS n FROM gone`
              )
              deleted.push({ table, rows: rows[0]?.n ?? 0 })
            }
            const exists = yield* sql<{ e: boolean }>`SELECT to_regclass('dbkit.seeds') IS NOT NULL AS e`
            if (exists[0]?.e) {
              yield* sql`DELETE FROM dbkit.seeds WHERE name IN ${sql.in(generated.map((s) => s.name))}`
            }
            return { tables: deleted }
          })
        )
      })

    return Seeder.of({ run, list, validate, clean })
  })

/** The Seeder over the given seeds. */
export const layer = (options: { readonly seeds: ReadonlyArray<Seed> }): Layer.Layer<
  Seeder,
  never,
  SqlClient.SqlClient | DbConfig | Database
> => Layer.effect(Seeder, make_(options.seeds))

/**
 * The Seeder over the project's seeds: the modules `seeds` names in dbkit.config.ts. A project
 * that declares none is InvalidConfig naming the field, unless `optional` (then it seeds nothing).
 */
export const layerConfig = (options: { readonly optional?: boolean | undefined } = {}): Layer.Layer<
  Seeder,
  InvalidConfig,
  SqlClient.SqlClient | DbConfig | Database
> =>
  Layer.unwrapEffect(
    Effect.gen(function*() {
      const project = yield* Project.current
      return layer({ seeds: yield* (options.optional === true ? Project.seeds(project) : Project.requiredSeeds(project)) })
    })
  )
