/**
 * `dbkit migrate status`: where every migration stands.
 */
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import { Database } from "../../Database.js"
import { Migrator } from "../../migrator/Migrator.js"
import { isUpToDate } from "../../migrator/plan.js"
import { json, table } from "../render.js"
import { MigratorLive } from "./live.js"

export const status = (options: { readonly json: boolean }) =>
  Effect.gen(function*() {
    const migrator = yield* Migrator
    const database = yield* Database
    const state = yield* migrator.status
    if (options.json) return yield* json({ target: database.target, upToDate: isUpToDate(state), ...state })
    const migrations = yield* migrator.migrations
    const applied = new Map(state.applied.map((a) => [a.name, a]))
    const changed = new Set(state.changed.map((c) => c.name))
    const outOfOrder = new Set(state.outOfOrder)
    const failed = new Map(state.failed.map((f) => [f.name, f]))
    const rows = migrations.map((m) => {
      const a = applied.get(m.name)
      const f = failed.get(m.name)
      const text = f
        ? `${f.status}${f.statement ? ` at statement ${f.statement}` : ""}`
        : changed.has(m.name)
        ? "changed since applied"
        : a
        ? "applied"
        : outOfOrder.has(m.name)
        ? "pending (out of order)"
        : "pending"
      return [m.name, text, a ? a.appliedAt : ""]
    })
    for (const name of state.missing) {
      rows.push([name, "missing (applied, no file)", applied.get(name)?.appliedAt ?? ""])
    }
    yield* Console.log(table(["migration", "state", "applied at (UTC)"], rows))
    yield* Console.log(
      `\n${database.target}: ${state.applied.length} applied, ${state.pending.length} pending` +
        (state.changed.length ? `, ${state.changed.length} changed` : "") +
        (state.missing.length ? `, ${state.missing.length} missing` : "") +
        (state.failed.length ? `, ${state.failed.length} failed` : "") +
        (isUpToDate(state) ? " — up to date" : "")
    )
  }).pipe(Effect.provide(MigratorLive))
