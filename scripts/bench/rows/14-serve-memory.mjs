// Serve's memory over time: the background of `dbkit serve` — the job scheduler (a health job every minute) and the
// dashboard's sampler (every minute) — over a real pool, through an hour of schedule simulated with TestClock
// (scripts/bench/serve-hour.ts: each minute the clock moves and the run waits for that minute's job to be recorded).
//   60 minutes   the hour: 61 job runs and sampler passes
//   vs 0 minutes the same process warmed up (one run) and stopped: its idle footprint
// The figures that matter are the JS heap in use and the RSS after a GC, at idle and at the end of the hour (logged;
// RSS moves with V8's code and heap reservations, the heap in use is the sharper test), and the RSS column (peak of the
// whole process, GNU time): flat means no growth per run. The time ratio is what 60 more runs cost.
// Setup (untimed): a scratch database (the jobs and samples tables are created by the run).
const script = "scripts/bench/serve-hour.ts"

export async function rows(ctx) {
  const db = await ctx.scratchDb()
  try {
    const reports = { 60: [], 0: [] }
    const side = (minutes) =>
      ctx.processSide(`serve background, ${minutes} simulated minutes`, ctx.node, [
        "--expose-gc",
        "--import",
        "tsx",
        script
      ], {
        cwd: ctx.repoRoot,
        env: ctx.childEnv({ DATABASE_URL: db.url, BENCH_MINUTES: String(minutes) }),
        timeoutMs: 300_000,
        check: (_, r) => {
          const line = r.stdout.trim().split("\n").pop() ?? ""
          const report = JSON.parse(line)
          if (report.runs !== minutes + 1) throw new Error(`bench: serve-hour recorded ${report.runs} runs:\n${r.stderr}`)
          reports[minutes].push(report)
        }
      })
    const runs = ctx.runsSet ? ctx.runs : 3
    const [hour, idle] = await ctx.compare([side(60), side(0)], { runs, warmup: 1 })
    const last = reports[60].at(-1)
    const mb = (kb) => (kb / 1024).toFixed(1)
    ctx.log(
      `serve memory after GC, idle → after 60 simulated minutes: JS heap in use ${mb(last.idleHeapKb)} → ` +
        `${mb(last.endHeapKb)} MB (${(last.endHeapKb / last.idleHeapKb).toFixed(2)}x), RSS ${mb(last.idleKb)} → ` +
        `${mb(last.endKb)} MB (${(last.endKb / last.idleKb).toFixed(2)}x); every run (heap): ` +
        reports[60].map((r) => `${mb(r.idleHeapKb)}→${mb(r.endHeapKb)}`).join(", ")
    )
    return [
      ctx.row({
        operation: "serve background: 1 h of schedule, TestClock (process)",
        dbkit: hour,
        baseline: idle,
        baselineName: "the same process idle (0 minutes)"
      })
    ]
  } finally {
    await db.drop()
  }
}
