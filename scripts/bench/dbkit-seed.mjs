// dbkit side of the seed bench row (rows/04-seed.mjs), as a library user would write it: one development seed that
// generates BENCH_ROWS rows of the wide table deterministically with ctx.random (a lazy generator) and writes them
// with ctx.copy (COPY in the seed's transaction), run through Seeder.layer on PgLive. DATABASE_URL must be set and
// the table must exist. Exits non-zero unless the seed ran and reported exactly BENCH_ROWS rows.
//
// BENCH_SEED_MODE (untimed analysis only, never on timed runs; no database needed) prints JSON timings:
//   generate   iterate the generator alone (no CSV, no database)
//   sink       dbkit's own copyRows (generator + its CSV encoding + its batching and stream pump) into a stream
//              that discards the bytes: a stand-in connection whose pg client's query() returns that stream, so
//              everything in-process runs as in a real seed and only the server is missing
import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import { Writable } from "node:stream"
import { DbConfig, PgLive, Random, Seeder, copyRows } from "../../dist/index.js"
import { COLUMNS, SEED_NAME, TABLE, wideRows } from "./seed-wide.mjs"

const n = Number(process.env.BENCH_ROWS)
if (!Number.isInteger(n) || n < 1) {
  console.error("dbkit-seed: BENCH_ROWS must be a positive integer")
  process.exit(1)
}

const mode = process.env.BENCH_SEED_MODE
if (mode) {
  const random = Random.make(1, SEED_NAME)
  let count = 0
  let bytes = 0
  const t0 = performance.now()
  if (mode === "generate") {
    for (const _ of wideRows(random, Random, n)) count++
  } else if (mode === "sink") {
    const sink = new Writable({
      write(chunk, _enc, cb) {
        bytes += chunk.length
        cb()
      }
    })
    const conn = { pg: { query: () => sink } }
    count = await Effect.runPromise(
      copyRows(TABLE, COLUMNS, wideRows(random, Random, n)).pipe(
        Effect.provideService(SqlClient.TransactionConnection, [conn, 0]),
        Effect.provideService(SqlClient.SqlClient, {})
      )
    )
  } else {
    console.error(`dbkit-seed: unknown BENCH_SEED_MODE ${mode} (generate, sink)`)
    process.exit(1)
  }
  const ms = performance.now() - t0
  console.log(JSON.stringify({ mode, rows: count, ms, bytes, rssKb: Math.round(process.memoryUsage().rss / 1024) }))
  process.exit(0)
}

const url = process.env.DATABASE_URL
if (!url) {
  console.error("dbkit-seed: DATABASE_URL is not set")
  process.exit(1)
}

const wide = Seeder.make({
  name: SEED_NAME,
  profile: "development",
  tables: [TABLE],
  run: (ctx) => ctx.copy(TABLE, COLUMNS, wideRows(ctx.random, Random, n))
})

const program = Effect.gen(function*() {
  const seeder = yield* Seeder
  const results = yield* seeder.run()
  const r = results.find((x) => x.seed === SEED_NAME)
  if (r?.status !== "ran" || r.rows !== n) {
    return yield* Effect.die(new Error(`dbkit-seed: expected ${SEED_NAME} to run ${n} rows, got ${JSON.stringify(results)}`))
  }
})

const live = Seeder.layer({ seeds: [wide] }).pipe(
  Layer.provide(Layer.merge(PgLive({ url: Redacted.make(url) }), DbConfig.layerFrom({ environment: "development" })))
)

Effect.runPromise(Effect.provide(program, live)).catch((e) => {
  console.error(e)
  process.exitCode = 1
})
