/**
 * Handlers of `dbkit jobs list` and `dbkit jobs run NAME` (definitions in index.ts).
 */
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import { type JobRun, Jobs } from "../../serve/jobs/Jobs.js"
import type { Parsed } from "../options.js"
import { banner, duration, json, table } from "../render.js"
import type { listConfig, runConfig } from "./index.js"
import { JobsLive } from "./live.js"

/** "2026-12-07 03:00:00" from ISO 8601 UTC. */
const when = (iso: string | null) => iso === null ? "" : iso.replace("T", " ").replace(/(\.\d+)?Z$/, "")

const took = (run: JobRun) =>
  run.finishedAt === null ? "" : duration(Date.parse(run.finishedAt) - Date.parse(run.startedAt))

/** What a run did or why it did not, on one line. */
const summary = (run: JobRun) => run.error ?? (run.detail === null ? "" : JSON.stringify(run.detail))

/** `dbkit jobs list`. */
export const list = (options: Parsed<typeof listConfig>) =>
  Effect.gen(function*() {
    const jobs = yield* Jobs
    const upcoming = yield* jobs.upcoming
    const runs = yield* jobs.recent({ limit: options.limit })
    const last = yield* Effect.forEach(upcoming, (job) => jobs.recent({ name: job.name, limit: 1 }))
    const scheduled = upcoming.map((job, i) => ({ ...job, last: last[i]![0] ?? null }))
    if (options.json) return yield* json({ environment: jobs.environment, jobs: scheduled, runs })
    if (scheduled.length === 0) {
      yield* Console.log(`no jobs declared for ${jobs.environment} (environments.${jobs.environment}.jobs)`)
    } else {
      yield* Console.log(table(
        ["job", "runs", "schedule", "next (UTC)", "last"],
        scheduled.map((job) => [
          job.name,
          job.kind,
          `${job.schedule}${job.timeZone === null ? "" : ` (${job.timeZone})`}`,
          when(job.nextAt),
          job.last === null ? "never" : `${job.last.status} ${when(job.last.startedAt)}`
        ])
      ))
    }
    if (runs.length === 0) return yield* Console.log("\nno runs recorded")
    yield* Console.log("")
    yield* Console.log(table(
      ["id", "job", "started (UTC)", "took", "status", "host:pid", "detail"],
      runs.map((run) => [
        String(run.id),
        run.name,
        when(run.startedAt),
        took(run),
        run.status,
        run.host === null ? "" : `${run.host}:${run.pid}`,
        summary(run).slice(0, 100)
      ])
    ))
  }).pipe(Effect.provide(JobsLive))

/** `dbkit jobs run NAME`. */
export const run = (options: Parsed<typeof runConfig>) =>
  Effect.gen(function*() {
    const jobs = yield* Jobs
    yield* banner(`jobs run ${options.name}`)
    const result = yield* jobs.runOnce(options.name)
    if (options.json) return yield* json(result)
    yield* Console.log(`job ${result.name} (${result.kind}) ${result.status} in ${took(result)}: ${summary(result)}`)
  }).pipe(Effect.provide(JobsLive))
