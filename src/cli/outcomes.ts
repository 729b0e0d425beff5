/**
 * Outcomes that are not service errors but still end a command with a meaningful exit code:
 * CI gates (`migrate verify`, `migrate drift`, `migrate plan --strict`).
 */
import * as Data from "effect/Data"

/** `migrate verify`: pending migrations, nothing drifted (exit 8). */
export class MigrationsPending extends Data.TaggedError("MigrationsPending")<{ readonly pending: ReadonlyArray<string> }> {
  override get message() {
    return `${this.pending.length} migration${this.pending.length === 1 ? " is" : "s are"} pending: ${this.pending.join(", ")}`
  }
}

/** `migrate verify` / `migrate drift`: the database differs from what its migrations say (exit 9). */
export class MigrationsDrifted extends Data.TaggedError("MigrationsDrifted")<{ readonly problems: ReadonlyArray<string> }> {
  override get message() {
    return `the database has drifted from its migrations: ${this.problems.join("; ")}`
  }
}

/** `migrate plan --strict`: risky statements in pending migrations (exit 10). */
export class PlanRejected extends Data.TaggedError("PlanRejected")<{ readonly findings: number }> {
  override get message() {
    return `${this.findings} risky statement${this.findings === 1 ? "" : "s"} in pending migrations (--strict); rewrite ${
      this.findings === 1 ? "it" : "them"
    } as suggested, or drop --strict`
  }
}

/** `seed validate`: tables with fewer rows than their seeds declare (exit 12). */
export class SeedsInvalid extends Data.TaggedError("SeedsInvalid")<{ readonly problems: number }> {
  override get message() {
    return `${this.problems} seeded table${this.problems === 1 ? " holds" : "s hold"} fewer rows than declared`
  }
}
