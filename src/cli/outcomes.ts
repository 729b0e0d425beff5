/**
 * Outcomes that are not service errors but still end a command with a meaningful exit code:
 * CI gates (`migrate verify`, `migrate drift`, `migrate plan --strict`).
 */
import * as Data from "effect/Data"

/** `migrate verify`: pending migrations, nothing drifted (exit 8). */
export class MigrationsPending
  extends Data.TaggedError("MigrationsPending")<{ readonly pending: ReadonlyArray<string> }>
{
  override get message() {
    return `${this.pending.length} migration${this.pending.length === 1 ? " is" : "s are"} pending: ${
      this.pending.join(", ")
    }`
  }
}

/** `migrate verify` / `migrate drift`: the database differs from what its migrations say (exit 9). */
export class MigrationsDrifted
  extends Data.TaggedError("MigrationsDrifted")<{ readonly problems: ReadonlyArray<string> }>
{
  override get message() {
    return `the database has drifted from its migrations: ${this.problems.join("; ")}`
  }
}

/** `migrate plan --strict`: risky statements in pending migrations (exit 10). */
export class PlanRejected extends Data.TaggedError("PlanRejected")<{ readonly findings: number }> {
  override get message() {
    return `${this.findings} risky statement${
      this.findings === 1 ? "" : "s"
    } in pending migrations (--strict); rewrite ${this.findings === 1 ? "it" : "them"} as suggested, or drop --strict`
  }
}

/** `seed validate`: tables with fewer rows than their seeds declare (exit 12). */
export class SeedsInvalid extends Data.TaggedError("SeedsInvalid")<{ readonly problems: number }> {
  override get message() {
    return `${this.problems} seeded table${this.problems === 1 ? " holds" : "s hold"} fewer rows than declared`
  }
}

/**
 * `health`: the report is the output and its verdict the exit code — 1 for warn, 2 for critical,
 * as monitoring plugins read exit codes. `reported`: main.ts prints no error line for it.
 */
export class HealthWarn extends Data.TaggedError("HealthWarn")<{ readonly target: string }> {
  readonly reported = true
  override get message() {
    return `${this.target}: WARN`
  }
}

/** `health`: at least one check is critical (exit 2); the report already said which. */
export class HealthCritical extends Data.TaggedError("HealthCritical")<{ readonly target: string }> {
  readonly reported = true
  override get message() {
    return `${this.target}: CRITICAL`
  }
}
