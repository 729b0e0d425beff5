/**
 * `seed clean`: generated data deleted from the tables its seeds declare (children first), and
 * those runs forgotten so the next run generates again; reference data stays.
 */
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { Guard } from "../Guard.js"
import { quoteQualified } from "../Identifier.js"
import type { SeederContext } from "./context.js"
import { order } from "./graph.js"
import { forgetRuns } from "./history.js"

/** Deletes generated data (guarded: DB_SEED_CLEAN_CONFIRM / --yes) and forgets those runs. */
export const clean = (context: SeederContext, options: { readonly yes?: boolean | undefined } = {}) =>
  Effect.gen(function*() {
    const { database, seeds, sql } = context
    const guard = yield* Guard
    const generated = [...(Either.getOrElse(order(seeds), () => seeds))].filter((s) => s.profile !== "reference")
      .reverse()
    const tables = [...new Set(generated.flatMap((s) => s.tables ?? []))]
    yield* guard.confirm({
      action: `delete generated data from ${tables.join(", ") || "no tables"}`,
      variable: "DB_SEED_CLEAN",
      target: database.database,
      yes: options.yes
    })
    return yield* sql.withTransaction(
      Effect.gen(function*() {
        yield* sql`SELECT set_config('dbkit.audit', 'off', true)`
        const deleted: Array<{ table: string; rows: number }> = []
        for (const table of tables) {
          const rows = yield* sql.unsafe<{ n: number }>(
            `WITH gone AS (DELETE FROM ${quoteQualified(table)} RETURNING 1) SELECT count(*)::int AS n FROM gone`
          )
          deleted.push({ table, rows: rows[0]?.n ?? 0 })
        }
        yield* forgetRuns(context, generated.map((s) => s.name))
        return { tables: deleted }
      })
    )
  })
