/**
 * The deploy's runner: a pipeline is data (steps.ts), each stage a recorded step with the rule
 * for its failure, or unrecorded work between steps; one fold runs it over a `Ref` holding the
 * report. Each step is timed with `Clock`, its outcome reported (`onStep`) and written to
 * `dbkit.deployments` as it finishes, so a deploy that is killed leaves its row `running`.
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import * as Schedule from "effect/Schedule"
import * as Scope from "effect/Scope"
import type * as Backup from "../backup/Backup.js"
import type * as Restore from "../backup/Restore.js"
import type { Database } from "../Database.js"
import { Guard } from "../Guard.js"
import type * as Health from "../health/Health.js"
import { appliedBy } from "../migrator/history.js"
import type * as Migrator from "../migrator/Migrator.js"
import type { MigratorOptions } from "../migrator/Migrator.js"
import type { EnvironmentSettings } from "../ProjectConfig.js"
import * as ServerError from "../ServerError.js"
import type { DeployError, DeployOptions } from "./Deploy.js"
import { DeployFailed, DeployNotRecovered } from "./errors.js"
import * as Record from "./record.js"
import { deployer, type DeployReport, type Recovery, type Step, type StepName } from "./report.js"

/** What every deploy to one environment works with: its settings and its services. */
export interface DeployContext {
  readonly settings: EnvironmentSettings
  readonly migratorOptions: MigratorOptions
  readonly sql: SqlClient.SqlClient
  readonly database: Database["Type"]
  readonly migrator: Migrator.Migrator["Type"]
  readonly backup: Backup.Backup["Type"]
  readonly restore: Restore.Restore["Type"]
  readonly health: Health.Health["Type"]
  /** Masks every password the configuration knows. */
  readonly scrub: (text: string) => string
  /** Raw SQL over the pool. */
  readonly pool: Record.Run
}

/** A deploy in progress: the report so far, and what recovery needs to know beside it. */
export interface Progress {
  readonly report: DeployReport
  /** A migration that ran outside a transaction stopped halfway: only the safety backup undoes it. */
  readonly needsRestore: boolean
  /** How the recovery step undid the deploy; it joins the report when the deploy finishes. */
  readonly recovery: Recovery | null
}

/** One deploy: the context, its options, and its state. */
export interface Run extends DeployContext {
  readonly options: DeployOptions
  readonly dryRun: boolean
  /** The deploy was confirmed: its own recovery (rollback, restore) needs no second confirmation. */
  readonly preconfirmed: Guard["Type"]
  /** Holds the deploy lock; closed before a restore, which disconnects the lock's session too. */
  readonly lockScope: Scope.CloseableScope
  readonly state: Ref.Ref<Progress>
}

/** What a step says about itself. */
export interface Outcome {
  readonly status: Step["status"]
  readonly detail: string
}

/** What a failed step does to the deploy: finish as it is, or undo what this deploy changed first. */
export type OnFailure = "stop" | "recover"

/** A recorded step: its effect (an error becomes a failed step) and the rule for its failure. */
export interface StepStage {
  readonly _tag: "Step"
  readonly name: StepName
  readonly run: (run: Run) => Effect.Effect<Outcome, unknown>
  readonly onFailure: OnFailure
  /** Finish after this step even when it passed (a dry run ends with the preflight). */
  readonly lastIf?: ((run: Run) => boolean) | undefined
}

/** Unrecorded work (the lock, the deploy's row, the plan): its errors end the deploy as they are; the stages it returns run next. */
export interface ActionStage {
  readonly _tag: "Action"
  readonly run: (run: Run) => Effect.Effect<ReadonlyArray<Stage>, DeployError>
}

/** One entry of a pipeline. */
export type Stage = StepStage | ActionStage

/** A deploy as data: its stages in order, and what undoes it. */
export interface Pipeline {
  readonly stages: ReadonlyArray<Stage>
  /** What runs instead of the rest when a step whose rule is `recover` fails. */
  readonly recovery: ReadonlyArray<Stage>
}

/** A recorded step. */
export const step = (
  name: StepName,
  run: StepStage["run"],
  onFailure: OnFailure,
  lastIf?: StepStage["lastIf"]
): StepStage => ({
  _tag: "Step",
  name,
  run,
  onFailure,
  lastIf
})

/** Unrecorded work that adds no stages. */
export const action = (run: (run: Run) => Effect.Effect<void, DeployError>): ActionStage => ({
  _tag: "Action",
  run: (r) => Effect.as(run(r), [])
})

/** Changes the report. */
export const patch = (run: Run, change: (report: DeployReport) => Partial<DeployReport>) =>
  Ref.update(run.state, (p) => ({ ...p, report: { ...p.report, ...change(p.report) } }))

const iso = (millis: number) => new Date(millis).toISOString()

// After a restore our pooled connections were terminated: retry through the reconnect.
const resilient = <A, E>(effect: Effect.Effect<A, E>) =>
  effect.pipe(Effect.retry(Schedule.spaced("250 millis").pipe(Schedule.intersect(Schedule.recurs(6)))))

const save = (run: Run, finished: boolean) =>
  Effect.flatMap(
    Ref.get(run.state),
    ({ report }) =>
      report.id === null ? Effect.void : resilient(Record.write(run.pool, report.id, report, finished)).pipe(
        Effect.catchAll((error) =>
          Effect.logWarning(`could not record the deploy: ${run.scrub(ServerError.describe(error))}`)
        )
      )
  )

/** Runs one step: its outcome (or its error, as a failed step) is timed, reported, recorded and returned. */
const runStep = (run: Run, stage: StepStage) =>
  Effect.gen(function*() {
    const started = yield* Clock.currentTimeMillis
    const outcome = yield* stage.run(run).pipe(
      Effect.catchAll((error) => Effect.succeed<Outcome>({ status: "failed", detail: ServerError.describe(error) }))
    )
    const done: Step = {
      name: stage.name,
      status: outcome.status,
      durationMs: (yield* Clock.currentTimeMillis) - started,
      detail: run.scrub(outcome.detail)
    }
    yield* patch(
      run,
      (r) => ({
        steps: [...r.steps, done],
        error: r.error === null && done.status === "failed" ? done.detail : r.error
      })
    )
    if (run.options.onStep) yield* run.options.onStep(done)
    yield* save(run, false)
    return done.status
  })

/** The fold: each stage in turn, until one stops the deploy; a failure whose rule is `recover` runs the recovery instead of the rest. */
const fold = (run: Run, pipeline: Pipeline, stages: ReadonlyArray<Stage>): Effect.Effect<void, DeployError> => {
  const [stage, ...rest] = stages
  if (stage === undefined) return Effect.void
  if (stage._tag === "Action") return Effect.flatMap(stage.run(run), (more) => fold(run, pipeline, [...more, ...rest]))
  return Effect.flatMap(runStep(run, stage), (status) => {
    if (status === "failed") return stage.onFailure === "recover" ? fold(run, pipeline, pipeline.recovery) : Effect.void
    return stage.lastIf?.(run) === true ? Effect.void : fold(run, pipeline, rest)
  })
}

/** Headed to the end: the head now, the row finished, the report or its error. */
const finish = (run: Run) =>
  Effect.gen(function*() {
    if (!run.dryRun) {
      const after = yield* resilient(run.migrator.status).pipe(Effect.option)
      yield* patch(run, () => ({
        headAfter: Option.match(after, {
          onNone: () => null,
          onSome: (s) => s.applied.at(-1)?.name ?? null
        })
      }))
    }
    const finishedAt = iso(yield* Clock.currentTimeMillis)
    const { report } = yield* Ref.updateAndGet(run.state, (p) => {
      const failed = p.report.steps.some((s) => s.status === "failed")
      const result: DeployReport["result"] = run.dryRun ? "dry run" : failed ? "failed" : "succeeded"
      const recovery = failed ? p.recovery ?? (run.dryRun ? null : "not needed") : p.recovery
      return { ...p, report: { ...p.report, result, recovery, finishedAt } }
    })
    yield* save(run, true)
    if (!report.steps.some((s) => s.status === "failed")) return report
    return yield* (report.recovery === "failed" ? new DeployNotRecovered({ report }) : new DeployFailed({ report }))
  })

/** Runs the release gate: confirmed once, then the pipeline folded over a fresh report, then finished. */
export const run = (context: DeployContext, pipeline: Pipeline, options: DeployOptions) =>
  Effect.gen(function*() {
    const guard = yield* Guard
    const { database, settings } = context
    const dryRun = options.dryRun === true
    const confirmation = !dryRun && settings.confirm
      ? yield* guard.confirm({
        action: options.promotion
          ? `promote ${options.promotion.from} to ${settings.name}`
          : `deploy to ${settings.name}`,
        variable: "DB_DEPLOY",
        target: database.database,
        yes: options.yes
      })
      : undefined
    const state = yield* Ref.make<Progress>({
      report: {
        id: null,
        environment: settings.name,
        target: database.target,
        who: context.scrub(deployer(process.env, appliedBy())),
        startedAt: iso(yield* Clock.currentTimeMillis),
        finishedAt: null,
        dryRun,
        result: dryRun ? "dry run" : "failed",
        recovery: null,
        headBefore: null,
        headAfter: null,
        pending: [],
        applied: [],
        backup: null,
        restorePoint: null,
        abandoned: [],
        promotedFrom: options.promotion?.from ?? null,
        steps: [],
        error: null
      },
      needsRestore: false,
      recovery: null
    })
    const lockScope = yield* Scope.make()
    const deploy: Run = {
      ...context,
      options,
      dryRun,
      preconfirmed: Guard.of({
        confirm: () => Effect.succeed(confirmation ?? "flag"),
        ask: () => Effect.succeed("no terminal" as const)
      }),
      lockScope,
      state
    }
    return yield* fold(deploy, pipeline, pipeline.stages).pipe(
      Effect.zipRight(finish(deploy)),
      Effect.ensuring(Scope.close(lockScope, Exit.void))
    )
  })
