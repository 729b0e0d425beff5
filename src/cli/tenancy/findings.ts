/**
 * `tenancy audit`'s outcome when it finds something: the report is the output, the exit code
 * (15, as `db validate`'s integrity findings) says there was something to fix.
 */
import * as Data from "effect/Data"

/** `tenancy audit` found problems (exit 15); the report already listed them. */
export class TenancyAuditFindings extends Data.TaggedError("TenancyAuditFindings")<{
  readonly critical: number
  readonly warnings: number
}> {
  readonly reported = true
  override get message() {
    return `tenancy audit: ${this.critical} critical, ${this.warnings} warning finding(s)`
  }
}
