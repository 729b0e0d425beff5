/**
 * Errors of physical backups and point-in-time recovery (pgBackRest). Each says what happened and
 * what to do next; pgBackRest's own failures stay PgToolFailed (its exit code and last lines).
 */
import * as Data from "effect/Data"

/** pgBackRest is not configured for dbkit: no stanza, or a setting that cannot be used. */
export class PitrNotConfigured
  extends Data.TaggedError("PitrNotConfigured")<{ readonly variable: string; readonly reason: string }>
{
  override get message() {
    return `${this.variable} ${this.reason}`
  }
}

/** A setting the server needs for archiving, and where to change it. */
export interface RequiredChange {
  readonly setting: string
  readonly current: string
  readonly wanted: string
  /** Where and how: "postgresql.conf, then restart", "ALTER SYSTEM, then reload". */
  readonly where: string
}

/** The server is not set up for WAL archiving, and dbkit cannot (or may not) change it itself. */
export class PitrServerNotReady
  extends Data.TaggedError("PitrServerNotReady")<{ readonly changes: ReadonlyArray<RequiredChange> }>
{
  override get message() {
    return `the server is not ready for point-in-time recovery; change ${
      this.changes.map((c) => `${c.setting} from '${c.current}' to '${c.wanted}' (${c.where})`).join("; ")
    }, then run \`dbkit pitr setup\` again`
  }
}

/** A recovery target that is not a time, an LSN or a restore point name dbkit accepts. */
export class InvalidRecoveryTarget
  extends Data.TaggedError("InvalidRecoveryTarget")<{ readonly target: string; readonly reason: string }>
{
  override get message() {
    return `invalid recovery target "${this.target}": ${this.reason}`
  }
}

/** The folder a physical restore would write into exists and is not empty. */
export class RestoreDirectoryNotEmpty
  extends Data.TaggedError("RestoreDirectoryNotEmpty")<{ readonly directory: string }>
{
  override get message() {
    return `${this.directory} exists and is not empty; a physical restore writes a new data directory only (pick a new path, or remove it first)`
  }
}

/** No physical backup can serve the target: none at all, or all finished after it. */
export class NoBackupForTarget
  extends Data.TaggedError("NoBackupForTarget")<{ readonly target: string; readonly reason: string }>
{
  override get message() {
    return `no physical backup can be restored to ${this.target}: ${this.reason}`
  }
}

/** The restored cluster did not come up, or stopped recovery without reaching the target. */
export class RecoveryFailed extends Data.TaggedError("RecoveryFailed")<{
  readonly dataDir: string
  readonly reason: string
  /** The server log's last lines. */
  readonly log: string
}> {
  override get message() {
    return `recovery in ${this.dataDir} failed: ${this.reason}${
      this.log === "" ? "" : ` — the server said: ${this.log.trim().split("\n").slice(-3).join(" / ")}`
    }; the running database was not touched`
  }
}

/** `--expect-sql` did not hold on the restored cluster (it is left running for inspection). */
export class RecoveryExpectationFailed extends Data.TaggedError("RecoveryExpectationFailed")<{
  readonly sql: string
  readonly value: string | null
  readonly port: number
}> {
  override get message() {
    return `the restored cluster (port ${this.port}) does not match the expected state: \`${this.sql}\` returned ${
      this.value ?? "no row"
    }, expected true; it is left running for inspection`
  }
}

/** `pgbackrest verify` found damaged or missing files in the repository. */
export class PhysicalVerifyFailed
  extends Data.TaggedError("PhysicalVerifyFailed")<{ readonly stanza: string; readonly problems: string }>
{
  override get message() {
    return `the pgBackRest repository of stanza ${this.stanza} failed verification: ${this.problems}; do not restore from it until it is repaired (take a new full backup)`
  }
}
