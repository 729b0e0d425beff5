/** The Migrator's options, results and progress events. */
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as Catalog from "./catalog.js"
import type * as History from "./history.js"
import type { LintFinding } from "./lint.js"
import type { MigrationStatus } from "./plan.js"
import type { MigrationSource } from "./source.js"

/** Progress of a run, one event per migration. */
export type MigrateEvent =
  | { readonly _tag: "Started"; readonly pending: number; readonly target: string }
  | { readonly _tag: "Applying"; readonly name: string; readonly index: number; readonly total: number }
  | { readonly _tag: "Applied"; readonly name: string; readonly durationMs: number }
  | { readonly _tag: "RolledBack"; readonly name: string; readonly durationMs: number }
  | { readonly _tag: "Retrying"; readonly name: string; readonly attempt: number; readonly reason: string }
  | { readonly _tag: "WaitingForLock"; readonly holderPid: number | undefined }

export type OnEvent = (event: MigrateEvent) => Effect.Effect<void>

/** Progress of a drift check: the replay's own events, then the comparison. */
export type DriftEvent = MigrateEvent | { readonly _tag: "Comparing" }

export interface DriftOptions {
  /** Called as the replay applies each migration, and once before the catalogs are compared. */
  readonly onEvent?: ((event: DriftEvent) => Effect.Effect<void>) | undefined
}

export interface MigrateOptions {
  /** Stop after this migration (inclusive). */
  readonly to?: string | undefined
  /** Apply pending migrations older than the newest applied one instead of failing. */
  readonly allowOutOfOrder?: boolean | undefined
  /**
   * Try the pending migrations and change nothing: in one transaction on this database, rolled
   * back (so they meet its data); from the first one that transaction cannot judge as migrate
   * runs it (one that cannot run in a transaction, or one that needs the earlier ones committed,
   * such as an enum value added and then used), in a scratch database replaying the migrations.
   */
  readonly dryRun?: boolean | undefined
  readonly onEvent?: OnEvent | undefined
}

export interface MigrateResult {
  readonly applied: ReadonlyArray<{ readonly name: string; readonly durationMs: number }>
  /** Migrations a dry run could not try (see `skippedBecause`). */
  readonly skipped: ReadonlyArray<string>
  readonly upToDate: number
  readonly dryRun: boolean
  /** Dry run: the migrations (among `applied`) judged in a scratch database, not on this one. */
  readonly replayed?: ReadonlyArray<string>
  /** Dry run: why the `skipped` ones could not be tried. */
  readonly skippedBecause?: string
}

export interface RollbackOptions {
  /** How many of the most recently applied migrations to roll back (default 1). */
  readonly steps?: number | undefined
  /** Roll back everything applied after this migration (it stays applied). */
  readonly to?: string | undefined
  /** `--yes`: confirm without DB_ROLLBACK_CONFIRM or a prompt. */
  readonly yes?: boolean | undefined
  readonly onEvent?: OnEvent | undefined
}

/** What `migrate plan` shows: the pending SQL and what looks risky in it. */
export interface MigrationPlan {
  readonly target: string
  readonly pending: ReadonlyArray<{
    readonly name: string
    readonly file: string
    readonly transactional: boolean
    readonly statements: ReadonlyArray<string>
  }>
  readonly findings: ReadonlyArray<LintFinding>
  readonly status: MigrationStatus
}

export interface RepairResult {
  readonly checksumsAccepted: ReadonlyArray<string>
  readonly cleared: ReadonlyArray<string>
  readonly markedApplied: ReadonlyArray<string>
}

export interface AdoptResult {
  readonly adopted: ReadonlyArray<{ readonly name: string; readonly from: "drizzle" | "@effect/sql" }>
  /** History rows of the other tool that match no migration here. */
  readonly unmatched: ReadonlyArray<string>
}

export interface DriftReport {
  readonly target: string
  readonly differences: ReadonlyArray<Catalog.CatalogDifference>
}

export interface MigratorOptions {
  readonly source: MigrationSource
  /** Run against this schema: search_path is set to it and the history lives in it. */
  readonly schema?: string | undefined
  readonly historyTable?: History.HistoryTable | undefined
  /** How long to wait for another migrator (default 60 s). */
  readonly lockWait?: Duration.DurationInput | undefined
  /** `lock_timeout` for each migration (default 5 s). */
  readonly lockTimeout?: Duration.DurationInput | undefined
  /** `statement_timeout` for each migration (default: none). */
  readonly statementTimeout?: Duration.DurationInput | undefined
  /** Retries after a lock timeout (default 4). */
  readonly lockRetries?: number | undefined
}
