/** What a run checks before it changes anything: a blocked, changed or foreign history; the targets. */
import * as Effect from "effect/Effect"
import type { Locked, MigratorContext } from "./context.js"
import {
  AdoptRequired,
  ChecksumMismatch,
  MigrationBlocked,
  OutOfOrder,
  TransactionControlRefused,
  UnknownMigration
} from "./errors.js"
import * as History from "./history.js"
import { type MigrationStatus, newestAppliedName } from "./plan.js"
import { findTransactionControl, type Migration, type MigrationBody } from "./source.js"
import type { MigrateOptions, OnEvent } from "./types.js"

/** A failed or interrupted non-transactional migration blocks everything until repair. */
export const ensureNotBlocked = (status: MigrationStatus) => {
  const blocked = status.failed[0]
  return blocked
    ? Effect.fail(
      new MigrationBlocked({
        migration: blocked.name,
        status: blocked.status,
        statement: blocked.statement ?? undefined,
        error: blocked.error ?? undefined
      })
    )
    : Effect.void
}

/** Refuses to migrate over a history that needs a human first. */
export const check = (locked: Locked, allowOutOfOrder: boolean) =>
  Effect.gen(function*() {
    const { status, migrations, history } = locked
    yield* ensureNotBlocked(status)
    if (status.changed.length > 0) return yield* new ChecksumMismatch({ migrations: status.changed })
    if (status.outOfOrder.length > 0 && !allowOutOfOrder) {
      return yield* new OutOfOrder({
        migrations: status.outOfOrder,
        newestApplied: newestAppliedName(migrations, history) ?? ""
      })
    }
    if (status.missing.length > 0) {
      yield* Effect.logWarning(`applied migrations missing from the source: ${status.missing.join(", ")}`)
    }
  })

/** Where `name` is in the source, or UnknownMigration. */
export const indexOf = (migrations: ReadonlyArray<Migration>, name: string) =>
  Effect.suspend(() => {
    const index = migrations.findIndex((m) => m.name === name)
    return index === -1
      ? Effect.fail(new UnknownMigration({ name, known: migrations.map((m) => m.name) }))
      : Effect.succeed(index)
  })

/** The pending migrations, in order, up to `to` (inclusive). */
export const selectPending = (migrations: ReadonlyArray<Migration>, status: MigrationStatus, to: string | undefined) =>
  Effect.gen(function*() {
    const pending = new Set(status.pending)
    const last = to === undefined ? migrations.length - 1 : yield* indexOf(migrations, to)
    return migrations.filter((m, index) => pending.has(m.name) && index <= last)
  })

/** Refuses a migration that would end dbkit's transaction for it, before anything runs. */
export const ensureNoTransactionControl = (
  migration: Migration,
  body: MigrationBody,
  file: string,
  transactional: boolean
) => {
  const found = findTransactionControl(body, transactional)
  return found === undefined
    ? Effect.void
    : Effect.fail(new TransactionControlRefused({ migration: migration.name, file, ...found }))
}

/**
 * Refuses to run every migration again over a database another migrator brought up to date
 * and nobody adopted. Only whole-database runs: a schema-targeted run (a tenant schema) has
 * a history of its own beside whatever migrated the rest of the database.
 */
export const ensureAdopted = (ctx: MigratorContext, state: Locked, pending: ReadonlyArray<Migration>) =>
  Effect.gen(function*() {
    if (ctx.options.schema !== undefined || state.history.length > 0 || pending.length === 0) return
    const drizzle = yield* History.drizzleHistory(state.run)
    if (drizzle.length > 0) {
      return yield* new AdoptRequired({ tool: "drizzle", table: "drizzle.__drizzle_migrations", rows: drizzle.length })
    }
    const effectSql = yield* History.effectSqlHistory(state.run)
    if (effectSql.length > 0) {
      return yield* new AdoptRequired({ tool: "@effect/sql", table: "effect_sql_migrations", rows: effectSql.length })
    }
  })

/** What `migrate` and its dry run check before they run anything; the pending migrations. */
export const prepare = (ctx: MigratorContext, state: Locked, opts: MigrateOptions, onEvent: OnEvent) =>
  Effect.gen(function*() {
    yield* check(state, opts.allowOutOfOrder === true)
    const pending = yield* selectPending(state.migrations, state.status, opts.to)
    for (const migration of pending) {
      yield* ensureNoTransactionControl(migration, migration.up, migration.file, migration.transactional)
    }
    yield* ensureAdopted(ctx, state, pending)
    yield* onEvent({ _tag: "Started", pending: pending.length, target: ctx.target })
    return pending
  })
