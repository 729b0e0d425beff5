/**
 * `seed validate`: the row counts each seed that ran declares (`expects`), against the tables.
 */
import * as Effect from "effect/Effect"
import { quoteQualified } from "../Identifier.js"
import type { SeederContext } from "./context.js"
import { readHistory } from "./history.js"

export interface ValidationProblem {
  readonly seed: string
  readonly table: string
  readonly expected: number
  readonly actual: number
}

/** Row counts against what each seed that ran declares, at `scale` (default: the scale it ran with). */
export const validate = (context: SeederContext, options: { readonly scale?: number | undefined } = {}) =>
  Effect.gen(function*() {
    const recorded = yield* readHistory(context)
    const problems: Array<ValidationProblem> = []
    for (const seed of context.seeds) {
      const last = recorded.find((h) => h.name === seed.name)
      if (last === undefined || seed.expects === undefined) continue
      for (const [table, expected] of Object.entries(seed.expects(options.scale ?? last.scale))) {
        const rows = yield* context.sql.unsafe<{ n: number }>(`SELECT count(*)::int AS n FROM ${quoteQualified(table)}`)
        const actual = rows[0]?.n ?? 0
        if (actual < expected) problems.push({ seed: seed.name, table, expected, actual })
      }
    }
    return problems
  })
