/**
 * Metrics: the database and dbkit's own state in the Prometheus text format, for `/metrics`.
 *
 * A scrape is cheap and never piles up: the catalog queries run on one connection in one
 * read-only, time-limited transaction (each collector under a savepoint), and scrapes that
 * arrive while one is running wait for it and share its answer. A collector that fails is left
 * out of that answer and counted in `dbkit_scrape_errors_total{collector}`; the scrape itself
 * never fails. When the database cannot be reached, `pg_up` is 0 and the figures that need it
 * are absent. `layerResilient` connects on demand, so the process starts (and says `pg_up 0`)
 * while the database is down, and connects once it is up.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { Backup } from "../../backup/Backup.js"
import { Migrator } from "../../migrator/Migrator.js"
import { type Collector, type CollectorContext, collectors } from "./collectors.js"
import { buildOnce } from "./connect.js"
import { counter, type Family, gauge, render } from "./format.js"

export { contentType } from "./format.js"

/** The services the collectors read. */
export type MetricsDependencies = SqlClient.SqlClient | Migrator | Backup

export interface MetricsOptions {
  /** Time limit of each catalog query, in milliseconds (default 5000). */
  readonly queryTimeoutMs?: number | undefined
  /** How long a catalog query may wait for a lock before it fails, in milliseconds (default 1000). */
  readonly lockTimeoutMs?: number | undefined
}

/** The Metrics service, with its layers. */
export class Metrics extends Context.Tag("dbkit/Metrics")<Metrics, {
  /** One scrape as exposition text; a scrape already running is shared, not repeated. Never fails. */
  readonly scrape: Effect.Effect<string>
  /** The collectors' names, as the `collector` label of `dbkit_scrape_errors_total` has them. */
  readonly collectors: ReadonlyArray<string>
}>() {
  /** Metrics over the SqlClient, Migrator and Backup in context. */
  static get layer(): typeof layer {
    return layer
  }
  /** Metrics that connects on demand through `dependencies` (pg_up 0 until it can). */
  static get layerResilient(): typeof layerResilient {
    return layerResilient
  }
}

/** What one collector gave: its families, or why it gave none. */
interface Outcome {
  readonly collector: Collector
  readonly families: ReadonlyArray<Family>
  readonly failure?: Cause.Cause<unknown>
}

/** The scrape's services, or none while the database cannot be reached. */
type Connect = Effect.Effect<Option.Option<Context.Context<MetricsDependencies>>>

const selfFamilies = (errors: ReadonlyMap<string, number>, seconds: number): ReadonlyArray<Family> => [
  counter(
    "dbkit_scrape_errors_total",
    "Collectors that failed during a scrape (their figures were left out of it), by collector",
    [...errors].map(([collector, value]) => ({ labels: { collector }, value }))
  ),
  gauge("dbkit_scrape_duration_seconds", "How long this scrape took", [{ value: seconds }])
]

/** Runs `run` in one read-only, time-limited transaction; `undefined` when the database does not answer. */
const inTransaction = <A>(
  sql: SqlClient.SqlClient,
  limits: { readonly statementMs: number; readonly lockMs: number },
  run: (query: CollectorContext["query"]) => Effect.Effect<A, unknown>
): Effect.Effect<A | undefined> => {
  const query: CollectorContext["query"] = <A extends object>(text: string, params: ReadonlyArray<unknown> = []) =>
    sql.unsafe<A>(text, params as Array<unknown>)
  return sql.withTransaction(
    Effect.gen(function*() {
      // A lock wait ends inside the statement's limit, so it is reported as a failure, not a hang.
      yield* sql.unsafe(
        `SET TRANSACTION READ ONLY; SET LOCAL statement_timeout = ${limits.statementMs}; ` +
          `SET LOCAL lock_timeout = ${limits.lockMs}`
      )
      return yield* run(query)
    })
  ).pipe(
    // statement_timeout bounds the server's work, not a connection that stopped answering: the scrape as a
    // whole has a limit too, so the one in flight (which every caller shares) always ends.
    Effect.timeout(limits.statementMs * 3 + 5_000),
    Effect.catchAllCause(() => Effect.succeed(undefined))
  )
}

/** Builds the service over a way to reach its dependencies. */
const make = (connect: Connect, options: MetricsOptions = {}) =>
  Effect.gen(function*() {
    const scope = yield* Effect.scope
    const statementMs = Math.max(1, Math.round(options.queryTimeoutMs ?? 5000))
    const limits = {
      statementMs,
      lockMs: Math.max(1, Math.min(statementMs, Math.round(options.lockTimeoutMs ?? 1000)))
    }
    const errors = new Map<string, number>(collectors.map((c) => [c.name, 0]))

    // A failing collector is left out; a defect too (a bug must not cost the scrape).
    const attempt = (collector: Collector, effect: Effect.Effect<ReadonlyArray<Family>, unknown>) =>
      effect.pipe(
        Effect.map((families): Outcome => ({ collector, families })),
        Effect.catchAllCause((cause) => Effect.succeed<Outcome>({ collector, families: [], failure: cause }))
      )
    const count = ({ collector, failure }: Outcome) =>
      failure === undefined ? Effect.void : Effect.zipRight(
        Effect.sync(() => errors.set(collector.name, (errors.get(collector.name) ?? 0) + 1)),
        Effect.logDebug("metrics collector failed", failure).pipe(Effect.annotateLogs("collector", collector.name))
      )

    const collectOnce: Effect.Effect<string> = Effect.gen(function*() {
      const started = performance.now()
      const services = yield* connect
      let families: Array<Family> = []
      let up = false
      if (Option.isSome(services)) {
        const sql = Context.get(services.value, SqlClient.SqlClient)
        const context = (query: CollectorContext["query"]): CollectorContext => ({
          query,
          migrator: Context.get(services.value, Migrator),
          backup: Context.get(services.value, Backup)
        })
        const fromSql = inTransaction(sql, limits, (query) =>
          Effect.gen(function*() {
            yield* query("SELECT 1")
            const out: Array<Outcome> = []
            for (const collector of collectors.filter((c) => c.uses === "sql")) {
              // Each collector under a savepoint: a failed query aborts only its own part.
              out.push(yield* attempt(collector, sql.withTransaction(collector.collect(context(query)))))
            }
            return out
          }))
        // The services (the migrations folder and history, the backup folder) meanwhile, on their own.
        const unusable: CollectorContext["query"] = () => Effect.die("not in a scrape transaction")
        const fromServices = Effect.forEach(
          collectors.filter((c) => c.uses === "services"),
          (collector) => attempt(collector, collector.collect(context(unusable))),
          { concurrency: "unbounded" }
        )
        const [inside, beside] = yield* Effect.all([fromSql, fromServices], { concurrency: 2 })
        up = inside !== undefined
        // While the database does not answer, only what stands without it is reported (or counted).
        const kept = [...(inside ?? []), ...beside.filter((o) => up || o.collector.offline)]
        yield* Effect.forEach(kept, count, { discard: true })
        families = kept.flatMap((o) => o.families)
      }
      const seconds = (performance.now() - started) / 1000
      return render([
        gauge("pg_up", "Whether the database answered this scrape (1 for yes, 0 for no)", [{ value: up ? 1 : 0 }]),
        ...families,
        ...selfFamilies(errors, seconds)
      ])
    })

    // The scrape in flight, shared by every caller until it ends; it runs in the layer's scope,
    // so a caller that goes away does not cancel it for the others. Checking for one and starting
    // one happen in one synchronous step, so two callers cannot both start one.
    let inFlight: Deferred.Deferred<string> | undefined
    const scrape = Effect.flatMap(Effect.fiberId, (fiberId) =>
      Effect.suspend(() => {
        if (inFlight !== undefined) return Deferred.await(inFlight)
        const started = Deferred.unsafeMake<string>(fiberId)
        inFlight = started
        return collectOnce.pipe(
          Effect.onExit((exit) =>
            Effect.zipRight(Effect.sync(() => (inFlight = undefined)), Deferred.done(started, exit))
          ),
          Effect.forkIn(scope),
          Effect.zipRight(Deferred.await(started))
        )
      }))

    return Metrics.of({ scrape, collectors: collectors.map((c) => c.name) })
  })

/** Metrics over the SqlClient, Migrator and Backup in context. */
export const layer = (options: MetricsOptions = {}): Layer.Layer<Metrics, never, MetricsDependencies> =>
  Layer.scoped(
    Metrics,
    Effect.flatMap(
      Effect.context<MetricsDependencies>(),
      (context) => make(Effect.succeed(Option.some(context)), options)
    )
  )

/**
 * Metrics that builds `dependencies` (the database, Migrator and Backup) on the first scrape and
 * again on each later one until that succeeds; until then scrapes say `pg_up 0`.
 */
export const layerResilient = <E, R>(
  dependencies: Layer.Layer<MetricsDependencies, E, R>,
  options: MetricsOptions = {}
): Layer.Layer<Metrics, never, R> =>
  Layer.scoped(
    Metrics,
    Effect.flatMap(buildOnce(dependencies), (connect) => make(Effect.option(connect), options))
  )
