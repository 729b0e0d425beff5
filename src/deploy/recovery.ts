/**
 * The recovery step: after a failure past the safety backup, the database goes back to what it
 * was before this deploy — rolled back with the down migrations when every migration this
 * deploy applied has one, else restored from the safety backup. It runs under the deploy's own
 * confirmation: a release must never wait for a human halfway through.
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import { Guard } from "../Guard.js"
import * as ServerError from "../ServerError.js"
import type { Outcome, Run } from "./pipeline.js"
import type { Recovery } from "./report.js"

const recovered = (run: Run, how: Recovery) => Ref.update(run.state, (p) => ({ ...p, recovery: how }))

/** Undoes what this deploy applied; says how in the run's state (`recovery`). */
export const recover = (run: Run) =>
  Effect.gen(function*() {
    const { needsRestore, report } = yield* Ref.get(run.state)
    const { applied, headBefore } = report
    if (applied.length === 0 && !needsRestore) {
      return {
        status: "ok",
        detail: "nothing to undo: the failed migration was rolled back with its transaction"
      } satisfies Outcome
    }
    const byName = new Map((yield* run.migrator.migrations).map((m) => [m.name, m]))
    const withoutDown = applied.filter((name) => Option.isNone(byName.get(name)?.down ?? Option.none()))
    let rollbackFailure = ""
    if (!needsRestore && withoutDown.length === 0) {
      const rolledBack = yield* Effect.either(
        run.migrator.rollback(headBefore !== null ? { to: headBefore } : { steps: applied.length }).pipe(
          Effect.provideService(Guard, run.preconfirmed)
        )
      )
      if (rolledBack._tag === "Right") {
        yield* recovered(run, "rollback")
        return {
          status: "ok",
          detail: `rolled back ${rolledBack.right.rolledBack.join(", ")} with their down migrations`
        } satisfies Outcome
      }
      rollbackFailure = `rollback failed (${ServerError.describe(rolledBack.left)}); `
    }
    const reason = needsRestore
      ? "a migration that ran outside a transaction stopped halfway"
      : withoutDown.length > 0
      ? `no down migration for ${withoutDown.join(", ")}`
      : ""
    const file = report.backup
    if (file === null) {
      yield* recovered(run, "failed")
      return {
        status: "failed",
        detail: `${rollbackFailure}${reason}, and there is no safety backup`
      } satisfies Outcome
    }
    const restored = yield* Effect.either(
      // Its own safety backup, of the state before the deploy: that may have had no tables.
      run.restore.over(file, {
        yes: true,
        safetyBackup: true,
        terminateConnections: run.options.terminateConnections,
        allowEmpty: true
      }).pipe(
        Effect.provideService(Guard, run.preconfirmed)
      )
    )
    if (restored._tag === "Left") {
      yield* recovered(run, "failed")
      return {
        status: "failed",
        detail: `${rollbackFailure}restoring ${file} failed: ${ServerError.describe(restored.left)}`
      } satisfies Outcome
    }
    yield* recovered(run, "restore")
    return {
      status: "ok",
      detail: `${rollbackFailure}${
        reason ? `${reason}: ` : ""
      }restored the safety backup ${file} (${restored.right.tables} tables, ${restored.right.rows} rows; the failed state was backed up to ${
        restored.right.safetyBackup ?? "-"
      })`
    } satisfies Outcome
  })
