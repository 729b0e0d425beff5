/**
 * Maintenance's typed errors: what a caller got wrong, and the outcomes the `dbkit db` commands
 * end with a meaningful exit code. A maintenance task or cleanup batch that fails is not an
 * error of the service — it is a failed step in the result, and the other steps still run.
 */
import * as Data from "effect/Data"

/** Options that cannot be used (a count that is not positive, `--plan` with `--run`…). */
export class InvalidMaintenanceOptions extends Data.TaggedError("InvalidMaintenanceOptions")<{
  readonly reason: string
}> {
  override get message() {
    return this.reason
  }
}

/** The load test runs on the reference schema, and these tables are missing from the database. */
export class LoadTestSchemaMissing extends Data.TaggedError("LoadTestSchemaMissing")<{
  readonly missing: ReadonlyArray<string>
}> {
  override get message() {
    return `the load test needs the reference schema; ${this.missing.join(", ")} ${
      this.missing.length === 1 ? "is" : "are"
    } missing (run dbkit migrate with the reference migrations first)`
  }
}

/** `db validate` found integrity problems; the report lists each with sample keys. */
export class IntegrityViolations extends Data.TaggedError("IntegrityViolations")<{
  readonly findings: number
  readonly rows: number
}> {
  override get message() {
    return `${this.findings} integrity finding${this.findings === 1 ? "" : "s"} (${this.rows} row${
      this.rows === 1 ? "" : "s"
    } involved); see the report for each with sample keys`
  }
}

/** Some `db maintain` tasks or `db cleanup` rules failed; the others ran. */
export class MaintenanceFailed extends Data.TaggedError("MaintenanceFailed")<{
  /** The failed steps, each "target: reason". */
  readonly failed: ReadonlyArray<string>
}> {
  override get message() {
    return `${this.failed.length} step${this.failed.length === 1 ? "" : "s"} failed: ${this.failed.join("; ")}`
  }
}
