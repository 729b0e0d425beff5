// The memory side of the serve bench row (rows/14-serve-memory.mjs): what `dbkit serve`'s background runs — the
// job scheduler (a health job every minute) and the dashboard's sampler (every minute) — over a real pool to
// DATABASE_URL, driven through BENCH_MINUTES simulated minutes with TestClock: each minute the clock moves and the
// run waits (in real time) until that minute's job run is recorded. Prints one JSON line: RSS and JS heap in use after
// warm-up (idle) and at the end (after a GC when node runs with --expose-gc), and the runs recorded.
// Exits non-zero unless every minute's job ran.
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeTerminal from "@effect/platform-node/NodeTerminal"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as TestClock from "effect/TestClock"
import * as TestContext from "effect/TestContext"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as Backup from "../../src/backup/Backup.js"
import * as Config from "../../src/Config.js"
import { PgLive } from "../../src/Database.js"
import * as Guard from "../../src/Guard.js"
import * as Health from "../../src/health/Health.js"
import * as Maintenance from "../../src/maintenance/Maintenance.js"
import * as Migrator from "../../src/migrator/Migrator.js"
import { fromDirectory } from "../../src/migrator/source.js"
import * as Sampler from "../../src/serve/dashboard/Sampler.js"
import { Jobs } from "../../src/serve/jobs/Jobs.js"

const minutes = Number(process.env.BENCH_MINUTES ?? "60")
const url = Redacted.make(process.env.DATABASE_URL ?? "")
const noMigrations = fs.mkdtempSync(path.join(os.tmpdir(), "dbkit-serve-hour-"))

/** RSS and the JS heap in use, after a GC when node runs with --expose-gc. */
const memoryKb = () => {
  ;(globalThis as { gc?: () => void }).gc?.()
  const { heapUsed, rss } = process.memoryUsage()
  return { rss: Math.round(rss / 1024), heap: Math.round(heapUsed / 1024) }
}
/** A wait in real time (the Clock is the test's). */
const realSleep = (ms: number) => Effect.promise(() => new Promise((resolve) => setTimeout(resolve, ms)))

/** One name per process: the runs of earlier processes on the same database are not this one's. */
const job = `pulse_${process.pid}`

const services = Jobs.layer({
  settings: { jobs: { [job]: { run: "health", cron: "* * * * *" } }, backupRetention: { keepLast: 2 } }
}).pipe(
  Layer.provideMerge(
    Layer.mergeAll(
      Maintenance.layer(),
      Health.layer().pipe(Layer.provide(Migrator.layer({ source: fromDirectory(noMigrations) })))
    ).pipe(Layer.provideMerge(Backup.layer))
  ),
  Layer.provide(Guard.layer.pipe(Layer.provide(NodeTerminal.layer))),
  Layer.provideMerge(Layer.orDie(PgLive({ url, poolSize: 4 }))),
  Layer.provideMerge(Config.layerFrom({ environment: "development", backupDir: noMigrations, databaseUrl: Option.some(url) })),
  Layer.provide(NodeContext.layer),
  Layer.orDie
)

const program = Effect.gen(function*() {
  const jobs = yield* Jobs
  const sampler = yield* Sampler.make()
  const runs = Effect.map(jobs.recent({ name: job, limit: 1000 }), (r) => r.length)
  yield* Effect.forkScoped(jobs.scheduler)
  yield* Effect.forkScoped(sampler.loop)
  // Warm-up: one minute, so the pools, the tables and the code paths exist before "idle" is read.
  yield* TestClock.adjust("1 minute")
  while ((yield* runs) < 1) yield* realSleep(20)
  const idle = memoryKb()
  for (let minute = 2; minute <= minutes + 1; minute++) {
    yield* TestClock.adjust("1 minute")
    const deadline = Date.now() + 20_000
    while ((yield* runs) < minute && Date.now() < deadline) yield* realSleep(10)
  }
  const recorded = yield* runs
  const end = memoryKb()
  process.stdout.write(`${JSON.stringify({ minutes, idleKb: idle.rss, endKb: end.rss, idleHeapKb: idle.heap, endHeapKb: end.heap, runs: recorded })}\n`)
  if (recorded < minutes + 1) return yield* Effect.die(new Error(`only ${recorded} of ${minutes + 1} runs recorded`))
})

Effect.runPromise(program.pipe(Effect.scoped, Effect.provide(services), Effect.provide(TestContext.TestContext))).then(
  () => process.exit(0),
  (error) => {
    console.error(error)
    process.exit(1)
  }
)
