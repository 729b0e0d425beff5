/**
 * The Migrator's typed errors. Each carries what a user needs to act: the migration, the
 * statement, the server's message, and what to run next.
 */
import * as Data from "effect/Data"
import type { LockHolder } from "../AdvisoryLock.js"

/** The migrations folder or a migration definition cannot be read or makes no sense. */
export class MigrationSourceError extends Data.TaggedError("MigrationSourceError")<{
  readonly path: string
  readonly reason: string
}> {
  override get message() {
    return `migrations at ${this.path}: ${this.reason}`
  }
}

/** A migration failed; it was rolled back (transactional) or recorded as failed (non-transactional). */
export class MigrationFailed extends Data.TaggedError("MigrationFailed")<{
  readonly migration: string
  readonly file: string
  /** 1-based index of the failing statement (0 when not known, e.g. a timeout), and how many the migration has. */
  readonly statement: number
  readonly statements: number
  readonly serverMessage: string
  readonly code: string | undefined
  /** 1-based character position within the statement, when the server gave one. */
  readonly position: number | undefined
  readonly detail: string | undefined
  readonly transactional: boolean
  /** A dry run judged it in a scratch database (the migrations replayed, without this database's data). */
  readonly scratch?: boolean | undefined
  readonly cause?: unknown
}> {
  override get message() {
    const where = this.position !== undefined ? `, at character ${this.position}` : ""
    const code = this.code ? ` [${this.code}]` : ""
    const after = this.scratch === true
      ? "the dry run found it in a scratch database replaying the migrations one by one, as migrate runs them; this database was not changed; fix it and run migrate --dry-run again"
      : this.transactional
      ? "it was rolled back; fix it and run migrate again"
      : "it ran outside a transaction and is recorded as failed; fix the database by hand, then run `dbkit migrate repair`"
    const at = this.statement > 0 ? ` at statement ${this.statement} of ${this.statements}` : ""
    return `migration ${this.migration} (${this.file}) failed${at}${where}: ${this.serverMessage}${code}${
      this.detail ? ` (${this.detail})` : ""
    } — ${after}`
  }
}

/** Who holds the migration lock, from pg_stat_activity. */
export type { LockHolder }

/** Another migrator held the lock for longer than the lock timeout. */
export class MigrationLockTimeout extends Data.TaggedError("MigrationLockTimeout")<{
  readonly timeoutMs: number
  readonly holder: LockHolder | undefined
}> {
  override get message() {
    const who = this.holder
      ? `process ${this.holder.pid} (${this.holder.applicationName || "unnamed"}${
        this.holder.since ? `, since ${this.holder.since}` : ""
      })`
      : "another session"
    return `timed out after ${this.timeoutMs} ms waiting for the migration lock held by ${who}; another deploy is probably migrating`
  }
}

/** Applied migrations whose content changed since they were applied. */
export class ChecksumMismatch extends Data.TaggedError("ChecksumMismatch")<{
  readonly migrations: ReadonlyArray<{ readonly name: string; readonly applied: string; readonly current: string }>
}> {
  override get message() {
    return `applied migration${this.migrations.length > 1 ? "s" : ""} changed since applied: ${
      this.migrations.map((m) => m.name).join(", ")
    }; restore the original file${
      this.migrations.length > 1 ? "s" : ""
    } or accept the change with \`dbkit migrate repair\``
  }
}

/** Pending migrations sort before the newest applied one. */
export class OutOfOrder extends Data.TaggedError("OutOfOrder")<{
  readonly migrations: ReadonlyArray<string>
  readonly newestApplied: string
}> {
  override get message() {
    return `pending migration${this.migrations.length > 1 ? "s" : ""} ${this.migrations.join(", ")} sort${
      this.migrations.length > 1 ? "" : "s"
    } before the newest applied one (${this.newestApplied}); rename ${
      this.migrations.length > 1 ? "them" : "it"
    } or pass --allow-out-of-order`
  }
}

/** A migration that ran outside a transaction failed or was interrupted; later runs wait for repair. */
export class MigrationBlocked extends Data.TaggedError("MigrationBlocked")<{
  readonly migration: string
  readonly status: string
  readonly statement: number | undefined
  readonly error: string | undefined
}> {
  override get message() {
    const at = this.statement !== undefined ? ` at statement ${this.statement}` : ""
    return `migration ${this.migration} is recorded as ${this.status}${at}${
      this.error ? ` (${this.error})` : ""
    }; fix the database by hand, then run \`dbkit migrate repair\``
  }
}

/** `--to NAME` names no known migration. */
export class UnknownMigration extends Data.TaggedError("UnknownMigration")<{
  readonly name: string
  readonly known: ReadonlyArray<string>
}> {
  override get message() {
    const near = this.known.filter((k) => k.includes(this.name) || this.name.includes(k)).slice(0, 3)
    return `no migration named ${this.name}${near.length > 0 ? `; did you mean ${near.join(", ")}?` : ""}`
  }
}

/**
 * A migration that runs in dbkit's transaction contains BEGIN, COMMIT, END, ROLLBACK, … : it would
 * commit part of itself without its history row. Refused before anything runs.
 */
export class TransactionControlRefused extends Data.TaggedError("TransactionControlRefused")<{
  readonly migration: string
  readonly file: string
  /** 1-based line of the statement in the file, and its index within the migration. */
  readonly line: number
  readonly statement: number
  /** `BEGIN`, `COMMIT`, `START TRANSACTION`, … */
  readonly keyword: string
}> {
  override get message() {
    return `migration ${this.migration} has ${this.keyword} at ${this.file}:${this.line} (statement ${this.statement}): ` +
      `dbkit runs each migration in its own transaction, and ${this.keyword} there would end it, committing part of the ` +
      `migration without recording it; remove the transaction control, or put "-- dbkit:no-transaction" on its own line ` +
      `to run the file statement by statement under your own BEGIN/COMMIT (nothing was applied)`
  }
}

/** Migrated by another tool (its history has rows) and never adopted: migrate would re-run everything. */
export class AdoptRequired extends Data.TaggedError("AdoptRequired")<{
  readonly tool: "drizzle" | "@effect/sql"
  /** The other tool's history table, and how many migrations it records. */
  readonly table: string
  readonly rows: number
}> {
  override get message() {
    return `this database was migrated by ${this.tool} (${this.rows} migration${
      this.rows === 1 ? "" : "s"
    } in ${this.table}) ` +
      `and dbkit has no history of it yet, so migrate would run them all again; run \`dbkit migrate adopt\` to import ` +
      `that history, then \`dbkit migrate\` (nothing was applied)`
  }
}

export type MigrateError =
  | MigrationSourceError
  | MigrationFailed
  | MigrationLockTimeout
  | ChecksumMismatch
  | OutOfOrder
  | MigrationBlocked
  | UnknownMigration
  | TransactionControlRefused
  | AdoptRequired

/** Migrations to roll back that have no down file (or no longer exist); nothing was run. */
export class MissingDownMigration extends Data.TaggedError("MissingDownMigration")<{
  readonly migrations: ReadonlyArray<string>
}> {
  override get message() {
    return `cannot roll back: no down migration for ${this.migrations.join(", ")} (add ${
      this.migrations.length > 1 ? "their" : "its"
    } .down.sql file); nothing was rolled back`
  }
}

/** `rollback --to NAME` or `baseline --to NAME` names a migration in the wrong state. */
export class InvalidTarget extends Data.TaggedError("InvalidTarget")<{
  readonly name: string
  readonly reason: string
}> {
  override get message() {
    return `${this.name}: ${this.reason}`
  }
}

export type RollbackError =
  | MigrationSourceError
  | TransactionControlRefused
  | MigrationFailed
  | MigrationLockTimeout
  | MissingDownMigration
  | UnknownMigration
  | InvalidTarget
  | MigrationBlocked
