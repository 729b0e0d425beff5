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
 *
 * This file holds the service's interface and wiring; the pipeline is data in steps.ts (and
 * recovery.ts), folded by the runner in pipeline.ts.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Backup from "../backup/Backup.js"
import * as Restore from "../backup/Restore.js"
import * as Config from "../Config.js"
import { type ConnectError, Database, DatabaseLive } from "../Database.js"
import type { Guard, GuardError } from "../Guard.js"
import * as Health from "../health/Health.js"
import type { MigrationSourceError } from "../migrator/errors.js"
import * as Migrator from "../migrator/Migrator.js"
import type { MigrateEvent, MigratorOptions } from "../migrator/Migrator.js"
import { fromDirectory } from "../migrator/source.js"
import type { DeployConfig, EnvironmentSettings } from "../ProjectConfig.js"
import { passwordsOf, scrubber } from "../Redact.js"
import type { Thresholds } from "../Thresholds.js"
import { spanTarget, traced } from "../Tracing.js"
import type { DeployFailed, DeployLocked, DeployNotRecovered } from "./errors.js"
import * as Pipeline from "./pipeline.js"
import type { DeployContext } from "./pipeline.js"
import * as Record from "./record.js"
import type { DeployReport, Step } from "./report.js"
import { pipeline } from "./steps.js"

export type { DeploymentRow } from "./record.js"
export type { DeployReport, Step } from "./report.js"

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

export type DeployError =
  | DeployFailed
  | DeployNotRecovered
  | DeployLocked
  | GuardError
  | MigrationSourceError
  | SqlError

/** The Deploy service, for one environment. */
export class Deploy extends Context.Tag("dbkit/Deploy")<Deploy, {
  readonly environment: EnvironmentSettings
  /** Runs the release gate; fails with the report when a step failed. */
  readonly run: (options?: DeployOptions) => Effect.Effect<DeployReport, DeployError, Guard>
  /** The newest deploys recorded in this environment's database. */
  readonly history: (
    options?: { readonly limit?: number | undefined }
  ) => Effect.Effect<ReadonlyArray<Record.DeploymentRow>, SqlError>
}>() {
  /** The Deploy service over the services in context, for one environment. */
  static get layer(): typeof layer {
    return layer
  }
  /** Everything a deploy to one environment needs, over its own database. */
  static get layerFor(): typeof layerFor {
    return layerFor
  }
}

const make = (settings: EnvironmentSettings, migratorOptions: MigratorOptions, secrets: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const context: DeployContext = {
      settings,
      migratorOptions,
      sql,
      database: yield* Database,
      migrator: yield* Migrator.Migrator,
      backup: yield* Backup.Backup,
      restore: yield* Restore.Restore,
      health: yield* Health.Health,
      scrub: scrubber(secrets),
      pool: (text, params = []) => sql.unsafe(text, params as Array<unknown>)
    }
    return Deploy.of(traced("Deploy", yield* spanTarget, {
      environment: settings,
      run: (options = {}) => Pipeline.run(context, pipeline, options),
      history: (options = {}) => Record.list(context.pool, { environment: settings.name, limit: options.limit ?? 20 })
    }))
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
    Object.values(config.environments).flatMap((e) =>
      Option.match(e.url, { onNone: () => [], onSome: (u) => [Redacted.value(u)] })
    )
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
  ConnectError | Config.InvalidConfig
>
