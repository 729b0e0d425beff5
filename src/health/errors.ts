/**
 * Health's typed errors: only what a caller can get wrong. A check that cannot run is never an
 * error — it is a check with status `unknown` in the report.
 */
import * as Data from "effect/Data"

/** `--check` / `only` named a check that does not exist. */
export class UnknownHealthCheck extends Data.TaggedError("UnknownHealthCheck")<{
  readonly names: ReadonlyArray<string>
  readonly known: ReadonlyArray<string>
}> {
  override get message() {
    return `unknown health check${this.names.length === 1 ? "" : "s"} ${this.names.join(", ")}; known: ${
      this.known.join(", ")
    }`
  }
}

/** A threshold override that cannot be used (unknown name, not a number). */
export { InvalidThreshold } from "../Thresholds.js"
