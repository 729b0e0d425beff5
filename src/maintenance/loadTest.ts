/**
 * `db load-test`: N queries of the reference schema at concurrency C over the pool, bounded by
 * a duration, reported as throughput and latency percentiles.
 *
 * It brings its own data: a load-test tenant (an organization with customers and invoices) made
 * before the run and deleted after it, whatever happens — interrupted, failed or done — so it
 * never leaves anything behind. Reads are the application's tenant-scoped queries (customer
 * list, recent invoices with their customer, invoice totals by status) spread over the
 * load-test tenant and up to 20 existing ones; writes insert customers into the load-test tenant.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Effect from "effect/Effect"
import { reason as reasonOf } from "../ServerError.js"
import { InvalidMaintenanceOptions, LoadTestSchemaMissing } from "./errors.js"

export type LoadTestType = "read" | "write" | "mixed"

export interface LoadTestOptions {
  /** How many queries to run (at most). */
  readonly queries: number
  /** How many run at once (connections come from the pool: DB_POOL_SIZE). */
  readonly concurrency: number
  /** read, write, or mixed (three reads to one write). */
  readonly type: LoadTestType
  /** Stop starting queries after this many seconds (default 60). */
  readonly durationSeconds?: number | undefined
}

/** Latency percentiles in milliseconds. */
export interface Latency {
  readonly p50: number
  readonly p90: number
  readonly p99: number
  readonly max: number
  readonly mean: number
}

export interface LoadTestReport {
  readonly type: LoadTestType
  readonly concurrency: number
  readonly requested: number
  /** Queries that ran (succeeded or failed). */
  readonly completed: number
  readonly errors: number
  /** The first failure's one-line reason (no SQL, no parameters). */
  readonly firstError: string | null
  /** Whether the run ended because every query ran or because time was up. */
  readonly stoppedBy: "count" | "duration"
  readonly durationMs: number
  /** Completed queries per second. */
  readonly throughput: number
  /** Of the successful queries. */
  readonly latencyMs: Latency
  /** The load-test data made before the run (and deleted after it). */
  readonly fixture: { readonly customers: number; readonly invoices: number; readonly tenants: number }
}

const round = (n: number) => Math.round(n * 100) / 100

/** Nearest-rank percentiles of `samples` (any order); zeros when there are none. */
export const percentiles = (samples: ReadonlyArray<number>): Latency => {
  if (samples.length === 0) return { p50: 0, p90: 0, p99: 0, max: 0, mean: 0 }
  const sorted = [...samples].sort((a, b) => a - b)
  const at = (p: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!
  return {
    p50: round(at(0.5)),
    p90: round(at(0.9)),
    p99: round(at(0.99)),
    max: round(sorted[sorted.length - 1]!),
    mean: round(sorted.reduce((s, x) => s + x, 0) / sorted.length)
  }
}

const READS = [
  "SELECT id, name, email FROM customers WHERE tenant_id = $1 ORDER BY created_at DESC LIMIT 20",
  `SELECT i.id, i.number, i.total, c.name FROM invoices i JOIN customers c ON c.id = i.customer_id
    WHERE i.tenant_id = $1 ORDER BY i.issue_date DESC, i.number LIMIT 20`,
  "SELECT status, count(*)::int AS n, sum(total) AS total FROM invoices WHERE tenant_id = $1 GROUP BY status"
] as const
const WRITE = "INSERT INTO customers (tenant_id, name, email) VALUES ($1, $2, $3)"

/** Whether query `i` of a run of `type` writes. */
export const isWrite = (type: LoadTestType, i: number) => type === "write" || (type === "mixed" && i % 4 === 3)

const FIXTURE = { customers: 100, invoices: 500 }

/** Checks the options. */
export const checkOptions = (options: LoadTestOptions): Effect.Effect<void, InvalidMaintenanceOptions> => {
  const bad = !Number.isInteger(options.queries) || options.queries < 1
    ? "--queries must be a whole number of at least 1"
    : !Number.isInteger(options.concurrency) || options.concurrency < 1 || options.concurrency > 1000
    ? "--concurrency must be a whole number from 1 to 1000"
    : !["read", "write", "mixed"].includes(options.type)
    ? "--type must be read, write or mixed"
    : options.durationSeconds !== undefined && !(options.durationSeconds > 0)
    ? "--duration must be more than 0 seconds"
    : undefined
  return bad ? Effect.fail(new InvalidMaintenanceOptions({ reason: bad })) : Effect.void
}

/** The fixture tenant: made, used, and removed even on failure or interruption. */
const withFixture = <A, E, R>(sql: SqlClient.SqlClient, use: (tenantId: string) => Effect.Effect<A, E, R>) =>
  Effect.acquireUseRelease(
    sql.withTransaction(
      Effect.gen(function*() {
        const suffix = `${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`
        const [org] = yield* sql.unsafe<{ id: string }>(
          "INSERT INTO organizations (slug, name) VALUES ($1, 'dbkit load test (deleted when the run ends)') RETURNING id::text AS id",
          [`dbkit_load_test_${suffix}`]
        )
        const id = org!.id
        yield* sql.unsafe(
          `INSERT INTO customers (tenant_id, name, email)
           SELECT $1::uuid, 'Load test customer ' || g, 'load-test-' || g || '@example.invalid' FROM generate_series(1, $2::int) g`,
          [id, FIXTURE.customers]
        )
        yield* sql.unsafe(
          `WITH c AS (SELECT id, row_number() OVER (ORDER BY id) - 1 AS i FROM customers WHERE tenant_id = $1::uuid)
           INSERT INTO invoices (tenant_id, number, customer_id, status, issue_date, due_date, currency, total)
           SELECT $1::uuid, 'LT-' || g, c.id, (ARRAY['draft', 'issued', 'paid']::invoice_status[])[1 + g % 3],
                  current_date - (g % 90), current_date - (g % 90) + 30, 'EUR', (g % 1000) + 0.5
             FROM generate_series(1, $2::int) g JOIN c ON c.i = g % $3::int`,
          [id, FIXTURE.invoices, FIXTURE.customers]
        )
        return id
      })
    ),
    use,
    (id) =>
      sql.withTransaction(
        Effect.all([
          sql.unsafe("DELETE FROM invoices WHERE tenant_id = $1::uuid", [id]),
          sql.unsafe("DELETE FROM customers WHERE tenant_id = $1::uuid", [id]),
          sql.unsafe("DELETE FROM organizations WHERE id = $1::uuid", [id])
        ], { discard: true })
      ).pipe(
        Effect.tapError((error) => Effect.logError(`could not delete the load-test tenant ${id}: ${reasonOf(error)}`)),
        Effect.ignore
      )
  )

/** Runs the load test on the reference schema in `sql`. */
export const run = (
  sql: SqlClient.SqlClient,
  options: LoadTestOptions
): Effect.Effect<LoadTestReport, InvalidMaintenanceOptions | LoadTestSchemaMissing | SqlError> =>
  Effect.gen(function*() {
    yield* checkOptions(options)
    const [present] = yield* sql.unsafe<{ organizations: boolean; customers: boolean; invoices: boolean }>(
      `SELECT to_regclass('organizations') IS NOT NULL AS organizations, to_regclass('customers') IS NOT NULL AS customers,
              to_regclass('invoices') IS NOT NULL AS invoices`
    )
    const missing = (["organizations", "customers", "invoices"] as const).filter((t) => !present?.[t])
    if (missing.length > 0) return yield* new LoadTestSchemaMissing({ missing })

    return yield* withFixture(sql, (fixture) =>
      Effect.gen(function*() {
        const others = yield* sql.unsafe<{ id: string }>(
          "SELECT id::text AS id FROM organizations WHERE id <> $1::uuid ORDER BY id LIMIT 20",
          [fixture]
        )
        const tenants = [fixture, ...others.map((o) => o.id)]
        const latencies: Array<number> = []
        let issued = 0
        let errors = 0
        let firstError: string | null = null
        const started = performance.now()
        const deadline = started + (options.durationSeconds ?? 60) * 1000

        const statement = (i: number) =>
          isWrite(options.type, i)
            ? sql.unsafe(WRITE, [fixture, `Load test customer w${i}`, `load-test-w${i}@example.invalid`])
            : sql.unsafe(READS[i % READS.length]!, [tenants[i % tenants.length]])

        // Each worker takes the next query until all are issued or time is up.
        const worker = Effect.gen(function*() {
          while (issued < options.queries && performance.now() < deadline) {
            const i = issued++
            const t0 = performance.now()
            const result = yield* Effect.either(statement(i))
            if (result._tag === "Right") latencies.push(performance.now() - t0)
            else {
              errors++
              firstError ??= reasonOf(result.left)
            }
          }
        })
        yield* Effect.all(Array.from({ length: Math.min(options.concurrency, options.queries) }, () => worker), {
          concurrency: "unbounded",
          discard: true
        })
        const durationMs = performance.now() - started
        const completed = latencies.length + errors
        return {
          type: options.type,
          concurrency: options.concurrency,
          requested: options.queries,
          completed,
          errors,
          firstError,
          stoppedBy: completed < options.queries ? "duration" : "count",
          durationMs: Math.round(durationMs),
          throughput: round(completed / Math.max(0.001, durationMs / 1000)),
          latencyMs: percentiles(latencies),
          fixture: { ...FIXTURE, tenants: tenants.length }
        } satisfies LoadTestReport
      }))
  })
