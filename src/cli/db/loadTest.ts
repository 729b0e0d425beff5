/**
 * `dbkit db load-test`: throughput and latency percentiles of the reference schema's queries.
 */
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import { DbConfig } from "../../Config.js"
import { Maintenance } from "../../maintenance/Maintenance.js"
import { banner, duration, json } from "../render.js"
import { jsonOption, yesOption } from "../shared.js"
import { count } from "./shared.js"

export const loadTest = Command.make(
  "load-test",
  {
    queries: Options.integer("queries").pipe(Options.withDefault(1000), Options.withDescription("How many queries to run (default 1000)")),
    concurrency: Options.integer("concurrency").pipe(
      Options.withDefault(4),
      Options.withDescription("How many at once (default 4; connections come from the pool, DB_POOL_SIZE)")
    ),
    type: Options.choice("type", ["read", "write", "mixed"]).pipe(
      Options.withDefault("read" as const),
      Options.withDescription("read: tenant-scoped selects on customers and invoices; write: inserts; mixed: three reads to one write")
    ),
    duration: Options.integer("duration").pipe(Options.withDefault(60), Options.withDescription("Stop after this many seconds at most (default 60)")),
    yes: yesOption,
    json: jsonOption
  },
  (options) =>
    Effect.gen(function*() {
      const maintenance = yield* Maintenance
      const config = yield* DbConfig
      yield* banner("db load-test")
      if (options.concurrency > config.poolSize) {
        yield* Console.error(`note: --concurrency ${options.concurrency} is more than the pool's ${config.poolSize} connections (DB_POOL_SIZE); queries will wait for one`)
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
        `${count(report.completed)} ${report.type} queries at concurrency ${report.concurrency} in ${duration(report.durationMs)}` +
          (report.stoppedBy === "duration" ? ` (stopped by --duration; ${count(report.requested)} requested)` : "")
      )
      yield* Console.log(`throughput  ${report.throughput} queries/s`)
      yield* Console.log(`latency     p50 ${l.p50} ms  p90 ${l.p90} ms  p99 ${l.p99} ms  max ${l.max} ms  mean ${l.mean} ms`)
      yield* Console.log(`errors      ${report.errors}${report.firstError ? ` (first: ${report.firstError})` : ""}`)
      yield* Console.log(`data        a load-test tenant with ${report.fixture.customers} customers and ${report.fixture.invoices} invoices, deleted afterwards; reads spread over ${report.fixture.tenants} tenants`)
    })
).pipe(
  Command.withDescription(
    "Load-test the reference schema: N queries at concurrency C (bounded by --duration), reported as throughput and latency p50/p90/p99/max. " +
      "Brings its own tenant and deletes it afterwards. Server only; guarded in production (DB_LOAD_TEST_CONFIRM / --yes and DB_LOAD_TEST_ALLOW_PRODUCTION)"
  )
)
