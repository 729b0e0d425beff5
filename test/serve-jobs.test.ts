// The schedule `dbkit serve` keeps (src/serve/jobs/): jobs declared per environment, run at their
// cron ticks (a TestClock drives them), recorded in dbkit.jobs, never overlapping themselves
// across processes, failures retried on the next tick, interruption recorded — on scratch
// databases of the real server, with backups written into temp folders.
import * as NodeContext from "@effect/platform-node/NodeContext"
import { describe, expect, it } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Redacted from "effect/Redacted"
import * as TestClock from "effect/TestClock"
import * as fs from "node:fs"
import * as path from "node:path"
import pg from "pg"
import * as Backup from "../src/backup/Backup.js"
import * as Config from "../src/Config.js"
import { PgLive } from "../src/Database.js"
import * as Health from "../src/health/Health.js"
import * as Maintenance from "../src/maintenance/Maintenance.js"
import * as Migrator from "../src/migrator/Migrator.js"
import { fromDirectory } from "../src/migrator/source.js"
import * as ProjectConfig from "../src/ProjectConfig.js"
import type { JobInput } from "../src/ProjectConfigSchema.js"
import { type JobRun, Jobs, lockKey } from "../src/serve/jobs/Jobs.js"
import { resolveJobs } from "../src/serve/jobs/schema.js"
import { runCli } from "./support/cli.js"
import {
  createScratchDatabase,
  dropScratchDatabase,
  EmbeddedLive,
  queryAt,
  serverAvailable,
  tempDir
} from "./support/databases.js"
import { NonInteractiveGuard } from "./support/terminal.js"

const server = await serverAvailable()
const signingKey = path.join(tempDir("dbkit-jobs-signing-"), "backup-signing.key")
const noMigrations = tempDir("dbkit-jobs-migrations-")

type Declared = Readonly<Record<string, typeof JobInput.Type>>

interface Options {
  readonly backupDir: string
  readonly onRun?: (run: JobRun) => Effect.Effect<void>
  readonly keepRuns?: number
}

/** A scratch database for one test, dropped when its scope closes. */
const scratch = Effect.acquireRelease(
  Effect.promise(() => createScratchDatabase("dbkit_jobs")),
  ({ name }) => Effect.promise(() => dropScratchDatabase(name))
)

/** A table of `count` small rows for a job to back up. */
const notes = (url: string, count: number) =>
  Effect.promise(() =>
    queryAt(
      url,
      `CREATE TABLE notes (id int PRIMARY KEY, body text); INSERT INTO notes SELECT g, 'note ' || g FROM generate_series(1, ${count}) g`
    )
  )

/** Jobs and everything its jobs call, over its own pool to `url` (a second stack is a second process's). */
const stack = (
  url: string | "embedded",
  jobs: Declared,
  options: Options
) => {
  const redacted = Redacted.make(url)
  const database = url === "embedded"
    ? EmbeddedLive
    : Layer.orDie(PgLive({ url: redacted, poolSize: 4 }))
  return Jobs.layer({
    settings: { jobs, backupRetention: { keepLast: 2 } },
    onRun: options.onRun,
    keepRuns: options.keepRuns
  }).pipe(
    Layer.provideMerge(
      Layer.mergeAll(
        Maintenance.layer(),
        Health.layer().pipe(Layer.provide(Migrator.layer({ source: fromDirectory(noMigrations) })))
      ).pipe(Layer.provideMerge(Backup.layer))
    ),
    Layer.provide(NonInteractiveGuard()),
    Layer.provideMerge(database),
    Layer.provide(Config.layerFrom({
      environment: "development",
      backupDir: options.backupDir,
      databaseUrl: url === "embedded" ? Option.none() : Option.some(redacted)
    })),
    Layer.provide(NodeContext.layer),
    Layer.orDie
  )
}

/** Runs `f` with a Jobs service over `url`; backups are signed with a key in a temp folder. */
const withJobs = <A, E>(
  url: string | "embedded",
  jobs: Declared,
  options: Options,
  f: (jobs: Jobs["Type"]) => Effect.Effect<A, E>
) =>
  Effect.flatMap(Jobs, f).pipe(
    Effect.provide(stack(url, jobs, options)),
    Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["DB_BACKUP_SIGNING_KEY_FILE", signingKey]])))
  )

const rowsOf = (url: string) =>
  Effect.promise(() =>
    queryAt<{ name: string; status: string; error: string | null; started_at: Date; finished_at: Date | null }>(
      url,
      `SELECT name, status, error, started_at, finished_at FROM dbkit.jobs ORDER BY id`
    )
  )

/** Waits (yielding to other fibers, never advancing the clock) until the TestClock has a sleep ending at `at`. */
const sleepingUntil = (at: number) =>
  Effect.gen(function*() {
    for (let i = 0; i < 10_000; i++) {
      const sleeps = Chunk.toReadonlyArray(yield* TestClock.sleeps())
      if (sleeps.includes(at)) return sleeps
      yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 5)))
    }
    return yield* Effect.dieMessage(`no fiber ever slept until ${new Date(at).toISOString()}`)
  })

describe("job declarations", () => {
  const where = { file: "/project/dbkit.config.ts", environment: "production" as const }
  const fieldOf = (jobs: Declared) =>
    Effect.runSync(Effect.either(resolveJobs(jobs, where))).pipe(
      Either.match({ onLeft: (e) => `${e.variable} — ${e.reason}`, onRight: () => "valid" })
    )

  it("accepts the documented production schedule, with seconds and time zones", () => {
    const jobs = Effect.runSync(resolveJobs({
      nightly: { run: "backup", cron: "0 3 * * *", verify: true },
      restoreTest: { run: "backup-restore-test", cron: "0 5 * * 0" },
      prune: { run: "prune", cron: "30 3 * * *" },
      maintain: { run: "maintain", cron: "0 4 * * *", timeZone: "Europe/Berlin" },
      cleanup: { run: "cleanup", cron: "15 * * * *" },
      health: { run: "health", cron: "*/10 * * * * *" }
    }, where))
    expect(jobs.map((j) => [j.name, j.kind, j.verify])).toEqual([
      ["nightly", "backup", true],
      ["restoreTest", "backup-restore-test", false],
      ["prune", "prune", false],
      ["maintain", "maintain", false],
      ["cleanup", "cleanup", false],
      ["health", "health", false]
    ])
  })

  it("names the field of an invalid cron, an unknown run, a bad time zone or a misplaced verify", () => {
    expect(fieldOf({ nightly: { run: "backup", cron: "0 3 * *" } })).toMatch(
      /^dbkit\.config\.ts: environments\.production\.jobs\.nightly\.cron — "0 3 \* \*" is not a cron expression/
    )
    expect(fieldOf({ nightly: { run: "backup", cron: "0 25 * * *" } })).toMatch(/jobs\.nightly\.cron — /)
    expect(fieldOf({ nightly: { run: "vacuum", cron: "0 3 * * *" } })).toBe(
      "dbkit.config.ts: environments.production.jobs.nightly.run — unknown job \"vacuum\"; expected one of " +
        "backup, backup-restore-test, prune, maintain, cleanup, health"
    )
    expect(fieldOf({ nightly: { run: "backup", cron: "0 3 * * *", timeZone: "Mars/Olympus" } })).toMatch(
      /jobs\.nightly\.timeZone — "Mars\/Olympus" is not a time zone/
    )
    expect(fieldOf({ tidy: { run: "cleanup", cron: "0 3 * * *", verify: true } })).toMatch(
      /jobs\.tidy\.verify — only a backup job takes verify/
    )
    expect(fieldOf({ "no spaces": { run: "cleanup", cron: "0 3 * * *" } })).toMatch(/jobs\.no spaces — a job name/)
    // effect's Cron parses a date no month has, then throws when asked for the next one: refused here instead.
    expect(fieldOf({ leap: { run: "cleanup", cron: "0 0 30 2 *" } })).toMatch(
      /jobs\.leap\.cron — "0 0 30 2 \*" never matches a date/
    )
  })

  it.effect("dbkit.config.* carries an environment's jobs; the Jobs service checks them and names the file's field", () =>
    Effect.gen(function*() {
      const dir = tempDir("dbkit-jobs-config-")
      fs.writeFileSync(
        path.join(dir, "dbkit.config.json"),
        JSON.stringify({ environments: { development: { jobs: { tidy: { run: "cleanup", cron: "61 * * * *" } } } } })
      )
      const project = yield* ProjectConfig.load({ cwd: dir, env: {} })
      expect(project.environments.development.jobs).toEqual({ tidy: { run: "cleanup", cron: "61 * * * *" } })
      expect(project.environments.production.jobs).toEqual({})
      const error = yield* Effect.flip(resolveJobs(project.environments.development.jobs, {
        file: project.file,
        environment: "development"
      }))
      expect(error._tag).toBe("InvalidConfig")
      expect(error.message).toMatch(
        /^dbkit\.config\.json: environments\.development\.jobs\.tidy\.cron: "61 \* \* \* \*"/
      )
      // A job's shape is the file loader's: a missing cron fails there, naming it.
      fs.writeFileSync(
        path.join(dir, "dbkit.config.json"),
        JSON.stringify({ environments: { development: { jobs: { tidy: { run: "cleanup" } } } } })
      )
      const missing = yield* Effect.flip(ProjectConfig.load({ cwd: dir, env: {} }))
      expect(missing.message).toMatch(/environments\.development\.jobs\.tidy\.cron/)
    }))
})

describe("the scheduler on the embedded database", () => {
  it.live(
    "on the embedded database: runs are recorded, and a second run of a running job is refused in-process",
    () =>
      Effect.gen(function*() {
        const backupDir = tempDir("dbkit-jobs-embedded-")
        yield* withJobs("embedded", { nightly: { run: "backup", cron: "0 3 * * *" } }, { backupDir }, (jobs) =>
          Effect.gen(function*() {
            const first = yield* Effect.fork(jobs.runOnce("nightly"))
            // Until the first run has its slot, the second may be the one that gets it: either way one is refused.
            const second = yield* Effect.either(jobs.runOnce("nightly"))
            const firstResult = yield* Effect.either(Fiber.join(first))
            const outcomes = [firstResult, second]
            expect(
              outcomes.filter(Either.isRight).map((o) =>
                o.right.status
              )
            ).toEqual(["succeeded"])
            const refused = outcomes.find(Either.isLeft)!.left
            expect(refused.message).toBe(
              "job nightly is running already in this process; nothing was run — try again once it has finished"
            )
            const recorded = yield* jobs.recent()
            expect(
              recorded.map((r) =>
                r.status
              ).sort()
            ).toEqual(["skipped", "succeeded"])
            const file = (recorded.find((r) => r.status === "succeeded")!.detail as { file: string }).file
            expect(fs.existsSync(file)).toBe(true)
          }))
      }),
    { timeout: 120_000 }
  )
})

describe.skipIf(!server)("the scheduler on the server", () => {
  it.scoped("runs a job at its cron tick and not before, then sleeps until the next one", () =>
    Effect.gen(function*() {
      const { url } = yield* scratch
      const finished = yield* Queue.unbounded<JobRun>()
      const start = Date.parse("2026-12-07T10:00:30.000Z")
      const tick = Date.parse("2026-12-07T10:05:00.000Z")
      yield* TestClock.setTime(start)
      yield* withJobs(
        url,
        { tidy: { run: "cleanup", cron: "*/5 * * * *", timeZone: "UTC" } },
        { backupDir: tempDir("dbkit-jobs-"), onRun: (run) => Queue.offer(finished, run) },
        (jobs) =>
          Effect.gen(function*() {
            expect(yield* jobs.upcoming).toEqual([
              {
                name: "tidy",
                kind: "cleanup",
                schedule: "*/5 * * * *",
                timeZone: "UTC",
                nextAt: "2026-12-07T10:05:00.000Z"
              }
            ])
            const scheduler = yield* Effect.fork(jobs.scheduler)
            yield* sleepingUntil(tick)
            // A millisecond before the tick: still asleep until it, nothing ran, nothing recorded.
            yield* TestClock.adjust("269999 millis")
            expect(yield* sleepingUntil(tick)).toContain(tick)
            expect(yield* Queue.size(finished)).toBe(0)
            expect(yield* jobs.recent()).toEqual([])
            yield* TestClock.adjust("1 millis")
            const run = yield* Queue.take(finished)
            expect(run).toMatchObject({
              name: "tidy",
              kind: "cleanup",
              status: "succeeded",
              startedAt: "2026-12-07T10:05:00.000Z",
              error: null,
              detail: { deleted: 0, rules: {} },
              pid: process.pid
            })
            // The next tick is five minutes on, and that is where it sleeps now.
            yield* sleepingUntil(Date.parse("2026-12-07T10:10:00.000Z"))
            expect((yield* jobs.upcoming)[0]!.nextAt).toBe("2026-12-07T10:10:00.000Z")
            yield* Fiber.interrupt(scheduler)
          })
      )
    }), { timeout: 60_000 })

  it.scoped(
    "a failing job is recorded as failed, redacted, and runs again at its next tick",
    () =>
      Effect.gen(function*() {
        const { name } = yield* scratch
        // A password in the URL (trust auth ignores it) that an error could carry: it must not reach dbkit.jobs.
        const url = serverUrlFor(name)
        const finished = yield* Queue.unbounded<JobRun>()
        const parent = tempDir("dbkit-jobs-")
        const backupDir = path.join(parent, "backups")
        fs.writeFileSync(backupDir, "a file where the backup folder should be")
        yield* TestClock.setTime(Date.parse("2026-12-07T03:00:30.000Z"))
        yield* withJobs(
          url,
          { nightly: { run: "backup", cron: "0 * * * *", timeZone: "UTC" } },
          { backupDir, onRun: (run) => Queue.offer(finished, run) },
          (jobs) =>
            Effect.gen(function*() {
              const scheduler = yield* Effect.fork(jobs.scheduler)
              const first = Date.parse("2026-12-07T04:00:00.000Z")
              yield* sleepingUntil(first)
              yield* TestClock.setTime(first)
              const failed = yield* Queue.take(finished)
              expect(failed).toMatchObject({ name: "nightly", status: "failed", startedAt: "2026-12-07T04:00:00.000Z" })
              expect(failed.error).toMatch(/^(BackupWriteFailed|InvalidBackupOptions): /)
              // The scheduler lives on: the next tick is an hour later, and with the folder free it succeeds.
              const second = Date.parse("2026-12-07T05:00:00.000Z")
              yield* sleepingUntil(second)
              fs.rmSync(backupDir)
              yield* TestClock.setTime(second)
              const succeeded = yield* Queue.take(finished)
              expect(succeeded).toMatchObject({ status: "succeeded", startedAt: "2026-12-07T05:00:00.000Z" })
              const detail = succeeded.detail as { file: string }
              expect(fs.existsSync(detail.file)).toBe(true)
              expect(path.dirname(detail.file)).toBe(backupDir)
              yield* Fiber.interrupt(scheduler)
            })
        )
        const rows = yield* rowsOf(url)
        expect(rows.map((r) => r.status)).toEqual(["failed", "succeeded"])
        expect(JSON.stringify(rows)).not.toContain("s3cret")
      }),
    { timeout: 120_000 }
  )

  it.live(
    "a seconds-level cron runs a real backup, verified, and records it",
    () =>
      Effect.scoped(Effect.gen(function*() {
        const { url } = yield* scratch
        yield* notes(url, 100)
        const backupDir = tempDir("dbkit-jobs-backups-")
        const finished = yield* Queue.unbounded<JobRun>()
        yield* withJobs(
          url,
          { nightly: { run: "backup", cron: "*/2 * * * * *", verify: true } },
          { backupDir, onRun: (run) => Queue.offer(finished, run) },
          (jobs) =>
            Effect.gen(function*() {
              const scheduler = yield* Effect.fork(jobs.scheduler)
              const run = yield* Queue.take(finished)
              yield* Fiber.interrupt(scheduler)
              expect(run).toMatchObject({ name: "nightly", kind: "backup", status: "succeeded", error: null })
              const detail = run.detail as { file: string; tables: number; verified: { origin: string } }
              expect(path.dirname(detail.file)).toBe(backupDir)
              expect(fs.existsSync(detail.file)).toBe(true)
              expect(detail.tables).toBe(2) // notes, and dbkit.jobs itself
              expect(detail.verified.origin).toBe("signed")
              // Started on an even second, as the cron says.
              expect(new Date(run.startedAt).getUTCSeconds() % 2).toBe(0)
            })
        )
        const [row] = yield* Effect.promise(() =>
          queryAt(
            url,
            `SELECT name, kind, status, host, pid, detail, finished_at >= started_at AS ordered FROM dbkit.jobs`
          )
        )
        expect(row).toMatchObject({
          name: "nightly",
          kind: "backup",
          status: "succeeded",
          pid: process.pid,
          ordered: true
        })
        expect(row.host).toBeTruthy()
      })),
    { timeout: 120_000 }
  )

  it.live(
    "two schedulers on one database never run the same job at once: the one without the lock skips",
    () =>
      Effect.scoped(Effect.gen(function*() {
        const { url } = yield* scratch
        yield* Effect.promise(() =>
          queryAt(url, `CREATE TABLE notes AS SELECT g AS id, md5(g::text) AS body FROM generate_series(1, 20000) g`)
        )
        const finished = yield* Queue.unbounded<JobRun>()
        const options = { backupDir: tempDir("dbkit-jobs-two-"), onRun: (run: JobRun) => Queue.offer(finished, run) }
        const declared = { beat: { run: "backup", cron: "* * * * * *" } }
        // Two stacks, two pools: as two `dbkit serve` processes would be.
        const first = yield* Effect.fork(withJobs(url, declared, options, (jobs) => jobs.scheduler))
        const second = yield* Effect.fork(withJobs(url, declared, options, (jobs) => jobs.scheduler))
        const runs: Array<JobRun> = []
        while (runs.filter((r) => r.status === "skipped").length < 1 || runs.length < 6) {
          runs.push(yield* Queue.take(finished))
          if (runs.length > 40) break
        }
        yield* Fiber.interrupt(first)
        yield* Fiber.interrupt(second)
        const rows = yield* rowsOf(url)
        const ran = rows.filter((r) => r.status !== "skipped")
        expect(ran.filter((r) => r.status === "succeeded").length).toBeGreaterThanOrEqual(2)
        expect(rows.filter((r) => r.status === "failed")).toEqual([])
        expect(rows.filter((r) => r.status === "skipped").length).toBeGreaterThanOrEqual(1)
        // No two runs overlap: each starts after the previous one finished.
        for (let i = 1; i < ran.length; i++) {
          expect(ran[i]!.started_at.getTime()).toBeGreaterThanOrEqual(ran[i - 1]!.finished_at!.getTime())
        }
      })),
    { timeout: 180_000 }
  )

  it.live(
    "a run finds the job locked by another session: recorded skipped, nothing run; then it runs",
    () =>
      Effect.scoped(Effect.gen(function*() {
        const { url } = yield* scratch
        const other = new pg.Client({ connectionString: url })
        yield* Effect.acquireRelease(Effect.promise(() => other.connect()), () => Effect.promise(() => other.end()))
        const otherPid = (yield* Effect.promise(() => other.query(`SELECT pg_backend_pid() AS pid`))).rows[0].pid
        yield* Effect.promise(() => other.query(`SELECT pg_advisory_lock($1::bigint)`, [lockKey("tidy")]))
        yield* withJobs(
          url,
          { tidy: { run: "cleanup", cron: "0 3 * * *" } },
          { backupDir: tempDir("dbkit-jobs-") },
          (jobs) =>
            Effect.gen(function*() {
              const busy = yield* Effect.flip(jobs.runOnce("tidy"))
              expect(busy._tag).toBe("JobBusy")
              expect(busy.message).toMatch(new RegExp(`job tidy is running already \\(server process ${otherPid}`))
              const [skipped] = yield* jobs.recent({ name: "tidy" })
              expect(skipped).toMatchObject({
                status: "skipped",
                detail: { reason: "running already", holderPid: otherPid }
              })
              yield* Effect.promise(() => other.query(`SELECT pg_advisory_unlock($1::bigint)`, [lockKey("tidy")]))
              const ran = yield* jobs.runOnce("tidy")
              expect(ran.status).toBe("succeeded")
              expect((yield* jobs.recent()).map((r) => r.status)).toEqual(["succeeded", "skipped"])
              const unknown = yield* Effect.flip(jobs.runOnce("nope"))
              expect(unknown.message).toBe(`no job "nope" in development: its jobs are tidy`)
            })
        )
      })),
    { timeout: 60_000 }
  )

  it.live(
    "interrupting a running backup records it interrupted and leaves no partial file; a run a dead process left is marked interrupted",
    () =>
      Effect.scoped(Effect.gen(function*() {
        const { url } = yield* scratch
        yield* Effect.promise(() =>
          queryAt(
            url,
            `CREATE TABLE notes AS SELECT g AS id, md5(g::text) || md5((g * 7)::text) AS body FROM generate_series(1, 400000) g`
          )
        )
        const backupDir = tempDir("dbkit-jobs-interrupt-")
        yield* withJobs(url, { nightly: { run: "backup", cron: "0 3 * * *" } }, { backupDir }, (jobs) =>
          Effect.gen(function*() {
            const running = yield* Effect.fork(jobs.runOnce("nightly"))
            // Wait until its row says it is running, then stop it as SIGTERM would.
            for (let i = 0; i < 2000; i++) {
              const rows = yield* Effect.promise(() =>
                queryAt(url, `SELECT status FROM dbkit.jobs WHERE status = 'running'`).catch(() => [])
              )
              if (rows.length > 0) {
                break
              }
              yield* Effect.sleep("20 millis")
            }
            const exit = yield* Fiber.interrupt(running)
            expect(Exit.isInterrupted(exit)).toBe(true)
            const [run] = yield* jobs.recent({ name: "nightly" })
            expect(run).toMatchObject({ status: "interrupted", error: "interrupted" })
            expect(run!.finishedAt).not.toBeNull()
            expect(fs.readdirSync(backupDir)).toEqual([])
            // A row left `running` by a process that died is marked interrupted by the next run.
            yield* Effect.promise(() =>
              queryAt(
                url,
                `INSERT INTO dbkit.jobs (name, kind, started_at, status, host, pid)
                          VALUES ('nightly', 'backup', now() - interval '1 hour', 'running', 'elsewhere', 999999)`
              )
            )
            const again = yield* jobs.runOnce("nightly")
            expect(again.status).toBe("succeeded")
            const [dead] = yield* Effect.promise(() =>
              queryAt(url, `SELECT status, error FROM dbkit.jobs WHERE host = 'elsewhere'`)
            )
            expect(dead).toEqual({ status: "interrupted", error: "the process running it stopped before it finished" })
          }))
      })),
    { timeout: 180_000 }
  )

  it.live(
    "each kind runs what its command runs: backup, restore test, prune by retention, maintain, cleanup, health",
    () =>
      Effect.scoped(Effect.gen(function*() {
        const { url } = yield* scratch
        yield* notes(url, 50)
        const backupDir = tempDir("dbkit-jobs-kinds-")
        const declared = {
          nightly: { run: "backup", cron: "0 3 * * *" },
          restoreTest: { run: "backup-restore-test", cron: "0 5 * * 0" },
          prune: { run: "prune", cron: "30 3 * * *" },
          maintain: { run: "maintain", cron: "0 4 * * *" },
          cleanup: { run: "cleanup", cron: "15 * * * *" },
          health: { run: "health", cron: "*/5 * * * *" }
        }
        yield* withJobs(url, declared, { backupDir }, (jobs) =>
          Effect.gen(function*() {
            // No backup yet: the restore test has nothing to restore, and says so.
            const nothing = yield* Effect.flip(jobs.runOnce("restoreTest"))
            expect(nothing._tag).toBe("BackupNotFound")
            const files: Array<string> = []
            for (let i = 0; i < 3; i++) {
              files.push(((yield* jobs.runOnce("nightly")).detail as { file: string }).file)
              // Backup names carry the second: keep them apart.
              yield* Effect.sleep("1100 millis")
            }
            const tested = yield* jobs.runOnce("restoreTest")
            expect(tested.detail).toMatchObject({ file: files[2], tables: 2 })
            // backupRetention keepLast 2: the oldest goes.
            const pruned = yield* jobs.runOnce("prune")
            expect(pruned.detail).toMatchObject({ pruned: [files[0]], kept: 2 })
            expect(fs.existsSync(files[0]!)).toBe(false)
            expect(fs.existsSync(files[2]!)).toBe(true)
            const maintained = yield* jobs.runOnce("maintain")
            expect(maintained.status).toBe("succeeded")
            expect(Array.isArray((maintained.detail as { tasks: Array<string> }).tasks)).toBe(true)
            const health = yield* Effect.either(jobs.runOnce("health"))
            // A scratch database may be warn or ok; critical would name its checks.
            if (Either.isRight(health)) {
              expect(["ok", "warn"]).toContain((health.right.detail as { status: string }).status)
            } else expect(health.left._tag).toBe("JobHealthCritical")
            const recorded = yield* jobs.recent({ limit: 50 })
            expect(new Set(recorded.map((r) => r.name))).toEqual(
              new Set(Object.keys(declared).filter((n) => n !== "cleanup"))
            )
            expect(recorded.find((r) => r.name === "restoreTest" && r.status === "failed")?.error).toMatch(
              /^BackupNotFound: .* holds no backup to restore-test/
            )
          }))
      })),
    { timeout: 180_000 }
  )

  it.live(
    "dbkit.jobs keeps the newest runs of each job and deletes older ones",
    () =>
      Effect.scoped(Effect.gen(function*() {
        const { url } = yield* scratch
        const declared = { tidy: { run: "cleanup", cron: "0 3 * * *" }, other: { run: "cleanup", cron: "0 4 * * *" } }
        yield* withJobs(url, declared, { backupDir: tempDir("dbkit-jobs-"), keepRuns: 3 }, (jobs) =>
          Effect.gen(function*() {
            const ids: Array<number> = []
            for (let i = 0; i < 5; i++) {
              ids.push((yield* jobs.runOnce("tidy")).id)
            }
            yield* jobs.runOnce("other")
            expect((yield* jobs.recent({ name: "tidy" })).map((r) =>
              r.id
            )).toEqual(ids.slice(2).reverse())
            expect(yield* jobs.recent({ name: "other" })).toHaveLength(1)
          }))
      })),
    { timeout: 60_000 }
  )

  it.live("dbkit jobs list and jobs run on the real bundle", () =>
    Effect.scoped(Effect.gen(function*() {
      const { url } = yield* scratch
      const dir = tempDir("dbkit-jobs-cli-")
      const write = (jobs: unknown) =>
        fs.writeFileSync(
          path.join(dir, "dbkit.config.json"),
          JSON.stringify({ environments: { development: { jobs } } })
        )
      write({ tidy: { run: "cleanup", cron: "15 * * * *", timeZone: "UTC" } })
      const env = { DATABASE_URL: url, DB_BACKUP_SIGNING_KEY_FILE: signingKey }
      const cli = (args: ReadonlyArray<string>) => Effect.promise(() => runCli(["jobs", ...args], env, { cwd: dir }))
      const empty = yield* cli(["list"])
      expect(empty.code).toBe(0)
      expect(empty.stdout).toMatch(/tidy\s+cleanup\s+15 \* \* \* \* \(UTC\)\s+\d{4}-\d{2}-\d{2} \d{2}:15:00\s+never/)
      expect(empty.stdout).toContain("no runs recorded")
      const ran = yield* cli(["run", "tidy", "--json"])
      expect(ran.code).toBe(0)
      expect(JSON.parse(ran.stdout)).toMatchObject({ name: "tidy", status: "succeeded", detail: { deleted: 0 } })
      const listed = yield* cli(["list", "--json", "--limit", "5"])
      expect(listed.code).toBe(0)
      const parsed = JSON.parse(listed.stdout)
      expect(parsed.environment).toBe("development")
      expect(parsed.jobs[0]).toMatchObject({ name: "tidy", last: { status: "succeeded" } })
      expect(parsed.jobs[0].nextAt).toMatch(/:15:00\.000Z$/)
      expect(parsed.runs).toHaveLength(1)
      const unknown = yield* cli(["run", "nope"])
      expect(unknown.code).toBe(2)
      expect(unknown.stderr).toContain(`no job "nope" in development: its jobs are tidy`)
      write({ tidy: { run: "cleanup", cron: "every hour" } })
      const invalid = yield* cli(["list"])
      expect(invalid.code).toBe(2)
      expect(invalid.stderr).toContain("dbkit.config.json: environments.development.jobs.tidy.cron")
      const help = yield* cli(["--help"])
      expect(help.stdout).toContain("backup-restore-test")
    })), { timeout: 120_000 })
})

describe.skipIf(!server)("a role that may only write to dbkit.jobs", () => {
  it.live(
    "records its runs once the table exists (it never needs CREATE or ownership)",
    () =>
      Effect.scoped(Effect.gen(function*() {
        const { name, url } = yield* scratch
        const dir = tempDir("dbkit-jobs-role-")
        fs.writeFileSync(
          path.join(dir, "dbkit.config.json"),
          JSON.stringify({ environments: { development: { jobs: { tidy: { run: "cleanup", cron: "0 3 * * *" } } } } })
        )
        const role = `dbkit_jobs_writer_${process.pid}_${Math.random().toString(36).slice(2, 7)}`
        yield* Effect.acquireRelease(
          Effect.promise(() => queryAt(url, `CREATE ROLE "${role}" LOGIN`)),
          () =>
            Effect.promise(() =>
              queryAt(url, `DROP OWNED BY "${role}"`).then(() => queryAt(url, `DROP ROLE IF EXISTS "${role}"`))
            )
        )
        const run = (user: string) =>
          Effect.promise(() =>
            runCli(["jobs", "run", "tidy", "--json"], {
              DATABASE_URL: url.replace("://root@", `://${user}@`),
              DB_BACKUP_SIGNING_KEY_FILE: signingKey
            }, { cwd: dir })
          )
        const owner = yield* run("root") // creates dbkit.jobs
        expect(owner.code, owner.stderr).toBe(0)
        yield* Effect.promise(() =>
          queryAt(
            url,
            `REVOKE CREATE ON DATABASE "${name}" FROM PUBLIC; GRANT USAGE ON SCHEMA dbkit TO "${role}";
           GRANT SELECT, INSERT, UPDATE, DELETE ON dbkit.jobs TO "${role}";
           GRANT USAGE ON SEQUENCE dbkit.jobs_id_seq TO "${role}"`
          )
        )
        const writer = yield* run(role)
        expect(writer.code, writer.stderr).toBe(0)
        expect(JSON.parse(writer.stdout)).toMatchObject({ name: "tidy", status: "succeeded" })
        const rows = yield* rowsOf(url)
        expect(rows.map((r) => r.status)).toEqual(["succeeded", "succeeded"])
      })),
    { timeout: 120_000 }
  )
})

describe.skipIf(!server)("the jobs health check", () => {
  it.live(
    "warns when a job's last run failed, is critical after three, and is ok once it succeeds",
    () =>
      Effect.scoped(Effect.gen(function*() {
        const { url } = yield* scratch
        const dir = tempDir("dbkit-jobs-health-")
        const backups = path.join(dir, "backups")
        fs.writeFileSync(
          path.join(dir, "dbkit.config.json"),
          JSON.stringify({
            environments: { development: { jobs: { drill: { run: "backup-restore-test", cron: "0 5 * * 0" } } } }
          })
        )
        const env = { DATABASE_URL: url, DB_BACKUP_SIGNING_KEY_FILE: signingKey, DBKIT_BACKUP_DIR: backups }
        const cli = (args: ReadonlyArray<string>) => Effect.promise(() => runCli(args, env, { cwd: dir }))
        const check = Effect.map(cli(["health", "--check", "jobs", "--json"]), (r) => JSON.parse(r.stdout).checks[0])
        expect(yield* check).toMatchObject({ status: "not applicable" })
        // No backup to restore-test: the drill fails.
        expect((yield* cli(["jobs", "run", "drill"])).code).not.toBe(0)
        const warned = yield* check
        expect(warned).toMatchObject({ status: "warn", value: 1 })
        expect(warned.detail).toMatch(/^drill failed at \d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} UTC: /)
        yield* cli(["jobs", "run", "drill"])
        yield* cli(["jobs", "run", "drill"])
        const critical = yield* check
        expect(critical).toMatchObject({ status: "critical", value: 1 })
        expect(critical.detail).toMatch(/^drill failed 3x running, last at /)
        // A backup to test, and the drill passes.
        expect((yield* cli(["backup"])).code).toBe(0)
        expect((yield* cli(["jobs", "run", "drill"])).code).toBe(0)
        expect(yield* check).toMatchObject({ status: "ok", value: 0, detail: "1 job, each last run succeeded" })
      })),
    { timeout: 180_000 }
  )
})

/** The scratch database's URL with a password in it (trust auth ignores it). */
function serverUrlFor(database: string) {
  const url = new URL(process.env.DATABASE_URL ?? "postgres://root@127.0.0.1:5432/postgres")
  url.password = "s3cret"
  url.pathname = `/${database}`
  return url.toString()
}
