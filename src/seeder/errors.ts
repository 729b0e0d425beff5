/**
 * The Seeder's typed errors: problems with the declared seeds are found before anything runs;
 * a failing seed names itself and, for bulk inserts, the row batch.
 */
import * as Data from "effect/Data"

/** A seed depends on a seed nobody declared. */
export class UnknownSeedDependency extends Data.TaggedError("UnknownSeedDependency")<{
  readonly seed: string
  readonly dependency: string
}> {
  override get message() {
    return `seed ${this.seed} depends on ${this.dependency}, which is not declared; nothing was run`
  }
}

/** Seeds depend on each other in a circle. */
export class SeedCycle extends Data.TaggedError("SeedCycle")<{ readonly cycle: ReadonlyArray<string> }> {
  override get message() {
    return `seed dependencies form a cycle: ${this.cycle.join(" → ")}; nothing was run`
  }
}

/** `--only NAME` or `--profile` names nothing declared. */
export class UnknownSeed
  extends Data.TaggedError("UnknownSeed")<{ readonly name: string; readonly known: ReadonlyArray<string> }>
{
  override get message() {
    return `no seed named ${this.name} (declared: ${this.known.join(", ") || "none"})`
  }
}

/** `--seed` or `--scale` (SeedOptions `seed` / `scale`) is not one dbkit can honour; nothing was run. */
export class InvalidSeedOptions extends Data.TaggedError("InvalidSeedOptions")<{ readonly reason: string }> {
  override get message() {
    return `${this.reason}; nothing was run`
  }
}

/** Generated (development/test) data was asked for in production. */
export class SeedRefusedInProduction extends Data.TaggedError("SeedRefusedInProduction")<{
  readonly seeds: ReadonlyArray<string>
}> {
  override get message() {
    return `refusing to run generated-data seeds in production: ${
      this.seeds.join(", ")
    }; only reference seeds run there`
  }
}

/** One or more seeds failed; each was rolled back, and the seeds depending on it were not run. */
export class SeedFailed extends Data.TaggedError("SeedFailed")<{
  readonly failures: ReadonlyArray<{ readonly seed: string; readonly message: string }>
  readonly skipped: ReadonlyArray<string>
}> {
  override get message() {
    const first = this.failures[0]
    const more = this.failures.length > 1 ? ` (and ${this.failures.length - 1} more)` : ""
    const skipped = this.skipped.length > 0 ? `; not run because they depend on it: ${this.skipped.join(", ")}` : ""
    return `seed ${first?.seed} failed and was rolled back: ${first?.message}${more}${skipped}`
  }
}

export type SeedPlanError =
  | UnknownSeedDependency
  | SeedCycle
  | UnknownSeed
  | SeedRefusedInProduction
  | InvalidSeedOptions
