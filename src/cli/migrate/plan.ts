/**
 * `dbkit migrate plan`: the pending SQL, and what in it is risky (warnings; errors with --strict).
 */
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { Migrator } from "../../migrator/Migrator.js"
import { PlanRejected } from "../outcomes.js"
import { json } from "../render.js"
import { plural } from "../shared.js"
import { MigratorLive } from "./live.js"

export const plan = (
  options: { readonly to: Option.Option<string>; readonly strict: boolean; readonly json: boolean }
) =>
  Effect.gen(function*() {
    const migrator = yield* Migrator
    const result = yield* migrator.plan({ to: Option.getOrUndefined(options.to) })
    if (options.json) {
      yield* json(result)
    } else if (result.pending.length === 0) {
      yield* Console.log(`${result.target}: nothing pending`)
    } else {
      for (const migration of result.pending) {
        yield* Console.log(
          `-- ${migration.name} (${migration.file})${migration.transactional ? "" : " — runs outside a transaction"}`
        )
        yield* Console.log(migration.statements.map((s) => `${s.replace(/;\s*$/, "")};`).join("\n") + "\n")
      }
      for (const finding of result.findings) {
        yield* Console.log(
          `${
            options.strict ? "error" : "warning"
          }: ${finding.migration} statement ${finding.statement} [${finding.rule}]: ${finding.message}\n    ${finding.excerpt}`
        )
      }
      yield* Console.log(
        `\n${plural(result.pending.length, "pending migration")}, ${
          plural(result.findings.length, "finding")
        } (${result.target})`
      )
    }
    if (options.strict && result.findings.length > 0) {
      return yield* new PlanRejected({ findings: result.findings.length })
    }
  }).pipe(Effect.provide(MigratorLive))
