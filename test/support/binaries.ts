/**
 * The real programs tests start (pgbouncer, pgbackrest, prometheus, chromium…): finding them, and
 * stopping a child politely. With CI=true a program that is missing fails the file (`.ci/run`
 * installs it); otherwise the tests that need it are skipped.
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type { ChildProcess } from "node:child_process"
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"

/** Whether this run is CI's: a missing program is then a failure, not a skip. */
export const ci = process.env.CI === "true" || process.env.CI === "1"

/** `program` on PATH, or undefined. */
export const which = (program: string): string | undefined => {
  try {
    return execFileSync("sh", ["-c", `command -v ${program}`], { encoding: "utf8" }).trim() || undefined
  } catch {
    return undefined
  }
}

/** A binary on PATH or at one of `candidates`, or undefined; throws under CI=true when there is none. */
export const findBinary = (name: string, candidates: ReadonlyArray<string>, pkg: string): string | undefined => {
  const found = which(name) ?? candidates.find((file) => fs.existsSync(file))
  if (found === undefined && ci) {
    throw new Error(`${name} is required (CI=true) but not installed: apt-get install ${pkg} (.ci/run does)`)
  }
  return found
}

/** Whether `child` exits within `within` (true at once if it has). */
export const exited = (child: ChildProcess, within: Duration.DurationInput) =>
  Effect.async<boolean>((resume) => {
    if (child.exitCode !== null || child.signalCode !== null) return resume(Effect.succeed(true))
    const done = () => resume(Effect.succeed(true))
    child.once("exit", done)
    return Effect.sync(() => child.off("exit", done))
  }).pipe(Effect.timeoutTo({ duration: within, onSuccess: () => true, onTimeout: () => false }))

/** Sends `signal`, and SIGKILL if the child is still there after `grace`. */
export const stopChild = (child: ChildProcess, signal: NodeJS.Signals, grace: Duration.DurationInput) =>
  Effect.gen(function*() {
    child.kill(signal)
    if (!(yield* exited(child, grace))) {
      child.kill("SIGKILL")
      yield* exited(child, "5 seconds")
    }
  })
