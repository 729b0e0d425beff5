/** The scheduled jobs' own errors; a job's run fails with its command's errors (run.ts). */
import * as Data from "effect/Data"
import type { LockHolder } from "../../AdvisoryLock.js"

/** `jobs run NAME` names a job the environment does not declare. */
export class UnknownJob extends Data.TaggedError("UnknownJob")<{
  readonly name: string
  readonly environment: string
  readonly known: ReadonlyArray<string>
}> {
  override get message() {
    return `no job "${this.name}" in ${this.environment}: ${
      this.known.length === 0
        ? `it declares none (add environments.${this.environment}.jobs to dbkit.config.ts)`
        : `its jobs are ${this.known.join(", ")}`
    }`
  }
}

/** The job is running already (another `dbkit serve`, or another run in this process): this run did nothing. */
export class JobBusy extends Data.TaggedError("JobBusy")<{
  readonly name: string
  readonly holder: LockHolder | undefined
}> {
  override get message() {
    const h = this.holder
    return `job ${this.name} is running already${
      h === undefined
        ? " in this process"
        : ` (server process ${h.pid}${h.applicationName ? `, ${h.applicationName}` : ""})`
    }; nothing was run — try again once it has finished`
  }
}

/** A health job whose report was critical. */
export class JobHealthCritical extends Data.TaggedError("JobHealthCritical")<{
  readonly target: string
  /** The critical checks, each "name: detail". */
  readonly critical: ReadonlyArray<string>
}> {
  override get message() {
    return `${this.target} is critical: ${this.critical.join("; ")} — run dbkit health for the whole report`
  }
}
