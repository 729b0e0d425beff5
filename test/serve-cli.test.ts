// `dbkit serve` as one process, as a user runs it: the dashboard, the probes and /metrics on one
// port, the declared jobs running on their schedule and the sampler filling dbkit.samples;
// SIGTERM ends it with exit 0; a bad job declaration stops it before it listens; a database that
// is down is reported, never fatal.
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { runCli } from "./support/cli.js"
import { freePort } from "./support/cluster.js"
import { createScratchDatabase, dropScratchDatabase, queryAt, serverAvailable, tempDir } from "./support/databases.js"
import { writeFolder } from "./support/migrations.js"
import { fetchText, startServe } from "./support/prometheus.js"

const server = await serverAvailable()

const configWith = (jobs: Record<string, unknown>) => {
  const file = path.join(tempDir("dbkit-serve-cli-"), "dbkit.config.json")
  fs.writeFileSync(file, JSON.stringify({ environments: { development: { jobs } } }))
  return file
}

const status = (url: string) => fetch(url).then((r) => r.status)

/** Polls `read` until `done` says yes (30 s at most); returns the last value. */
const until = async <A>(read: () => Promise<A>, done: (a: A) => boolean): Promise<A> => {
  const deadline = Date.now() + 30_000
  for (;;) {
    const value = await read()
    if (done(value) || Date.now() > deadline) return value
    await new Promise((r) => setTimeout(r, 250))
  }
}

describe.skipIf(!server)("dbkit serve", () => {
  it.scoped(
    "serves the dashboard, probes and metrics, runs its jobs and samples, and exits 0 on SIGTERM",
    () =>
      Effect.gen(function*() {
        const database = yield* Effect.acquireRelease(
          Effect.promise(() => createScratchDatabase("dbkit_serve_cli")),
          (db) => Effect.promise(() => dropScratchDatabase(db.name))
        )
        const env = {
          DATABASE_URL: database.url,
          DBKIT_MIGRATIONS_DIR: writeFolder({ "001_items.sql": "CREATE TABLE items (id int PRIMARY KEY);" }),
          DBKIT_BACKUP_DIR: tempDir("dbkit-serve-cli-backups-"),
          DBKIT_CONFIG: configWith({ pulse: { run: "health", cron: "*/2 * * * * *" } })
        }
        const migrated = yield* Effect.promise(() => runCli(["migrate"], env))
        expect(migrated.code, migrated.stderr).toBe(0)
        const serve = yield* startServe(env)
        expect(serve.output()).toMatch(/1 job scheduled/)

        const runs = yield* Effect.promise(() =>
          until(
            () =>
              queryAt<{ n: number }>(
                database.url,
                "SELECT count(*)::int AS n FROM dbkit.jobs WHERE status = 'succeeded'"
              )
                .catch(() => [{ n: 0 }]),
            (rows) => rows[0]!.n >= 2
          )
        )
        expect(runs[0]!.n).toBeGreaterThanOrEqual(2) // the job ran at two ticks

        const overview = yield* Effect.promise(() => fetch(`${serve.url}/`))
        expect(overview.status).toBe(200)
        expect(overview.headers.get("content-type")).toContain("text/html")
        expect(yield* Effect.promise(() => overview.text())).toContain("Overview")
        const jobs = yield* Effect.promise(() => fetch(`${serve.url}/jobs`).then((r) => r.text()))
        expect(jobs).toContain("pulse")
        expect(yield* Effect.promise(() => status(`${serve.url}/readyz`))).toBe(200)
        const metrics = yield* fetchText(`${serve.url}/metrics`)
        expect(metrics.body).toMatch(/^dbkit_job_runs\{job_name="pulse",status="succeeded"\} [1-9]/m)
        const samples = yield* Effect.promise(() =>
          until(
            () =>
              queryAt<{ n: number }>(database.url, "SELECT count(DISTINCT metric)::int AS n FROM dbkit.samples")
                .catch(() => [{ n: 0 }]),
            (rows) => rows[0]!.n >= 3
          )
        )
        expect(samples[0]!.n).toBeGreaterThanOrEqual(3) // connections, dead tuples, size (transactions from the second pass)

        const code = yield* Effect.promise(() => serve.stop("SIGTERM"))
        expect(code, serve.output()).toBe(0)
        const running = yield* Effect.promise(() =>
          queryAt<{ n: number }>(database.url, "SELECT count(*)::int AS n FROM dbkit.jobs WHERE status = 'running'")
        )
        expect(running[0]!.n).toBe(0) // nothing left claiming to run
      }),
    120_000
  )

  it("a job declaration that cannot run stops serve before it listens: exit 2 naming the field", async () => {
    const result = await runCli(["serve", "--port", "0"], {
      DATABASE_URL: "postgres://root@127.0.0.1:5432/postgres",
      DBKIT_CONFIG: configWith({ nightly: { run: "backup", cron: "0 99 * * *" } })
    })
    expect(result.code).toBe(2)
    expect(result.stderr).toContain("environments.development.jobs.nightly.cron")
    expect(result.stderr).not.toContain("listening")
  })

  it.scoped(
    "with the database down it still listens: /livez 200, /readyz and the dashboard 503 with the reason",
    () =>
      Effect.gen(function*() {
        const port = yield* Effect.promise(() => freePort())
        const serve = yield* startServe({
          DATABASE_URL: `postgres://root@127.0.0.1:${port}/nowhere`,
          DBKIT_CONFIG: configWith({ pulse: { run: "health", cron: "*/2 * * * * *" } })
        })
        expect(yield* Effect.promise(() => status(`${serve.url}/livez`))).toBe(200)
        expect(yield* Effect.promise(() => status(`${serve.url}/readyz`))).toBe(503)
        const page = yield* Effect.promise(() => fetch(`${serve.url}/`))
        expect(page.status).toBe(503)
        expect(yield* Effect.promise(() => page.text())).toContain("cannot be reached")
        expect(yield* Effect.promise(() => serve.stop("SIGTERM"))).toBe(0)
      }),
    90_000
  )
})
