// The shared advisory-lock helper on a scripted session and the TestClock: it polls until the
// deadline, names the holder, and releases what it took when the scope closes.
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as TestClock from "effect/TestClock"
import * as AdvisoryLock from "../src/AdvisoryLock.js"

/** A session whose lock is held by pid 42 for the first `busyFor` attempts. */
const scripted = (busyFor: number) => {
  const sent: Array<string> = []
  let attempts = 0
  const run: AdvisoryLock.Session = (text) =>
    Effect.sync(() => {
      sent.push(text)
      if (text.includes("pg_try_advisory_lock")) return [{ locked: ++attempts > busyFor }]
      if (text.includes("pg_locks")) {
        return [{ pid: 42, application_name: "dbkit-restore", since: "2026-12-06T17:00:00Z" }]
      }
      return []
    })
  return { run, sent, attempts: () => attempts }
}

describe("AdvisoryLock.acquire", () => {
  it.scoped("a lock held past the deadline fails with the caller's error, naming the holder; it waited the whole time", () =>
    Effect.gen(function*() {
      const session = scripted(Number.POSITIVE_INFINITY)
      const waited: Array<number | undefined> = []
      const fiber = yield* Effect.fork(
        Effect.scoped(AdvisoryLock.acquire(session.run, "7", {
          wait: "10 seconds",
          onWait: (holder) => Effect.sync(() => void waited.push(holder?.pid)),
          onTimeout: (holder) => ({ _tag: "TimedOut" as const, holder })
        }))
      )
      yield* TestClock.adjust("9 seconds")
      expect(Option.isNone(yield* Fiber.poll(fiber))).toBe(true) // still polling
      expect(session.attempts()).toBeGreaterThan(20)
      yield* TestClock.adjust("5 seconds")
      const exit = yield* Fiber.await(fiber)
      expect(Exit.isFailure(exit)).toBe(true)
      if (Exit.isFailure(exit)) {
        const error = exit.cause._tag === "Fail" ? exit.cause.error : undefined
        expect(error).toEqual({
          _tag: "TimedOut",
          holder: { pid: 42, applicationName: "dbkit-restore", since: "2026-12-06T17:00:00Z" }
        })
      }
      expect(waited).toEqual([42]) // told once, not on every attempt
      expect(session.sent.some((text) => text.includes("pg_advisory_unlock"))).toBe(false) // nothing taken, nothing released
    }))

  it.scoped("a lock that comes free is taken, and released when the scope closes", () =>
    Effect.gen(function*() {
      const session = scripted(3)
      const fiber = yield* Effect.fork(
        Effect.scoped(Effect.zipRight(
          AdvisoryLock.acquire(session.run, "7", { wait: "1 minute", onTimeout: () => "timed out" as const }),
          Effect.sync(() => session.sent.filter((text) => text.includes("pg_advisory_unlock")).length)
        ))
      )
      yield* TestClock.adjust("5 seconds")
      const unlockedWhileHeld = yield* Fiber.join(fiber)
      expect(unlockedWhileHeld).toBe(0)
      expect(session.attempts()).toBe(4)
      expect(session.sent.filter((text) => text.includes("pg_advisory_unlock"))).toHaveLength(1)
    }))
})
