/**
 * The dashboard's history: every minute (by the Clock, so TestClock drives it in tests) one pass
 * stores the database's client connections, transactions per second (the xact_commit +
 * xact_rollback delta since the previous pass), dead tuples and size in `dbkit.samples`, and
 * deletes rows past the retention (2 days by default), so the table stays a few thousand rows.
 *
 * A pass that fails (the database is down, the role may not write) is logged and the next one
 * runs as planned: the history has a gap, the server keeps serving.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Ref from "effect/Ref"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import * as SubscriptionRef from "effect/SubscriptionRef"
import type { Query } from "../../maintenance/catalog.js"
import { reason as reasonOf } from "../../ServerError.js"

/** What a pass records, by its name in `dbkit.samples.metric`. */
export const metrics = ["connections", "transactions", "dead_tuples", "database_bytes"] as const
export type Metric = typeof metrics[number]

/** One stored sample. */
export interface Sample {
  readonly metric: Metric
  /** Epoch milliseconds. */
  readonly at: number
  readonly value: number
}

/** What one pass did. */
export interface SamplePass {
  readonly takenAt: Date
  readonly samples: ReadonlyArray<{ readonly metric: Metric; readonly value: number }>
  /** Rows past the retention, deleted. */
  readonly deleted: number
}

export interface SamplerOptions {
  /** Time between passes (default 1 minute). */
  readonly interval?: Duration.DurationInput | undefined
  /** Samples older than this are deleted at each pass (default 2 days). */
  readonly retention?: Duration.DurationInput | undefined
}

/** The sampler running in the background, with its layer. */
export class Sampler extends Context.Tag("dbkit/Sampler")<Sampler, {
  /** Takes one sample now and applies the retention: what each scheduled pass does. */
  readonly sample: Effect.Effect<SamplePass, SqlError>
  /** The number of scheduled passes finished (failed ones too), current value first. */
  readonly passes: Stream.Stream<number>
}>() {
  /** Samples every `interval` for the life of the layer. */
  static get layer(): typeof layer {
    return layer
  }
  /** The same without the service, for `Serve.layer({ background })`. */
  static get background(): typeof background {
    return background
  }
}

// Created only when missing: CREATE SCHEMA IF NOT EXISTS needs the CREATE privilege even when
// the schema exists, and a role that may read and write dbkit's tables need not have it. The
// transaction-level advisory lock keeps two processes starting at once from racing on it.
const ENSURE_TABLE = `SELECT pg_advisory_xact_lock(hashtext('dbkit.samples'));
DO $$ BEGIN
  IF to_regclass('dbkit.samples') IS NULL THEN
    CREATE SCHEMA IF NOT EXISTS dbkit;
    CREATE TABLE dbkit.samples (taken_at timestamptz NOT NULL, metric text NOT NULL, value double precision NOT NULL);
    CREATE INDEX samples_taken_at_idx ON dbkit.samples (taken_at);
    COMMENT ON TABLE dbkit.samples IS 'dbkit serve dashboard history; rows past the retention are deleted';
  END IF;
END $$`

// Server-wide client connections (max_connections is server-wide), the rest for this database.
const READ_COUNTERS = `SELECT
  (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend')::float8 AS connections,
  (SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = current_database())::float8 AS transactions,
  (SELECT coalesce(sum(n_dead_tup), 0) FROM pg_stat_user_tables)::float8 AS dead_tuples,
  pg_database_size(current_database())::float8 AS database_bytes`

interface Counters {
  readonly connections: number
  readonly transactions: number | null
  readonly dead_tuples: number
  readonly database_bytes: number
}

/** The transactions-per-second figure between two readings of the counter, if it means anything. */
export const transactionRate = (
  previous: { readonly at: number; readonly total: number } | undefined,
  current: { readonly at: number; readonly total: number }
): number | undefined =>
  // A counter that went down was reset (pg_stat_reset): no rate for this interval.
  previous === undefined || current.at <= previous.at || current.total < previous.total
    ? undefined
    : (current.total - previous.total) / ((current.at - previous.at) / 1000)

/** Builds the sampler over the SqlClient in context (nothing runs until `sample` or the layer's loop). */
export const make = (
  options: SamplerOptions = {}
): Effect.Effect<Sampler["Type"] & { readonly loop: Effect.Effect<void> }, never, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const retentionMs = Duration.toMillis(options.retention ?? Duration.days(2))
    const interval = options.interval ?? Duration.minutes(1)
    const ready = yield* Ref.make(false)
    const lastTransactions = yield* Ref.make<{ readonly at: number; readonly total: number } | undefined>(undefined)
    const passes = yield* SubscriptionRef.make(0)

    const ensureTable = Effect.unlessEffect(
      Effect.zipRight(sql.withTransaction(sql.unsafe(ENSURE_TABLE)), Ref.set(ready, true)),
      Ref.get(ready)
    )

    const sample = Effect.gen(function*() {
      yield* ensureTable
      const now = yield* Clock.currentTimeMillis
      const takenAt = new Date(now)
      const [counters] = yield* sql.unsafe<Counters>(READ_COUNTERS)
      if (counters === undefined) return { takenAt, samples: [], deleted: 0 }
      const rate = counters.transactions === null ? undefined : transactionRate(
        yield* Ref.getAndSet(lastTransactions, { at: now, total: counters.transactions }),
        { at: now, total: counters.transactions }
      )
      const samples = [
        { metric: "connections" as const, value: counters.connections },
        ...(rate === undefined ? [] : [{ metric: "transactions" as const, value: rate }]),
        { metric: "dead_tuples" as const, value: counters.dead_tuples },
        { metric: "database_bytes" as const, value: counters.database_bytes }
      ]
      const deleted = yield* sql.withTransaction(Effect.gen(function*() {
        yield* sql.unsafe(
          `INSERT INTO dbkit.samples (taken_at, metric, value) VALUES ${
            samples.map((_, i) => `($1::timestamptz, $${2 * i + 2}, $${2 * i + 3}::float8)`).join(", ")
          }`,
          [takenAt.toISOString(), ...samples.flatMap((s) => [s.metric, s.value])]
        )
        const gone = yield* sql.unsafe<{ n: number }>(
          `WITH gone AS (DELETE FROM dbkit.samples WHERE taken_at < $1::timestamptz RETURNING 1)
           SELECT count(*)::int AS n FROM gone`,
          [new Date(now - retentionMs).toISOString()]
        )
        return gone[0]?.n ?? 0
      }))
      return { takenAt, samples, deleted } satisfies SamplePass
    })

    const pass = sample.pipe(
      Effect.tap((done) =>
        Effect.logDebug("dashboard sample taken").pipe(
          Effect.annotateLogs({ samples: done.samples.length, deleted: done.deleted })
        )
      ),
      Effect.catchAllCause((cause) =>
        Effect.logWarning(`dashboard sample failed: ${reasonOf(Cause.squash(cause))} (the next pass runs as planned)`)
      ),
      Effect.zipRight(SubscriptionRef.update(passes, (n) => n + 1))
    )

    return {
      sample,
      passes: passes.changes,
      // The first pass now, then one per interval on the Clock (fixed: a slow pass does not shift the rest).
      loop: Effect.asVoid(Effect.repeat(pass, Schedule.fixed(interval)))
    }
  })

/** Samples every `interval` (first pass at once) for the life of the layer, as `Serve.layer`'s `background`. */
export const background = (options: SamplerOptions = {}): Layer.Layer<never, never, SqlClient.SqlClient> =>
  Layer.scopedDiscard(Effect.flatMap(make(options), (sampler) => Effect.forkScoped(sampler.loop)))

/** Samples every `interval` (first pass at once) for the life of the layer, and gives access to it. */
export const layer = (options: SamplerOptions = {}): Layer.Layer<Sampler, never, SqlClient.SqlClient> =>
  Layer.scoped(
    Sampler,
    Effect.gen(function*() {
      const { loop, ...service } = yield* make(options)
      yield* Effect.forkScoped(loop)
      return Sampler.of(service)
    })
  )

/** The samples of the window [from, to] (epoch ms), oldest first; none while the table does not exist. */
export const samplesBetween = (
  query: Query,
  from: number,
  to: number
): Effect.Effect<ReadonlyArray<Sample>, SqlError> =>
  Effect.gen(function*() {
    const [table] = yield* query<{ exists: boolean }>(`SELECT to_regclass('dbkit.samples') IS NOT NULL AS "exists"`)
    if (table?.exists !== true) return []
    const rows = yield* query<{ metric: Metric; at: number; value: number }>(
      `SELECT metric, (extract(epoch FROM taken_at) * 1000)::float8 AS at, value
         FROM dbkit.samples WHERE taken_at BETWEEN $1::timestamptz AND $2::timestamptz ORDER BY taken_at`,
      [new Date(from).toISOString(), new Date(to).toISOString()]
    )
    return rows
  })
