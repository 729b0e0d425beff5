/**
 * `dbkit.seeds`, the record of seed runs: one row per seed (and tenant) with the seed number,
 * scale, row count and duration of its last run. Every statement the Seeder sends to it is here.
 */
import type { SqlError } from "@effect/sql/SqlError"
import * as Effect from "effect/Effect"
import type { SeederContext } from "./context.js"
import type { Profile } from "./seed.js"

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

/** A recorded run, as read back. */
export interface HistoryEntry {
  readonly name: string
  /** The `--tenant` it ran for; '' for none. */
  readonly tenant: string
  /** When it ran, ISO 8601 UTC to the second. */
  readonly ranAt: string
  /** Its row count as text (a bigint), or null when it reported none. */
  readonly rows: string | null
  readonly seedNumber: number
  readonly scale: number
}

/** dbkit.seeds as it is now: made when missing, widened when an older dbkit made it. */
export const ensureHistory = (context: SeederContext): Effect.Effect<void, SqlError> =>
  Effect.gen(function*() {
    const { sql } = context
    yield* sql.unsafe(HISTORY)
    // Older tables: seed_number was an integer (now any safe integer) and rows always set.
    const [old] = yield* sql<{ narrow: boolean | null; required: boolean | null }>`
      SELECT bool_or(attname = 'seed_number' AND atttypid = 'int4'::regtype) AS narrow,
             bool_or(attname = 'rows' AND attnotnull) AS required
        FROM pg_attribute WHERE attrelid = 'dbkit.seeds'::regclass AND attname IN ('seed_number', 'rows')`
    if (old?.narrow === true) yield* sql`ALTER TABLE dbkit.seeds ALTER COLUMN seed_number TYPE bigint`
    if (old?.required === true) yield* sql`ALTER TABLE dbkit.seeds ALTER COLUMN rows DROP NOT NULL`
  })

/** Every recorded run; none while dbkit.seeds does not exist (nothing was ever seeded). */
export const readHistory = (context: SeederContext): Effect.Effect<ReadonlyArray<HistoryEntry>, SqlError> => {
  const { sql } = context
  return Effect.flatMap(
    sql<{ exists: boolean }>`SELECT to_regclass('dbkit.seeds') IS NOT NULL AS "exists"`,
    (rows) =>
      rows[0]?.exists
        ? sql<HistoryEntry>`
            SELECT name, tenant, to_char(ran_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS "ranAt",
                   rows::text AS rows, seed_number::float8 AS "seedNumber", scale FROM dbkit.seeds`
        : Effect.succeed([])
  )
}

/** Records a seed's run (replacing its previous record for the same tenant), in the caller's transaction. */
export const recordRun = (
  context: SeederContext,
  run: {
    readonly name: string
    readonly tenant: string
    readonly profile: Profile
    readonly seedNumber: number
    readonly scale: number
    readonly rows: number | null
    readonly durationMs: number
  }
): Effect.Effect<void, SqlError> =>
  Effect.asVoid(context.sql`
    INSERT INTO dbkit.seeds (name, tenant, profile, seed_number, scale, rows, duration_ms)
    VALUES (${run.name}, ${run.tenant}, ${run.profile}, ${run.seedNumber}, ${run.scale}, ${run.rows}, ${run.durationMs})
    ON CONFLICT (name, tenant) DO UPDATE SET profile = EXCLUDED.profile, seed_number = EXCLUDED.seed_number,
      scale = EXCLUDED.scale, rows = EXCLUDED.rows, duration_ms = EXCLUDED.duration_ms, ran_at = now()`)

/** Forgets the runs of these seeds (for every tenant), if dbkit.seeds exists. */
export const forgetRuns = (context: SeederContext, names: ReadonlyArray<string>): Effect.Effect<void, SqlError> =>
  Effect.gen(function*() {
    const { sql } = context
    const exists = yield* sql<{ e: boolean }>`SELECT to_regclass('dbkit.seeds') IS NOT NULL AS e`
    if (exists[0]?.e) {
      yield* sql`DELETE FROM dbkit.seeds WHERE name IN ${sql.in(names)}`
    }
  })
