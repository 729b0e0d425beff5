/**
 * What a seed is: its profile, what it gets while it runs, and the rules that follow from its
 * declaration (whether it runs once, which profiles a run takes).
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import type * as Effect from "effect/Effect"
import type * as Option from "effect/Option"
import type { BulkInsertFailed, CopyOptions, CopyValue } from "../Bulk.js"
import type { Environment } from "../Config.js"
import type * as Random from "./random.js"

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

/** Whether a seed runs once and is recorded (generated data by default) or every time (reference data). */
export const onceOf = (seed: Seed): boolean => seed.once ?? seed.profile !== "reference"

/** The generated profile an environment gets by default. */
export const defaultProfile = (environment: Environment): Profile =>
  environment === "test" ? "test" : environment === "development" ? "development" : "reference"

/** The profiles whose seeds a run for `profile` takes (see `Profile`). */
export const profilesOf = (profile: Profile): ReadonlyArray<Profile> =>
  profile === "test"
    ? ["reference", "development", "test"]
    : profile === "development"
    ? ["reference", "development"]
    : ["reference"]
