/** `rollback`: down migrations, newest first, after the guard agrees. */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { Guard } from "../Guard.js"
import { ensureNotBlocked, ensureNoTransactionControl } from "./checks.js"
import { type Locked, locked, type MigratorContext, timeouts } from "./context.js"
import { InvalidTarget, MigrationFailed, MissingDownMigration, UnknownMigration } from "./errors.js"
import * as History from "./history.js"
import type { Migration } from "./source.js"
import { inTransaction, runBody } from "./transaction.js"
import type { RollbackOptions } from "./types.js"

/** Which applied migrations a rollback undoes, newest first. */
export const rollbackSet = (state: Locked, opts: RollbackOptions) =>
  Effect.gen(function*() {
    const applied = state.history.filter((row) => row.status === "applied").map((row) => row.name).reverse()
    if (opts.to !== undefined) {
      const at = applied.indexOf(opts.to)
      if (at === -1) {
        return yield* state.migrations.some((m) => m.name === opts.to)
          ? Effect.fail(
            new InvalidTarget({ name: opts.to, reason: "is not applied, so there is nothing to roll back to" })
          )
          : Effect.fail(new UnknownMigration({ name: opts.to, known: applied }))
      }
      return applied.slice(0, at)
    }
    const steps = opts.steps ?? 1
    if (!Number.isInteger(steps) || steps < 1) {
      return yield* new InvalidTarget({ name: String(steps), reason: "--steps must be a positive whole number" })
    }
    return applied.slice(0, steps)
  })

/** Runs down migrations, newest first, after the guard agrees. */
export const rollback = (ctx: MigratorContext, opts: RollbackOptions = {}) => {
  const onEvent = opts.onEvent ?? (() => Effect.void)
  return Effect.flatMap(Guard, (guard) =>
    locked(ctx, onEvent, (state) =>
      Effect.gen(function*() {
        yield* ensureNotBlocked(state.status)
        const names = yield* rollbackSet(state, opts)
        if (names.length === 0) return { rolledBack: [] }
        const byName = new Map(state.migrations.map((m) => [m.name, m]))
        const missing = names.filter((name) => Option.isNone(byName.get(name)?.down ?? Option.none()))
        if (missing.length > 0) return yield* new MissingDownMigration({ migrations: missing })
        const downOf = (migration: Migration) => {
          const body = Option.getOrThrow(migration.down)
          const file = migration.file.replace(/\.sql$/, ".down.sql")
          return { body, file, transactional: body._tag === "Code" || body.transactional !== false }
        }
        for (const name of names) {
          const migration = byName.get(name)!
          const down = downOf(migration)
          yield* ensureNoTransactionControl(migration, down.body, down.file, down.transactional)
        }
        yield* guard.confirm({
          action: `roll back ${names.join(", ")}`,
          variable: "DB_ROLLBACK",
          target: ctx.database.database,
          yes: opts.yes
        })
        const rolledBack: Array<string> = []
        for (const name of names) {
          const migration = byName.get(name)!
          const { body: down, file, transactional } = downOf(migration)
          const started = Date.now()
          if (transactional) {
            yield* inTransaction(
              ctx,
              state.run,
              name,
              onEvent,
              runBody(ctx, state.run, state.conn, migration, down, file, true).pipe(
                Effect.zipRight(History.deleteRecord(state.run, ctx.table, name))
              )
            )
          } else {
            // Outside a transaction, as for up migrations: what ran, ran. A failure halfway
            // marks the migration failed at its statement, which blocks runs until repair.
            yield* state.run(timeouts(ctx, false))
            yield* runBody(ctx, state.run, state.conn, migration, down, file, false).pipe(
              Effect.tapError((error) =>
                error instanceof MigrationFailed
                  ? History.recordFailed(state.run, ctx.table, name, error.statement, error.serverMessage)
                  : Effect.void
              ),
              Effect.ensuring(Effect.ignore(state.run("RESET lock_timeout; RESET statement_timeout")))
            )
            yield* History.deleteRecord(state.run, ctx.table, name)
          }
          rolledBack.push(name)
          yield* onEvent({ _tag: "RolledBack", name, durationMs: Date.now() - started })
        }
        return { rolledBack }
      })))
}
