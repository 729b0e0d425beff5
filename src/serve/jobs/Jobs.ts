/**
 * Jobs: the schedule `dbkit serve` keeps — backups, restore tests, pruning, maintenance,
 * cleanup and health passes an environment declares in dbkit.config.ts (`environments.<env>.jobs`),
 * each run as its command runs it (run.ts) and recorded in `dbkit.jobs` (record.ts).
 *
 * A job never overlaps itself: in this process a job's runs are sequential (its loop waits for
 * a run to end before sleeping to the next tick, and `runOnce` claims the same in-process slot);
 * across processes each run holds a session advisory lock for the job, taken with a try-lock —
 * when another `serve` holds it the run is recorded `skipped` and nothing runs. Failures are
 * recorded (redacted) and the job runs again at its next tick; nothing a job does stops the
 * scheduler. Interrupting a run (SIGTERM) interrupts the job's work — a backup removes its
 * partial file — and records it `interrupted`. Sleeping goes through the Clock, so a TestClock
 * drives the schedule.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Ref from "effect/Ref"
import type * as Scope from "effect/Scope"
import * as os from "node:os"
import * as AdvisoryLock from "../../AdvisoryLock.js"
import { backupKey } from "../../backup/Backup.js"
import { DbConfig, type Environment, type InvalidConfig } from "../../Config.js"
import { Database } from "../../Database.js"
import * as Project from "../../Project.js"
import type { EnvironmentSettings } from "../../ProjectConfigSettings.js"
import { passwordsOf, scrubber } from "../../Redact.js"
import { JobBusy, UnknownJob } from "./errors.js"
import * as Record from "./record.js"
import { type JobError, type JobServices, runJob } from "./run.js"
import { type JobDefinition, nextRun, resolveJobs } from "./schema.js"

export { JobBusy, JobHealthCritical, UnknownJob } from "./errors.js"
export type { JobRun, JobStatus } from "./record.js"
export type { JobError } from "./run.js"
export { type JobDefinition, type JobKind, jobKinds, kindDescriptions, nextRun } from "./schema.js"

export interface JobsOptions {
  /** The jobs and backup retention to use instead of dbkit.config.ts's for DbConfig's environment. */
  readonly settings?: Pick<EnvironmentSettings, "jobs" | "backupRetention"> | undefined
  /** Runs kept per job in dbkit.jobs (default 1000); older ones are deleted after each run. */
  readonly keepRuns?: number | undefined
  /** Told of each recorded run as it ends (or is skipped): logs, metrics, tests. */
  readonly onRun?: ((run: Record.JobRun) => Effect.Effect<void>) | undefined
}

/** A job and when it runs next. */
export interface Upcoming {
  readonly name: string
  readonly kind: JobDefinition["kind"]
  readonly schedule: string
  readonly timeZone: string | null
  /** ISO 8601, UTC. */
  readonly nextAt: string
}

/** The Jobs service, with its layers. */
export class Jobs extends Context.Tag("dbkit/Jobs")<Jobs, {
  readonly environment: Environment
  /** The environment's jobs, checked and parsed. */
  readonly jobs: ReadonlyArray<JobDefinition>
  /** Each job and its next run after the Clock's now. */
  readonly upcoming: Effect.Effect<ReadonlyArray<Upcoming>>
  /** Recorded runs (of one job, or all), newest first (default limit 20). */
  readonly recent: (
    options?: { readonly name?: string | undefined; readonly limit?: number | undefined }
  ) => Effect.Effect<ReadonlyArray<Record.JobRun>, SqlError>
  /**
   * Runs one job now, under its lock, recorded. Succeeds with the run; fails with the job's own
   * error (after recording it), or JobBusy when it is running already (recorded `skipped`).
   */
  readonly runOnce: (name: string) => Effect.Effect<Record.JobRun, UnknownJob | JobBusy | JobError>
  /** Runs every job at its cron times until interrupted; never fails. Fork it (or use `schedulerLayer`). */
  readonly scheduler: Effect.Effect<never>
}>() {
  /** Jobs over the database, configuration and services in context. */
  static get layer(): typeof layer {
    return layer
  }
  /** The scheduler as a background fiber for the life of the layer. */
  static get schedulerLayer(): typeof schedulerLayer {
    return schedulerLayer
  }
}

/** How long recording an outcome may take once the job has ended (an interrupted run's last write). */
const RECORD_TIMEOUT = Duration.seconds(15)

/** The lock a job's runs hold on the database, so two processes never run it at once. */
export const lockKey = (name: string) => AdvisoryLock.keyOf(`dbkit:job:${name}`)

/** What one attempt came to: a run (with how it ended), or a skip because the job was running already. */
type Outcome =
  | { readonly _tag: "Ran"; readonly run: Record.JobRun; readonly exit: Exit.Exit<unknown, JobError> }
  | { readonly _tag: "Skipped"; readonly run: Record.JobRun; readonly busy: JobBusy }

/**
 * The jobs the project declares for `environment`, checked (cron, time zone, kind): what a server
 * checks before it starts, so a bad declaration fails at once rather than when the database answers.
 */
export const declared = (environment: Environment): Effect.Effect<ReadonlyArray<JobDefinition>, InvalidConfig> =>
  Effect.flatMap(
    Project.current,
    (project) => resolveJobs(project.environments[environment].jobs, { file: project.file, environment })
  )

/** Builds the service over the database, configuration and services in context. */
export const make = (
  options: JobsOptions = {}
): Effect.Effect<
  Jobs["Type"],
  InvalidConfig,
  SqlClient.SqlClient | Database | DbConfig | JobServices
> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const database = yield* Database
    const config = yield* DbConfig
    const services = yield* Effect.context<JobServices>()
    const environment = config.environment
    let file: string | null = null
    let settings = options.settings
    if (settings === undefined) {
      const project = yield* Project.current
      file = project.file
      settings = project.environments[environment]
    }
    const jobs = yield* resolveJobs(settings.jobs, { file, environment })
    const context = { config, retention: settings.backupRetention }
    const keepRuns = Math.max(1, options.keepRuns ?? 1000)
    const host = os.hostname()

    // Whatever a job's error says, its text is stored and shown: no URL password, no key.
    const key = yield* backupKey
    const urls = [database.url, config.databaseUrl].flatMap(Option.toArray)
    const scrub = scrubber([...passwordsOf(urls), ...Option.toArray(Option.map(key, Redacted.value))])

    const tableReady = yield* Ref.make(false)
    const ensureTable = Effect.whenEffect(
      Effect.zipRight(Record.ensureTable(sql), Ref.set(tableReady, true)),
      Effect.map(Ref.get(tableReady), (ready) => !ready)
    )
    const running = yield* Ref.make(new Set<string>())

    const now = Effect.map(Clock.currentTimeMillis, (ms) => new Date(ms))
    const find = (name: string) => Option.fromNullable(jobs.find((j) => j.name === name))

    /** The in-process slot, then (on a server) the job's advisory lock; both released with the scope. */
    const claim = (job: JobDefinition): Effect.Effect<void, JobBusy | SqlError, Scope.Scope> =>
      Effect.gen(function*() {
        const free = yield* Effect.uninterruptible(
          Effect.flatMap(
            Ref.modify(running, (set) => set.has(job.name) ? [false, set] : [true, new Set([...set, job.name])]),
            (claimed) =>
              claimed
                ? Effect.as(
                  Effect.addFinalizer(() =>
                    Ref.update(running, (set) => new Set([...set].filter((n) => n !== job.name)))
                  ),
                  true
                )
                : Effect.succeed(false)
          )
        )
        if (!free) return yield* new JobBusy({ name: job.name, holder: undefined })
        // The embedded database is one session in one process: the slot above is the whole lock.
        if (!database.sessionLocks) return
        const conn = yield* sql.reserve
        const session: AdvisoryLock.Session = (text, params = []) => conn.executeUnprepared(text, params, undefined)
        const key = lockKey(job.name)
        // A try-lock, never a wait: the unlock is registered in the same uninterruptible step.
        const locked = yield* AdvisoryLock.tryLock(session, key).pipe(
          Effect.tap((locked) =>
            locked ? Effect.addFinalizer(() => Effect.ignore(AdvisoryLock.unlock(session, key))) : Effect.void
          ),
          Effect.uninterruptible
        )
        if (!locked) return yield* new JobBusy({ name: job.name, holder: yield* AdvisoryLock.holder(session, key) })
      })

    const errorText = (cause: Cause.Cause<JobError>): string =>
      scrub(Option.match(Cause.failureOption(cause), {
        onSome: (error) => `${error._tag}: ${error.message}`,
        onNone: () => `unexpected: ${Cause.pretty(cause).split("\n")[0]}`
      }))

    // The write completes even when the run was interrupted (a shutdown), yet a hung connection cannot
    // hold the shutdown past RECORD_TIMEOUT: the timeout races the write in fibers of its own, which
    // can be interrupted while this one cannot.
    const record = <A, E>(effect: Effect.Effect<A, E>) =>
      effect.pipe(Effect.interruptible, Effect.timeout(RECORD_TIMEOUT), Effect.orDie, Effect.uninterruptible)

    /** Claims, runs and records one run of `job`. Fails only when the record cannot be written. */
    const attempt = (job: JobDefinition): Effect.Effect<Outcome, SqlError> =>
      Effect.scoped(Effect.gen(function*() {
        yield* ensureTable
        const start = { name: job.name, kind: job.kind, host, pid: process.pid }
        const claimed = yield* Effect.either(claim(job))
        if (claimed._tag === "Left") {
          if (claimed.left._tag !== "JobBusy") return yield* claimed.left
          const busy = claimed.left
          const at = yield* now
          const detail = { reason: "running already", holderPid: busy.holder?.pid ?? null }
          const id = yield* Record.insertSkipped(sql, { ...start, at }, detail)
          const [run] = yield* Record.recent(sql, { id, limit: 1 })
          return { _tag: "Skipped", run: run!, busy } as const
        }
        // We hold the lock: a run still `running` belongs to a process that died.
        yield* Record.interruptStale(sql, job.name)
        return yield* Effect.uninterruptibleMask((restore) =>
          Effect.gen(function*() {
            const id = yield* Record.insertRunning(sql, { ...start, at: yield* now })
            const exit = yield* Effect.exit(restore(Effect.provide(runJob(job, context), services)))
            const status = Exit.isSuccess(exit)
              ? "succeeded" as const
              : Cause.isInterruptedOnly(exit.cause)
              ? "interrupted" as const
              : "failed" as const
            yield* record(Record.finish(sql, id, {
              at: yield* now,
              status,
              error: Exit.isSuccess(exit) ? null : status === "interrupted" ? "interrupted" : errorText(exit.cause),
              detail: Exit.isSuccess(exit) ? exit.value : null
            }))
            yield* record(Record.trim(sql, job.name, keepRuns))
            const [run] = yield* Record.recent(sql, { id, limit: 1 })
            return { _tag: "Ran", run: run!, exit } as const
          })
        )
      })).pipe(
        Effect.tap((outcome) => options.onRun?.(outcome.run) ?? Effect.void),
        Effect.annotateLogs({ job: job.name, kind: job.kind })
      )

    const runOnce = (name: string) =>
      Option.match(find(name), {
        onNone: () => Effect.fail(new UnknownJob({ name, environment, known: jobs.map((j) => j.name) })),
        onSome: (job) =>
          Effect.flatMap(attempt(job), (outcome): Effect.Effect<Record.JobRun, JobBusy | JobError> =>
            outcome._tag === "Skipped"
              ? Effect.fail(outcome.busy)
              : Exit.match(outcome.exit, {
                onSuccess: () => Effect.succeed(outcome.run),
                onFailure: (cause) => Effect.failCause(cause)
              }))
      })

    const logOutcome = (outcome: Outcome) =>
      outcome.run.status === "failed"
        ? Effect.logWarning(`job ${outcome.run.name} failed: ${outcome.run.error}`)
        : Effect.logInfo(`job ${outcome.run.name} ${outcome.run.status}`)

    /** One job's loop: sleep to its next tick, run, record; a missed tick is not caught up. */
    const loop = (job: JobDefinition): Effect.Effect<never> =>
      Effect.gen(function*() {
        const from = yield* Ref.make(yield* Clock.currentTimeMillis)
        const tick = Effect.gen(function*() {
          const at = nextRun(job, yield* Ref.get(from))
          yield* Effect.sleep(Duration.millis(Math.max(0, at - (yield* Clock.currentTimeMillis))))
          yield* attempt(job).pipe(
            Effect.flatMap(logOutcome),
            Effect.catchAllCause((cause) =>
              Cause.isInterruptedOnly(cause)
                ? Effect.interrupt
                : Effect.logError(`job ${job.name}: could not run or record it: ${scrub(Cause.pretty(cause))}`)
            )
          )
          yield* Ref.set(from, Math.max(yield* Clock.currentTimeMillis, at))
        })
        yield* Effect.logInfo(
          `job ${job.name} (${job.kind}) at "${job.schedule}"${job.timeZone ? ` ${job.timeZone}` : ""}, next ${
            new Date(nextRun(job, yield* Ref.get(from))).toISOString()
          }`
        )
        return yield* Effect.forever(tick)
      }).pipe(Effect.annotateLogs({ job: job.name }))

    const scheduler: Effect.Effect<never> = jobs.length === 0
      ? Effect.zipRight(Effect.logInfo(`no jobs declared for ${environment}`), Effect.never)
      : Effect.zipRight(
        Effect.forEach(jobs, loop, { concurrency: "unbounded", discard: true }),
        Effect.never
      )

    return Jobs.of({
      environment,
      jobs,
      upcoming: Effect.map(Clock.currentTimeMillis, (ms) =>
        jobs.map((job) => ({
          name: job.name,
          kind: job.kind,
          schedule: job.schedule,
          timeZone: job.timeZone ?? null,
          nextAt: new Date(nextRun(job, ms)).toISOString()
        }))),
      recent: (recentOptions = {}) =>
        Record.recent(sql, { name: recentOptions.name, limit: Math.max(1, recentOptions.limit ?? 20) }),
      runOnce,
      scheduler
    })
  })

/** Jobs over the database, configuration and services in context. */
export const layer = (
  options: JobsOptions = {}
): Layer.Layer<Jobs, InvalidConfig, SqlClient.SqlClient | Database | DbConfig | JobServices> =>
  Layer.effect(Jobs, make(options))

/** The scheduler forked for the life of the layer: add it to a long-running server. */
export const schedulerLayer: Layer.Layer<never, never, Jobs> = Layer.scopedDiscard(
  Effect.flatMap(Jobs, (jobs) => Effect.forkScoped(jobs.scheduler))
)
