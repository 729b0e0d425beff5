/**
 * The deploy pipeline's typed errors. A failed deploy carries its whole report: what ran, what
 * failed, and how the database was recovered.
 */
import * as Data from "effect/Data"
import type { DeployReport } from "./report.js"

/** A step failed; nothing was changed (preflight) or the database was recovered (rollback / restore). */
export class DeployFailed extends Data.TaggedError("DeployFailed")<{ readonly report: DeployReport }> {
  override get message() {
    const r = this.report
    const failed = r.steps.find((s) => s.status === "failed")
    const recovered = r.recovery === null || r.recovery === "not needed"
      ? "nothing was changed"
      : `recovered by ${
        r.recovery === "rollback" ? "rolling back with the down migrations" : "restoring the safety backup"
      }`
    return `deploy to ${r.environment} failed at ${failed?.name ?? "?"}: ${
      failed?.detail ?? r.error ?? "?"
    } — ${recovered}`
  }
}

/** A step failed and recovery failed too: the database needs a human. */
export class DeployNotRecovered extends Data.TaggedError("DeployNotRecovered")<{ readonly report: DeployReport }> {
  override get message() {
    const r = this.report
    const failed = r.steps.find((s) => s.status === "failed")
    const recovery = r.steps.find((s) => s.name === "recovery")
    return `deploy to ${r.environment} failed at ${failed?.name ?? "?"} and could not be recovered (${
      recovery?.detail ?? "?"
    }); ` +
      `the safety backup is ${r.backup ?? "missing"} — restore it with \`dbkit restore FILE\` once the cause is fixed`
  }
}

/** Another deploy holds the deploy lock. */
export class DeployLocked extends Data.TaggedError("DeployLocked")<{
  readonly environment: string
  readonly waitedMs: number
  readonly holderPid: number | undefined
}> {
  override get message() {
    return `another deploy to ${this.environment} is running${
      this.holderPid ? ` (server process ${this.holderPid})` : ""
    }; waited ${this.waitedMs} ms for it`
  }
}

/** `env promote` cannot apply exactly what the source environment has. */
export class PromotionBlocked extends Data.TaggedError("PromotionBlocked")<{
  readonly from: string
  readonly to: string
  readonly problems: ReadonlyArray<string>
}> {
  override get message() {
    return `cannot promote ${this.from} to ${this.to}: ${this.problems.join("; ")}`
  }
}
