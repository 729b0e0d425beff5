/**
 * Deploy: the release gate as one call — preflight (connect, history, lint, drift), safety
 * backup, migrate, health — and, when a step after the backup fails, recovery: roll back with
 * the down migrations when every migration this deploy applied has one, else restore the
 * safety backup. Every step is written to `dbkit.deployments` as it finishes, so a deploy that
 * is killed leaves its row `running`; the next deploy marks it abandoned, says so, and proceeds.
 *
 * The deploy is guarded once (DB_DEPLOY_CONFIRM=1 / --yes; production also
 * DB_DEPLOY_ALLOW_PRODUCTION=1); that confirmation covers the rollback or restore it may have to
 * run itself, which must never wait for a human halfway through a release.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import type * as CommandExecutor from "@effect/platform/CommandExecutor"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"
import * as Scope from "effect/Scope"
import * as Backup from "../backup/Backup.js"
import * as Restore from "../backup/Restore.js"
import * as Config from "../Config.js"
import { type ConnectError, Database, DatabaseLive } from "../Database.js"
import { Guard, type GuardError } from "../Guard.js"
import * as Health from "../health/Health.js"
import type { Thresholds } from "../health/thresholds.js"
import { appliedBy } from "../migrator/history.js"
import * as Migrator from "../migrator/Migrator.js"
import type { MigrateEvent, MigratorOptions } from "../migrator/Migrator.js"
import type { MigrationSourceError } from "../migrator/errors.js"
import { fromDirectory } from "../migrator/source.js"
import type { DeployConfig, EnvironmentSettings } from "./config.js"
import { DeployFailed, DeployLocked, DeployNotRecovered } from "./errors.js"
import * as AdvisoryLock from "../AdvisoryLock.js"
import * as ServerError from "../ServerError.js"
import * as Record from "./record.js"
import { type DeployReport, deployer, passwordsOf, type Recovery, scrubber, type Step, type StepName } from "./report.js"

export type { DeployReport, Step } from "./report.js"
export type { DeploymentRow } from "./record.js"

export interface DeployOptions {
  /** Run the preflight only (connect, history, lint, drift); change and record nothing. */
  readonly dryRun?: boolean | undefined
  /** `--yes`: confirm without DB_DEPLOY_CONFIRM or a prompt. */
  readonly yes?: boolean | undefined
  /** Stop after this migration (promotion). */
  readonly to?: string | undefined
  /** Promotion: the environment these migrations come from, and exactly what must be pending up to `to`. */
  readonly promotion?: { readonly from: string; readonly migrations: ReadonlyArray<string> } | undefined
  /** Skip the drift check (it replays every applied migration into a scratch database). */
  readonly skipDrift?: boolean | undefined
  /** A restore during recovery disconnects the application's sessions instead of failing. */
  readonly terminateConnections?: boolean | undefined
  /** Health thresholds on top of the environment's. */
  readonly thresholds?: Partial<Thresholds> | undefined
  /** How long to wait for another deploy's lock (default 60 s). */
  readonly lockWait?: Duration.DurationInput | undefined
  readonly onStep?: ((step: Step) => Effect.Effect<void>) | undefined
  readonly onEvent?: ((event: MigrateEvent) => Effect.Effect<void>) | undefined
}

export type DeployError = DeployFailed | DeployNotRecovered | DeployLocked | GuardError | MigrationSourceError | SqlError

/** The Deploy service, for one environment. */
export class Deploy extends Context.Tag("dbkit/Deploy")<Deploy, {
  readonly environment: EnvironmentSettings
  /** Runs the release gate; fails with the report when a step failed. */
  readonly run: (options?: DeployOptions) => Effect.Effect<DeployReport, DeployError, Guard>
  /** The newest deploys recorded in this environment's database. */
  readonly history: (options?: { readonly limit?: number | undefined }) => Effect.Effect<ReadonlyArray<Record.DeploymentRow>, SqlError>
}>() {}

/** A step that failed, with what to say about it. */
interface Outcome {
  readonly status: Step["status"]
  readonly detail: string
}

const messageOf = (error: unknown): string => ServerError.describe(error)

const now = () => new Date().toISOString()

const make = (settings: EnvironmentSettings, migratorOptions: MigratorOptions, secrets: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const database = yield* Database
    const migrator = yield* Migrator.Migrator
    const backup = yield* Backup.Backup
    const restore = yield* Restore.Restore
    const health = yield* Health.Health
    const scrub = scrubber(secrets)
    const pool: Record.Run = (text, params = []) => sql.unsafe(text, params as Array<unknown>)
    // After a restore our pooled connections were terminated: retry through the reconnect.
    const resilient = <A, E>(effect: Effect.Effect<A, E>) =>
      effect.pipe(Effect.retry(Schedule.spaced("250 millis").pipe(Schedule.intersect(Schedule.recurs(6)))))

    /** Takes the deploy lock on its own connection, in `scope`, polling until `waitMs`. */
    const lock = (scope: Scope.Scope, waitMs: number) =>
      Effect.gen(function*() {
        if (!database.sessionLocks) return
        const conn = yield* Scope.extend(sql.reserve, scope)
        const run: Record.Run = (text, params = []) => conn.executeUnprepared(text, params, undefined)
        yield* Scope.extend(
          AdvisoryLock.acquire(run, Record.lockKey, {
            wait: Duration.millis(waitMs),
            onTimeout: (holder) => new DeployLocked({ environment: settings.name, waitedMs: waitMs, holderPid: holder?.pid })
          }),
          scope
        )
      })

    /** Drift of what is applied: a Migrator over only the applied migrations replays them and compares. */
    const driftOfApplied = (applied: ReadonlySet<string>) =>
      Effect.flatMap(Migrator.Migrator, (m) => m.drift()).pipe(
        Effect.provide(Migrator.layer({
          ...migratorOptions,
          source: Effect.map(migratorOptions.source, (all) => all.filter((m) => applied.has(m.name)))
        })),
        Effect.provideService(SqlClient.SqlClient, sql),
        Effect.provideService(Database, database)
      )

    const run = (options: DeployOptions = {}) =>
      Effect.gen(function*() {
        const guard = yield* Guard
        const dryRun = options.dryRun === true
        let confirmation: "variable" | "flag" | "prompt" | undefined
        if (!dryRun && settings.confirm) {
          confirmation = yield* guard.confirm({
            action: options.promotion ? `promote ${options.promotion.from} to ${settings.name}` : `deploy to ${settings.name}`,
            variable: "DB_DEPLOY",
            target: database.database,
            yes: options.yes
          })
        }
        // The deploy was confirmed: its own recovery (rollback, restore) needs no second confirmation.
        const preconfirmed = Guard.of({ confirm: () => Effect.succeed(confirmation ?? "flag"), ask: () => Effect.succeed("no terminal" as const) })

        const steps: Array<Step> = []
        let report: DeployReport = {
          id: null,
          environment: settings.name,
          target: database.target,
          who: scrub(deployer(process.env, appliedBy())),
          startedAt: now(),
          finishedAt: null,
          dryRun,
          result: dryRun ? "dry run" : "failed",
          recovery: null,
          headBefore: null,
          headAfter: null,
          pending: [],
          applied: [],
          backup: null,
          abandoned: [],
          promotedFrom: options.promotion?.from ?? null,
          steps,
          error: null
        }
        const update = (patch: Partial<DeployReport>) => void (report = { ...report, ...patch, steps })
        const save = (finished: boolean) =>
          report.id === null ? Effect.void : resilient(Record.write(pool, report.id, report, finished)).pipe(
            Effect.catchAll((error) => Effect.logWarning(`could not record the deploy: ${scrub(messageOf(error))}`))
          )
        /** Runs one step: its outcome (or its error, as a failed step) is reported, recorded and returned. */
        const step = <E, R>(name: StepName, body: Effect.Effect<Outcome, E, R>) =>
          Effect.gen(function*() {
            const started = Date.now()
            const outcome = yield* body.pipe(
              Effect.catchAll((error) => Effect.succeed<Outcome>({ status: "failed", detail: messageOf(error) }))
            )
            const done: Step = { name, status: outcome.status, durationMs: Date.now() - started, detail: scrub(outcome.detail) }
            steps.push(done)
            if (done.status === "failed" && report.error === null) update({ error: done.detail })
            if (options.onStep) yield* options.onStep(done)
            yield* save(false)
            return done.status
          })

        const lockScope = yield* Scope.make()
        return yield* Effect.gen(function*() {
          // ---- preflight
          const connected = yield* step("connect", Effect.map(
            sql<{ version: string }>`SELECT current_setting('server_version') AS version`,
            ([row]) => ({ status: "ok", detail: `${database.target} (PostgreSQL ${row?.version ?? "?"})` })
          ))
          if (connected === "failed") return yield* finish()
          if (!dryRun) {
            yield* lock(lockScope, Duration.toMillis(Duration.decode(options.lockWait ?? "60 seconds")))
            yield* Record.ensureTable(pool)
            update({ abandoned: yield* Record.abandonRunning(pool, settings.name) })
          }
          const status = yield* migrator.status
          const headBefore = status.applied.at(-1)?.name ?? null
          const migrations = yield* migrator.migrations
          const lastIndex = options.to === undefined ? migrations.length - 1 : migrations.findIndex((m) => m.name === options.to)
          const pending = migrations.filter((m, i) => status.pending.includes(m.name) && i <= lastIndex).map((m) => m.name)
          update({ headBefore, pending })
          if (!dryRun) update({ id: yield* Record.insertRunning(pool, report) })

          const history = yield* step("history", Effect.sync((): Outcome => {
            const problems = [
              ...status.changed.map((c) => `${c.name} changed since applied`),
              ...status.missing.map((n) => `${n} applied but missing from the migrations folder`),
              ...status.failed.map((f) => `${f.name} is recorded as ${f.status}`),
              ...status.outOfOrder.map((n) => `${n} is pending but older than the newest applied migration`),
              ...(options.to !== undefined && lastIndex === -1 ? [`no migration named ${options.to}`] : [])
            ]
            if (options.promotion) {
              const expected = options.promotion.migrations.join(", ")
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
          }))
          if (history === "failed") return yield* finish()

          const lint = yield* step("lint", settings.lint === "off" || pending.length === 0
            ? Effect.succeed<Outcome>({ status: "skipped", detail: settings.lint === "off" ? "lint is off for this environment" : "nothing pending" })
            : Effect.map(migrator.plan({ to: options.to }), (plan): Outcome => {
              const first = plan.findings[0]
              if (first === undefined) return { status: "ok", detail: `no risky statement in ${pending.length} pending migration(s)` }
              const summary = `${plan.findings.length} finding(s), e.g. ${first.migration} statement ${first.statement} [${first.rule}]: ${first.message}`
              return settings.lint === "strict"
                ? { status: "failed", detail: `${summary} (lint is strict in ${settings.name}; see dbkit migrate plan --strict)` }
                : { status: "warn", detail: summary }
            }))
          if (lint === "failed") return yield* finish()

          const drift = yield* step("drift", Effect.gen(function*() {
            if (options.skipDrift) return { status: "skipped", detail: "skipped (--skip-drift)" } satisfies Outcome
            if (database.kind === "embedded") return { status: "skipped", detail: "not run on the embedded database" } satisfies Outcome
            const checked = yield* Effect.either(driftOfApplied(new Set(status.applied.map((a) => a.name))))
            if (checked._tag === "Left") {
              return { status: "warn", detail: `not checked: the server did not allow a scratch database (${messageOf(checked.left)})` } satisfies Outcome
            }
            const differences = checked.right.differences
            return differences.length === 0
              ? { status: "ok", detail: "the schema matches the applied migrations" } satisfies Outcome
              : {
                status: "failed",
                detail: `${differences.length} difference(s) from a replay of the applied migrations, e.g. ${differences[0]!.kind} ${differences[0]!.object}; see dbkit migrate drift`
              } satisfies Outcome
          }))
          if (drift === "failed" || dryRun) return yield* finish()

          if (pending.length === 0) {
            yield* step("backup", Effect.succeed<Outcome>({ status: "skipped", detail: "nothing to apply" }))
            yield* step("migrate", Effect.succeed<Outcome>({ status: "skipped", detail: "nothing pending" }))
            const healthy = yield* step("health", checkHealth(options))
            if (healthy === "failed") return yield* finish()
            update({ result: "succeeded" })
            return yield* finish()
          }

          // ---- the change
          const backedUp = yield* step("backup", Effect.gen(function*() {
            const made = yield* backup.backup({ out: settings.backupDir })
            yield* backup.verify(made.file)
            update({ backup: made.file })
            return { status: "ok", detail: `${made.file} (verified)` } satisfies Outcome
          }))
          if (backedUp === "failed") return yield* finish()

          const applied: Array<string> = []
          let needsRestore = false
          const migrated = yield* step("migrate", migrator.migrate({
            to: options.to,
            onEvent: (event) =>
              Effect.zipRight(
                event._tag === "Applied" ? Effect.sync(() => void applied.push(event.name)) : Effect.void,
                options.onEvent ? options.onEvent(event) : Effect.void
              )
          }).pipe(
            Effect.tapError((error) =>
              Effect.sync(() => {
                if (error._tag === "MigrationFailed" && !error.transactional) needsRestore = true
              })
            ),
            Effect.map((result): Outcome => ({
              status: "ok",
              detail: `applied ${result.applied.length}: ${result.applied.map((a) => a.name).join(", ")}`
            })),
            Effect.ensuring(Effect.sync(() => update({ applied: [...applied] })))
          ))
          const healthy = migrated === "failed" ? "failed" : yield* step("health", checkHealth(options))

          if (migrated !== "failed" && healthy !== "failed") {
            update({ result: "succeeded", recovery: null })
            yield* step("retention", prune())
            return yield* finish()
          }

          // ---- recovery: the database goes back to what it was before this deploy
          yield* Scope.close(lockScope, Exit.void) // a restore disconnects our sessions, the lock's too
          const recovery = yield* recover(applied, headBefore, needsRestore, options, preconfirmed)
          update({ recovery })
          return yield* finish()
        }).pipe(Effect.ensuring(Scope.close(lockScope, Exit.void)))

        /** Headed to the end: the head now, the row finished, the report or its error. */
        function finish() {
          return Effect.gen(function*() {
            if (!dryRun) {
              const after = yield* resilient(migrator.status).pipe(Effect.option)
              update({ headAfter: Option.match(after, { onNone: () => null, onSome: (s) => s.applied.at(-1)?.name ?? null }) })
            }
            const failed = steps.some((s) => s.status === "failed")
            if (failed) update({ result: dryRun ? "dry run" : "failed", recovery: report.recovery ?? (dryRun ? null : "not needed") })
            update({ finishedAt: now() })
            yield* save(true)
            if (!failed) return report
            return yield* (report.recovery === "failed" ? new DeployNotRecovered({ report }) : new DeployFailed({ report }))
          })
        }

        function checkHealth(opts: DeployOptions) {
          return Effect.map(
            health.report({ thresholds: { ...settings.health.thresholds, ...opts.thresholds } }),
            (result): Outcome => {
              const failing = result.checks.filter((c) =>
                c.status === "critical" || (settings.health.failOn === "warn" && c.status === "warn")
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
                detail: `${result.status}${warned.length > 0 ? `: ${warned.map((c) => `${c.name} ${c.status}`).join(", ")}` : ""} (${result.checks.length} checks)`
              }
            }
          )
        }

        function prune() {
          const { keepDays, keepLast } = settings.backupRetention
          if (keepLast === undefined && keepDays === undefined) {
            return Effect.succeed<Outcome>({ status: "skipped", detail: "no retention set" })
          }
          return Effect.map(
            backup.prune({ keepLast, keepDays, directory: settings.backupDir }),
            (r): Outcome => ({ status: "ok", detail: `kept ${r.kept.length}, pruned ${r.pruned.length} safety backup(s) in ${settings.backupDir}` })
          )
        }

        function recover(
          applied: ReadonlyArray<string>,
          headBefore: string | null,
          needsRestore: boolean,
          opts: DeployOptions,
          confirmed: Guard["Type"]
        ) {
          return Effect.gen(function*() {
            let how: Recovery = "not needed"
            yield* step("recovery", Effect.gen(function*() {
              if (applied.length === 0 && !needsRestore) {
                return { status: "ok", detail: "nothing to undo: the failed migration was rolled back with its transaction" } satisfies Outcome
              }
              const byName = new Map((yield* migrator.migrations).map((m) => [m.name, m]))
              const withoutDown = applied.filter((name) => Option.isNone(byName.get(name)?.down ?? Option.none()))
              let rollbackFailure = ""
              if (!needsRestore && withoutDown.length === 0) {
                const rolledBack = yield* Effect.either(
                  migrator.rollback(headBefore !== null ? { to: headBefore } : { steps: applied.length }).pipe(
                    Effect.provideService(Guard, confirmed)
                  )
                )
                if (rolledBack._tag === "Right") {
                  how = "rollback"
                  return { status: "ok", detail: `rolled back ${rolledBack.right.rolledBack.join(", ")} with their down migrations` } satisfies Outcome
                }
                rollbackFailure = `rollback failed (${messageOf(rolledBack.left)}); `
              }
              const reason = needsRestore
                ? "a migration that ran outside a transaction stopped halfway"
                : withoutDown.length > 0
                ? `no down migration for ${withoutDown.join(", ")}`
                : ""
              const file = report.backup
              if (file === null) {
                how = "failed"
                return { status: "failed", detail: `${rollbackFailure}${reason}, and there is no safety backup` } satisfies Outcome
              }
              const restored = yield* Effect.either(
                // Its own safety backup, of the state before the deploy: that may have had no tables.
                restore.over(file, { yes: true, safetyBackup: true, terminateConnections: opts.terminateConnections, allowEmpty: true }).pipe(
                  Effect.provideService(Guard, confirmed)
                )
              )
              if (restored._tag === "Left") {
                how = "failed"
                return { status: "failed", detail: `${rollbackFailure}restoring ${file} failed: ${messageOf(restored.left)}` } satisfies Outcome
              }
              how = "restore"
              return {
                status: "ok",
                detail: `${rollbackFailure}${reason ? `${reason}: ` : ""}restored the safety backup ${file} (${restored.right.tables} tables, ${restored.right.rows} rows; the failed state was backed up to ${restored.right.safetyBackup ?? "-"})`
              } satisfies Outcome
            }))
            return how
          })
        }
      })

    const history = (options: { readonly limit?: number | undefined } = {}) =>
      Record.list(pool, { environment: settings.name, limit: options.limit ?? 20 })

    return Deploy.of({ environment: settings, run, history })
  })

/** The Deploy service over the services in context, for one environment. */
export const layer = (
  settings: EnvironmentSettings,
  migratorOptions: MigratorOptions,
  secrets: ReadonlyArray<string> = []
): Layer.Layer<
  Deploy,
  never,
  SqlClient.SqlClient | Database | Migrator.Migrator | Backup.Backup | Restore.Restore | Health.Health
> => Layer.effect(Deploy, make(settings, migratorOptions, secrets))

/** Every URL password the configuration knows, so reports can never carry one. */
export const secretsOf = (config: DeployConfig): ReadonlyArray<string> =>
  passwordsOf(
    Object.values(config.environments).flatMap((e) => Option.match(e.url, { onNone: () => [], onSome: (u) => [Redacted.value(u)] }))
  )

/**
 * Everything a deploy to `settings` needs, wired over its own database: DbConfig (environment,
 * URL, backup directory), the database, Migrator (its timeouts), Backup, Restore, Health and Deploy.
 */
export const layerFor = (settings: EnvironmentSettings, config: DeployConfig) => {
  const dbConfig = Config.layerFrom({
    environment: settings.name,
    databaseUrl: settings.url,
    backupDir: settings.backupDir,
    migrationsDir: config.migrationsDir,
    dataDir: process.env.DBKIT_DATA_DIR?.trim() || ".dbkit/pglite"
  })
  const migratorOptions: MigratorOptions = {
    source: fromDirectory(config.migrationsDir),
    lockTimeout: settings.lockTimeout,
    statementTimeout: Option.getOrUndefined(settings.statementTimeout)
  }
  const services = Layer.mergeAll(Health.layer({ thresholds: settings.health.thresholds }), Restore.layer).pipe(
    Layer.provideMerge(Backup.layer),
    Layer.provideMerge(Migrator.layer(migratorOptions)),
    Layer.provideMerge(DatabaseLive),
    Layer.provideMerge(dbConfig)
  )
  return layer(settings, migratorOptions, secretsOf(config)).pipe(Layer.provideMerge(services))
}

export type EnvironmentLayer = Layer.Layer<
  | Deploy
  | SqlClient.SqlClient
  | Database
  | Migrator.Migrator
  | Backup.Backup
  | Restore.Restore
  | Health.Health
  | Config.DbConfig,
  ConnectError | Config.InvalidConfig,
  CommandExecutor.CommandExecutor
>
