/**
 * The deploy pipeline as data: preflight (connect, history, lint, drift), safety backup, restore
 * point (point.ts), migrate, health, retention, each with the rule for its failure, and the
 * recovery that a failure after the backup runs. pipeline.ts folds it; this module says what each step does and reports.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Ref from "effect/Ref"
import * as Scope from "effect/Scope"
import * as AdvisoryLock from "../AdvisoryLock.js"
import { Database } from "../Database.js"
import * as Migrator from "../migrator/Migrator.js"
import type { MigrationStatus } from "../migrator/Migrator.js"
import * as ServerError from "../ServerError.js"
import { DeployLocked } from "./errors.js"
import { action, type ActionStage, type Outcome, patch, type Pipeline, type Run, type Stage, step } from "./pipeline.js"
import { restorePoint } from "./point.js"
import * as Record from "./record.js"
import { recover } from "./recovery.js"

/** What the deploy sets out to do, read once the lock is held. */
interface Plan {
  readonly status: MigrationStatus
  readonly headBefore: string | null
  readonly pending: ReadonlyArray<string>
  /** The index of the last migration to apply (`to`); -1 when `to` names none. */
  readonly lastIndex: number
}

const skipped = (detail: string) => (): Effect.Effect<Outcome> => Effect.succeed({ status: "skipped", detail })

const connect = (run: Run) =>
  Effect.map(
    run.sql<{ version: string }>`SELECT current_setting('server_version') AS version`,
    ([row]): Outcome => ({ status: "ok", detail: `${run.database.target} (PostgreSQL ${row?.version ?? "?"})` })
  )

/** Takes the deploy lock on its own connection, in the run's lock scope, polling until `waitMs`. */
const lock = (run: Run, waitMs: number) =>
  Effect.gen(function*() {
    if (!run.database.sessionLocks) return
    const conn = yield* Scope.extend(run.sql.reserve, run.lockScope)
    const session: Record.Run = (text, params = []) => conn.executeUnprepared(text, params, undefined)
    yield* Scope.extend(
      AdvisoryLock.acquire(session, Record.lockKey, {
        wait: Duration.millis(waitMs),
        onTimeout: (holder) =>
          new DeployLocked({ environment: run.settings.name, waitedMs: waitMs, holderPid: holder?.pid })
      }),
      run.lockScope
    )
  })

/** The lock, the deploy's row and the plan (none in a dry run but the plan); the steps that follow depend on it. */
const prepare: ActionStage = {
  _tag: "Action",
  run: (run) =>
    Effect.gen(function*() {
      if (!run.dryRun) {
        yield* lock(run, Duration.toMillis(Duration.decode(run.options.lockWait ?? "60 seconds")))
        yield* Record.ensureTable(run.pool)
        const abandoned = yield* Record.abandonRunning(run.pool, run.settings.name)
        yield* patch(run, () => ({ abandoned }))
      }
      const status = yield* run.migrator.status
      const migrations = yield* run.migrator.migrations
      const to = run.options.to
      const lastIndex = to === undefined ? migrations.length - 1 : migrations.findIndex((m) => m.name === to)
      const plan: Plan = {
        status,
        headBefore: status.applied.at(-1)?.name ?? null,
        pending: migrations.filter((m, i) => status.pending.includes(m.name) && i <= lastIndex).map((m) => m.name),
        lastIndex
      }
      yield* patch(run, () => ({ headBefore: plan.headBefore, pending: plan.pending }))
      if (!run.dryRun) {
        const id = yield* Record.insertRunning(run.pool, (yield* Ref.get(run.state)).report)
        yield* patch(run, () => ({ id }))
      }
      return stagesFor(plan)
    })
}

const history = ({ headBefore, lastIndex, pending, status }: Plan) => (run: Run) =>
  Effect.sync((): Outcome => {
    const problems = [
      ...status.changed.map((c) => `${c.name} changed since applied`),
      ...status.missing.map((n) => `${n} applied but missing from the migrations folder`),
      ...status.failed.map((f) => `${f.name} is recorded as ${f.status}`),
      ...status.outOfOrder.map((n) => `${n} is pending but older than the newest applied migration`),
      ...(run.options.to !== undefined && lastIndex === -1 ? [`no migration named ${run.options.to}`] : [])
    ]
    const promotion = run.options.promotion
    if (promotion) {
      const expected = promotion.migrations.join(", ")
      if (expected !== pending.join(", ")) {
        problems.push(`promotion expected to apply [${expected}] but [${pending.join(", ")}] would be applied`)
      }
    }
    if (problems.length > 0) return { status: "failed", detail: problems.join("; ") }
    return {
      status: "ok",
      detail: `${status.applied.length} applied${headBefore ? ` (head ${headBefore})` : ""}, ${
        pending.length === 0 ? "nothing pending" : `${pending.length} pending: ${pending.join(", ")}`
      }`
    }
  })

const lint = ({ pending }: Plan) => (run: Run): Effect.Effect<Outcome, unknown> => {
  const { settings } = run
  if (settings.lint === "off" || pending.length === 0) {
    return Effect.succeed({
      status: "skipped",
      detail: settings.lint === "off" ? "lint is off for this environment" : "nothing pending"
    })
  }
  return Effect.map(run.migrator.plan({ to: run.options.to }), (plan): Outcome => {
    const first = plan.findings[0]
    if (first === undefined) {
      return { status: "ok", detail: `no risky statement in ${pending.length} pending migration(s)` }
    }
    const summary =
      `${plan.findings.length} finding(s), e.g. ${first.migration} statement ${first.statement} [${first.rule}]: ${first.message}`
    return settings.lint === "strict"
      ? { status: "failed", detail: `${summary} (lint is strict in ${settings.name}; see dbkit migrate plan --strict)` }
      : { status: "warn", detail: summary }
  })
}

/** Drift of what is applied: a Migrator over only the applied migrations replays them and compares. */
const driftOfApplied = (run: Run, applied: ReadonlySet<string>) =>
  Effect.flatMap(Migrator.Migrator, (m) => m.drift()).pipe(
    Effect.provide(Migrator.layer({
      ...run.migratorOptions,
      source: Effect.map(run.migratorOptions.source, (all) => all.filter((m) => applied.has(m.name)))
    })),
    Effect.provideService(SqlClient.SqlClient, run.sql),
    Effect.provideService(Database, run.database)
  )

const drift = ({ status }: Plan) => (run: Run) =>
  Effect.gen(function*() {
    if (run.options.skipDrift) return { status: "skipped", detail: "skipped (--skip-drift)" } satisfies Outcome
    if (run.database.kind === "embedded") {
      return { status: "skipped", detail: "not run on the embedded database" } satisfies Outcome
    }
    const checked = yield* Effect.either(driftOfApplied(
      run,
      new Set(status.applied.map((a) => a.name))
    ))
    if (checked._tag === "Left") {
      return {
        status: "warn",
        detail: `not checked: the server did not allow a scratch database (${ServerError.describe(checked.left)})`
      } satisfies Outcome
    }
    const differences = checked.right.differences
    return differences.length === 0
      ? { status: "ok", detail: "the schema matches the applied migrations" } satisfies Outcome
      : {
        status: "failed",
        detail: `${differences.length} difference(s) from a replay of the applied migrations, e.g. ${
          differences[0]!.kind
        } ${differences[0]!.object}; see dbkit migrate drift`
      } satisfies Outcome
  })

const backup = (run: Run) =>
  Effect.gen(function*() {
    const made = yield* run.backup.backup({ out: run.settings.backupDir })
    yield* run.backup.verify(made.file)
    yield* patch(run, () => ({ backup: made.file }))
    return { status: "ok", detail: `${made.file} (verified)` } satisfies Outcome
  })

/** Applies the pending migrations, each one into the report as it is applied. */
const migrate = (run: Run) =>
  run.migrator.migrate({
    to: run.options.to,
    onEvent: (event) =>
      Effect.zipRight(
        event._tag === "Applied" ? patch(run, (r) => ({ applied: [...r.applied, event.name] })) : Effect.void,
        run.options.onEvent ? run.options.onEvent(event) : Effect.void
      )
  }).pipe(
    Effect.tapError((error) =>
      error._tag === "MigrationFailed" && !error.transactional
        ? Ref.update(run.state, (p) => ({ ...p, needsRestore: true }))
        : Effect.void
    ),
    Effect.map((result): Outcome => ({
      status: "ok",
      detail: `applied ${result.applied.length}: ${result.applied.map((a) => a.name).join(", ")}`
    }))
  )

const health = (run: Run) =>
  Effect.map(
    run.health.report({ thresholds: { ...run.settings.health.thresholds, ...run.options.thresholds } }),
    (result): Outcome => {
      const failing = result.checks.filter((c) =>
        c.status === "critical" || (run.settings.health.failOn === "warn" && c.status === "warn")
      )
      if (failing.length > 0) {
        return {
          status: "failed",
          detail: `${result.status}: ${failing.map((c) => `${c.name} ${c.status} (${c.detail})`).join("; ")}`
        }
      }
      const warned = result.checks.filter((c) => c.status === "warn" || c.status === "unknown")
      return {
        status: warned.length > 0 ? "warn" : "ok",
        detail: `${result.status}${
          warned.length > 0 ? `: ${warned.map((c) => `${c.name} ${c.status}`).join(", ")}` : ""
        } (${result.checks.length} checks)`
      }
    }
  )

/** Prunes the safety backups per the environment's retention. */
const retention = (run: Run): Effect.Effect<Outcome, unknown> => {
  const { backupDir, backupRetention: { keepDays, keepLast } } = run.settings
  if (keepLast === undefined && keepDays === undefined) {
    return Effect.succeed({ status: "skipped", detail: "no retention set" })
  }
  return Effect.map(
    run.backup.prune({ keepLast, keepDays, directory: backupDir }),
    (r): Outcome => ({
      status: "ok",
      detail: `kept ${r.kept.length}, pruned ${r.pruned.length} safety backup(s) in ${backupDir}`
    })
  )
}

/** The steps after the plan. A failure before the backup stops the deploy with nothing changed; after it, the deploy is undone. */
const stagesFor = (plan: Plan): ReadonlyArray<Stage> => [
  step("history", history(plan), "stop"),
  step("lint", lint(plan), "stop"),
  step("drift", drift(plan), "stop", (run) => run.dryRun),
  ...(plan.pending.length === 0
    ? [
      step("backup", skipped("nothing to apply"), "stop"),
      step("point", skipped("nothing to apply"), "stop"),
      step("migrate", skipped("nothing pending"), "stop"),
      step("health", health, "stop")
    ]
    : [
      step("backup", backup, "stop"),
      step("point", restorePoint, "stop"),
      step("migrate", migrate, "recover"),
      step("health", health, "recover"),
      step("retention", retention, "stop")
    ])
]

/** The release gate: connect, then (once locked and planned) the rest; recovery puts the database back as it was before the deploy. */
export const pipeline: Pipeline = {
  stages: [step("connect", connect, "stop"), prepare],
  recovery: [
    action((run) => Scope.close(run.lockScope, Exit.void)), // a restore disconnects our sessions, the lock's too
    step("recovery", recover, "stop")
  ]
}
