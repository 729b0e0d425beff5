/**
 * `dbkit migrate verify`: a CI gate. Exit 0 up to date, 8 pending, 9 drifted (changed,
 * missing or failed migrations).
 */
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import { Database } from "../../Database.js"
import { Migrator } from "../../migrator/Migrator.js"
import { MigrationsDrifted, MigrationsPending } from "../outcomes.js"
import { json } from "../render.js"
import { MigratorLive } from "./live.js"

export const verify = (options: { readonly json: boolean }) =>
  Effect.gen(function*() {
    const migrator = yield* Migrator
    const database = yield* Database
    const state = yield* migrator.status
    const problems = [
      ...state.changed.map((c) => `${c.name} changed since applied`),
      ...state.missing.map((name) => `${name} applied but missing from the source`),
      ...state.failed.map((f) => `${f.name} ${f.status}`)
    ]
    const verdict = problems.length > 0 ? "drifted" : state.pending.length > 0 ? "pending" : "up to date"
    if (options.json) yield* json({ target: database.target, verdict, pending: state.pending, problems })
    else if (verdict === "up to date") {
      yield* Console.log(`${database.target}: up to date (${state.applied.length} applied)`)
    }
    if (problems.length > 0) return yield* new MigrationsDrifted({ problems })
    if (state.pending.length > 0) return yield* new MigrationsPending({ pending: state.pending })
  }).pipe(Effect.provide(MigratorLive))
