/**
 * Migrator: applies, plans, rolls back, baselines, adopts, repairs and checks migrations.
 *
 * Every run that writes history holds one reserved connection with a session advisory lock
 * (server) taken in a poll loop *before* the history table is touched, so racing deploys apply
 * each migration exactly once. Each migration runs in its own transaction with `lock_timeout`
 * set; lock timeouts are retried with jittered backoff. Statements PostgreSQL refuses inside a
 * transaction run one by one, under a `running` history row that becomes `failed` (and blocks
 * later runs until repair) if they stop halfway.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Config from "effect/Config"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { DbConfig, InvalidConfig } from "../Config.js"
import { type ConnectError, Database } from "../Database.js"
import type { Guard, GuardError } from "../Guard.js"
import * as Adopt from "./adopt.js"
import type { MigratorContext } from "./context.js"
import * as Drift from "./drift.js"
import type {
  MigrateError,
  MigrationBlocked,
  MigrationLockTimeout,
  MigrationSourceError,
  RollbackError,
  UnknownMigration
} from "./errors.js"
import * as History from "./history.js"
import * as Migrate from "./migrate.js"
import type { MigrationStatus } from "./plan.js"
import * as Rollback from "./rollback.js"
import { fromDirectory, type Migration } from "./source.js"
import * as Status from "./status.js"
import { lockRetrySchedule } from "./transaction.js"
import type {
  AdoptResult,
  DriftOptions,
  DriftReport,
  MigrateOptions,
  MigrateResult,
  MigrationPlan,
  MigratorOptions,
  RepairResult,
  RollbackOptions
} from "./types.js"

export type {
  AdoptResult,
  DriftEvent,
  DriftOptions,
  DriftReport,
  MigrateEvent,
  MigrateOptions,
  MigrateResult,
  MigrationPlan,
  MigratorOptions,
  RepairResult,
  RollbackOptions
} from "./types.js"
import { spanTarget, traced } from "../Tracing.js"

type Failure = MigrationSourceError | SqlError

/** The Migrator service, with its layers. */
export class Migrator extends Context.Tag("dbkit/Migrator")<Migrator, {
  /** The migrations known to the source, in order. */
  readonly migrations: Effect.Effect<ReadonlyArray<Migration>, MigrationSourceError>
  /** Applied, pending, changed, missing, out-of-order and failed migrations. Changes nothing. */
  readonly status: Effect.Effect<MigrationStatus, Failure>
  /** The pending migrations' SQL and lint findings. Changes nothing. */
  readonly plan: (
    options?: { readonly to?: string | undefined }
  ) => Effect.Effect<MigrationPlan, Failure | UnknownMigration>
  /** Applies pending migrations (or tries them and rolls back, with `dryRun`). */
  readonly migrate: (options?: MigrateOptions) => Effect.Effect<MigrateResult, MigrateError | SqlError>
  /** Runs down migrations, newest first, after the guard agrees (DB_ROLLBACK_CONFIRM / --yes). */
  readonly rollback: (
    options?: RollbackOptions
  ) => Effect.Effect<{ readonly rolledBack: ReadonlyArray<string> }, RollbackError | GuardError | SqlError, Guard>
  /** Records migrations up to `to` as applied without running them (an existing schema). */
  readonly baseline: (options: { readonly to: string }) => Effect.Effect<
    { readonly marked: ReadonlyArray<string> },
    MigrationSourceError | MigrationLockTimeout | UnknownMigration | MigrationBlocked | SqlError
  >
  /** Imports drizzle-orm's and @effect/sql's migration history, so nothing re-runs. */
  readonly adopt: Effect.Effect<AdoptResult, MigrationSourceError | MigrationLockTimeout | SqlError>
  /** Accepts changed checksums and clears failed records (re-run them, or `markApplied`). */
  readonly repair: (options?: {
    readonly markApplied?: ReadonlyArray<string> | undefined
  }) => Effect.Effect<RepairResult, MigrationSourceError | MigrationLockTimeout | UnknownMigration | SqlError>
  /** Replays every migration into a scratch database and compares its catalog with this one. */
  readonly drift: (options?: DriftOptions) => Effect.Effect<DriftReport, MigrateError | ConnectError | SqlError>
}>() {
  /** The Migrator over an explicit source. */
  static get layer(): typeof layer {
    return layer
  }
  /** The Migrator over the configured migrations directory, timeouts from the environment. */
  static get layerConfig(): typeof layerConfig {
    return layerConfig
  }
}

const ms = (d: Duration.DurationInput) => Math.max(0, Math.round(Duration.toMillis(Duration.decode(d))))

/** Resolves the options into the context the engine runs on, and wires the engine's functions. */
const make = (options: MigratorOptions) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const database = yield* Database
    const table: History.HistoryTable = options.historyTable ??
      (options.schema
        ? { schema: options.schema, table: "dbkit_migrations" }
        : { schema: "dbkit", table: "migrations" })
    const retries = options.lockRetries ?? 4
    const ctx: MigratorContext = {
      sql,
      database,
      options,
      table,
      target: options.schema ? `${database.target} (schema ${options.schema})` : database.target,
      lockWaitMs: ms(options.lockWait ?? "60 seconds"),
      lockTimeoutMs: ms(options.lockTimeout ?? "5 seconds"),
      statementTimeoutMs: options.statementTimeout === undefined ? 0 : ms(options.statementTimeout),
      retries,
      key: History.lockKey(table),
      pool: (text, params = []) => sql.unsafe(text, params),
      retrySchedule: lockRetrySchedule(retries),
      catalogScope: options.schema ? { schemas: [options.schema] } : {},
      // The scratch replays of drift and dry runs: another Migrator, on the database provided.
      replay: (replayOptions, migrateOptions) =>
        Effect.flatMap(Migrator, (m) => m.migrate(migrateOptions)).pipe(Effect.provide(layer(replayOptions)))
    }
    return Migrator.of(traced("Migrator", yield* spanTarget, {
      migrations: options.source,
      status: Status.status(ctx),
      plan: (opts) => Status.plan(ctx, opts),
      migrate: (opts) => Migrate.migrate(ctx, opts),
      rollback: (opts) => Rollback.rollback(ctx, opts),
      baseline: (opts) => Adopt.baseline(ctx, opts),
      adopt: Adopt.adopt(ctx),
      repair: (opts) => Adopt.repair(ctx, opts),
      drift: (opts) => Drift.drift(ctx, opts)
    }))
  })

/** The Migrator over an explicit source (a folder, code migrations, or both). */
export const layer = (options: MigratorOptions): Layer.Layer<Migrator, never, SqlClient.SqlClient | Database> =>
  Layer.effect(Migrator, make(options))

/** Timeouts from the environment: DB_MIGRATION_LOCK_WAIT, DB_LOCK_TIMEOUT, DB_STATEMENT_TIMEOUT. */
const timeoutsConfig = Config.all({
  lockWait: Config.option(Config.duration("DB_MIGRATION_LOCK_WAIT")),
  lockTimeout: Config.option(Config.duration("DB_LOCK_TIMEOUT")),
  statementTimeout: Config.option(Config.duration("DB_STATEMENT_TIMEOUT"))
})

/**
 * The Migrator over the configured migrations directory (DBKIT_MIGRATIONS_DIR, default
 * `migrations`), with timeouts from the environment unless given.
 */
export const layerConfig = (
  options: Omit<MigratorOptions, "source"> = {}
): Layer.Layer<Migrator, InvalidConfig, SqlClient.SqlClient | Database | DbConfig> =>
  Layer.unwrapEffect(
    Effect.gen(function*() {
      const config = yield* DbConfig
      const timeouts = yield* Effect.mapError(
        timeoutsConfig,
        (error) => new InvalidConfig({ variable: "DB_*_TIMEOUT", reason: String(error) })
      )
      return layer({
        lockWait: Option.getOrUndefined(timeouts.lockWait),
        lockTimeout: Option.getOrUndefined(timeouts.lockTimeout),
        statementTimeout: Option.getOrUndefined(timeouts.statementTimeout),
        ...options,
        source: fromDirectory(config.migrationsDir)
      })
    })
  )

export type { MigrationStatus }
