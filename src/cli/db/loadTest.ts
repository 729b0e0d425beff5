/**
 * `dbkit db load-test`: throughput and latency percentiles of the reference schema's queries.
 */
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import { DbConfig } from "../../Config.js"
import { Maintenance } from "../../maintenance/Maintenance.js"
import { GuardLive } from "../live.js"
import type { Parsed } from "../options.js"
import { banner, count, duration, json } from "../render.js"
import type { loadTestConfig } from "./index.js"
import { MaintenanceLive } from "./live.js"

export const loadTest = (options: Parsed<typeof loadTestConfig>) =>
  Effect.gen(function*() {
    const maintenance = yield* Maintenance
    const config = yield* DbConfig
    yield* banner("db load-test")
    if (options.concurrency > config.poolSize) {
      yield* Console.error(
        `note: --concurrency ${options.concurrency} is more than the pool's ${config.poolSize} connections (DB_POOL_SIZE); queries will wait for one`
      )
    }
    const report = yield* maintenance.loadTest({
      queries: options.queries,
      concurrency: options.concurrency,
      type: options.type,
      durationSeconds: options.duration,
      yes: options.yes
    })
    if (options.json) return yield* json(report)
    const l = report.latencyMs
    yield* Console.log(
      `${count(report.completed)} ${report.type} queries at concurrency ${report.concurrency} in ${
        duration(report.durationMs)
      }` +
        (report.stoppedBy === "duration" ? ` (stopped by --duration; ${count(report.requested)} requested)` : "")
    )
    yield* Console.log(`throughput  ${report.throughput} queries/s`)
    yield* Console.log(
      `latency     p50 ${l.p50} ms  p90 ${l.p90} ms  p99 ${l.p99} ms  max ${l.max} ms  mean ${l.mean} ms`
    )
    yield* Console.log(`errors      ${report.errors}${report.firstError ? ` (first: ${report.firstError})` : ""}`)
    yield* Console.log(
      `data        a load-test tenant with ${report.fixture.customers} customers and ${report.fixture.invoices} invoices, deleted afterwards; reads spread over ${report.fixture.tenants} tenants`
    )
  }).pipe(Effect.provide(MaintenanceLive), Effect.provide(GuardLive))
