/**
 * The `jobs` health check: how the scheduled jobs `dbkit serve` runs (recorded in `dbkit.jobs`)
 * ended last. Warn when a job's last finished run failed, critical when its last three did —
 * a nightly backup that keeps failing is an outage waiting for a restore. Skipped ticks (another
 * process held the job) and interrupted runs (a shutdown) are not outcomes and are passed over.
 * Not applicable while no job was ever recorded. The stored error is dbkit's own message, already
 * scrubbed of secrets when the run was recorded.
 */
import * as Effect from "effect/Effect"
import type { Check } from "./checks.js"
import { listSome, type Outcome } from "./status.js"

const THRESHOLD = "last run failed → warn; last 3 runs failed → critical"

/** Runs in a row that failed before a job's newest finished run is critical. */
const CRITICAL_STREAK = 3

interface Run {
  readonly name: string
  readonly status: "succeeded" | "failed"
  readonly at: string
  readonly error: string | null
}

const short = (text: string | null) => text === null ? "" : `: ${text.length > 120 ? `${text.slice(0, 117)}…` : text}`

export const jobs: Check = {
  name: "jobs",
  requires: "answer",
  run: (db) =>
    Effect.gen(function*() {
      const [table] = yield* db.query<{ present: boolean }>("SELECT to_regclass('dbkit.jobs') IS NOT NULL AS present")
      if (!table?.present) {
        return {
          status: "not applicable",
          value: null,
          unit: null,
          threshold: THRESHOLD,
          detail: "no scheduled job has run here (dbkit.jobs does not exist; see dbkit serve)"
        } satisfies Outcome
      }
      const runs = yield* db.query<Run>(
        `SELECT name, status, to_char(started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') AS at, error
           FROM (SELECT name, status, started_at, error,
                        row_number() OVER (PARTITION BY name ORDER BY started_at DESC, id DESC) AS n
                   FROM dbkit.jobs WHERE status IN ('succeeded', 'failed')) newest
          WHERE n <= ${CRITICAL_STREAK}
          ORDER BY name, started_at DESC`
      )
      const byJob = new Map<string, Array<Run>>()
      for (const run of runs) byJob.set(run.name, [...(byJob.get(run.name) ?? []), run])
      const failing = [...byJob.values()].filter((last) => last[0]!.status === "failed")
      const streaks = failing.map((last) => {
        const firstSuccess = last.findIndex((run) => run.status !== "failed")
        return { last: last[0]!, streak: firstSuccess === -1 ? last.length : firstSuccess }
      })
      if (failing.length === 0) {
        return {
          status: "ok",
          value: 0,
          unit: "count",
          threshold: THRESHOLD,
          detail: byJob.size === 0
            ? "no job has finished yet"
            : `${byJob.size} job${byJob.size === 1 ? "" : "s"}, each last run succeeded`
        } satisfies Outcome
      }
      const critical = streaks.some((s) => s.streak >= CRITICAL_STREAK)
      return {
        status: critical ? "critical" : "warn",
        value: failing.length,
        unit: "count",
        threshold: THRESHOLD,
        detail: listSome(
          streaks.map(({ last, streak }) =>
            `${last.name} failed ${streak === 1 ? "at" : `${streak}x running, last at`} ${last.at} UTC${
              short(last.error)
            }`
          )
        )
      } satisfies Outcome
    })
}
