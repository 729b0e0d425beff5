/** `status` and `plan`: what the history and the source say, read without the lock. */
import * as Effect from "effect/Effect"
import { selectPending } from "./checks.js"
import type { MigratorContext } from "./context.js"
import * as History from "./history.js"
import { lintMigrations } from "./lint.js"
import { compare } from "./plan.js"
import type { MigrationPlan } from "./types.js"

/** Applied, pending, changed, missing, out-of-order and failed migrations. */
export const status = (ctx: MigratorContext) =>
  Effect.gen(function*() {
    const migrations = yield* ctx.options.source
    return compare(migrations, yield* History.readHistory(ctx.pool, ctx.table))
  })

/** The pending migrations' SQL and lint findings. */
export const plan = (ctx: MigratorContext, opts: { readonly to?: string | undefined } = {}) =>
  Effect.gen(function*() {
    const migrations = yield* ctx.options.source
    const current = compare(migrations, yield* History.readHistory(ctx.pool, ctx.table))
    const pending = yield* selectPending(migrations, current, opts.to)
    return {
      target: ctx.target,
      pending: pending.map((m) => ({
        name: m.name,
        file: m.file,
        transactional: m.transactional,
        statements: m.up._tag === "Sql" ? m.up.statements.map((s) => s.text) : ["-- (migration defined in code)"]
      })),
      findings: lintMigrations(pending),
      status: current
    } satisfies MigrationPlan
  })
