// The Migrator's lock-timeout retries on the TestClock: a real lock_timeout on the server (another
// session holds the table), then the backoff waits on the clock, so each wait is read from the
// TestClock and the clock moved by exactly that much; no wall-clock sleeps decide anything.
import * as SqlClient from "@effect/sql/SqlClient"
import { describe, expect, layer } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Redacted from "effect/Redacted"
import * as TestClock from "effect/TestClock"
import pg from "pg"
import type { MigrateEvent } from "../src/migrator/Migrator.js"
import { ScratchDatabase, serverAvailable, ServerLive } from "./support/databases.js"
import { freshSchema, withMigrator, writeFolder } from "./support/migrations.js"

const server = await serverAvailable()

/** Another session holding `table` in ACCESS EXCLUSIVE mode until `release`. */
const holdTable = (table: string) =>
  Effect.acquireRelease(
    Effect.gen(function*() {
      const scratch = yield* ScratchDatabase
      const client = new pg.Client({ connectionString: Redacted.value(scratch.url) })
      yield* Effect.promise(() => client.connect())
      yield* Effect.promise(() => client.query(`BEGIN; LOCK TABLE ${table} IN ACCESS EXCLUSIVE MODE`))
      return { release: Effect.promise(() => client.query("COMMIT")).pipe(Effect.asVoid), client }
    }),
    ({ client }) => Effect.promise(() => client.end())
  )

/** The next `Retrying` event the migrator announces (it comes after a real lock timeout). */
const nextRetry = (events: Queue.Queue<MigrateEvent>) =>
  Queue.take(events).pipe(
    Effect.repeat({ until: (event) => event._tag === "Retrying" }),
    Effect.map((event) => event as Extract<MigrateEvent, { _tag: "Retrying" }>)
  )

/** A wall-clock pause between looks at the TestClock (it decides nothing; it lets the fiber run). */
const pause = Effect.promise(() => new Promise<void>((resolve) => setTimeout(resolve, 5)))

/**
 * How long the migrator's backoff will wait: the sleep it registers on the TestClock after a
 * retry is announced (one not among `seen`, the sleeps registered before), less the clock's time.
 */
const backoff = (seen: Set<number>) =>
  Effect.gen(function*() {
    // Bounded, so a migrator that retried without waiting on the clock fails here instead of hanging.
    for (let look = 0; look < 2000; look++) {
      const now = yield* TestClock.currentTimeMillis
      const fresh = Chunk.toReadonlyArray(yield* TestClock.sleeps()).filter((end) => end > now && !seen.has(end))
      if (fresh.length > 0) {
        const end = Math.min(...fresh)
        seen.add(end)
        return end - now
      }
      yield* pause
    }
    return yield* Effect.dieMessage("the migrator registered no backoff sleep on the clock after announcing a retry")
  })

/** The jitter bounds (×0.8–1.2) of the backoff before retry `n`: 250 ms doubling. */
const bounds = (n: number) => [250 * 2 ** (n - 1) * 0.8, 250 * 2 ** (n - 1) * 1.2] as const

/** Starts a migrate adding a column to `schema.busy`, reporting its events on a queue. */
const migrateBusy = (schema: string, lockRetries: number) =>
  Effect.gen(function*() {
    const events = yield* Queue.unbounded<MigrateEvent>()
    const dir = writeFolder({ "001_alter.sql": "ALTER TABLE busy ADD COLUMN y int;" })
    const fiber = yield* Effect.fork(
      withMigrator(dir, schema, (m) => m.migrate({ onEvent: (event) => Queue.offer(events, event) }), {
        lockTimeout: "100 millis",
        lockRetries
      })
    )
    return { events, fiber }
  })

/** `schema.busy`, the table the migration alters; and whether it got the column. */
const createBusy = (schema: string) =>
  Effect.flatMap(
    SqlClient.SqlClient,
    (sql) => sql.unsafe(`CREATE SCHEMA ${schema}; CREATE TABLE ${schema}.busy (x int)`)
  )

const hasColumnY = (schema: string) =>
  Effect.flatMap(
    SqlClient.SqlClient,
    (sql) =>
      sql<{ n: number }>`SELECT count(*)::int AS n FROM information_schema.columns
      WHERE table_schema = ${schema} AND table_name = 'busy' AND column_name = 'y'`
  ).pipe(
    Effect.map((rows) => rows[0]!.n === 1)
  )

describe.skipIf(!server)("Migrator lock-timeout retries on the TestClock", () => {
  layer(ServerLive)("on a scratch database", (it) => {
    it.scoped("each retry waits out its backoff on the clock; after lockRetries the lock timeout is the error", () =>
      Effect.gen(function*() {
        const schema = freshSchema()
        yield* createBusy(schema)
        yield* holdTable(`${schema}.busy`)
        const seen = new Set(Chunk.toReadonlyArray(yield* TestClock.sleeps()))
        const { events, fiber } = yield* migrateBusy(schema, 3)
        const waits: Array<number> = []
        for (let n = 1; n <= 3; n++) {
          expect((yield* nextRetry(events)).attempt).toBe(n)
          const wait = yield* backoff(seen)
          waits.push(wait)
          // Until the clock moves past the backoff, the migration is not tried again.
          expect(Option.isNone(yield* Fiber.poll(fiber))).toBe(true)
          expect(yield* Queue.size(events)).toBe(0)
          yield* TestClock.adjust(wait)
        }
        waits.forEach((wait, i) => {
          const [low, high] = bounds(i + 1)
          expect(wait).toBeGreaterThanOrEqual(low)
          expect(wait).toBeLessThanOrEqual(high)
        })
        const error = yield* Effect.flip(Fiber.join(fiber))
        expect(error._tag).toBe("MigrationFailed")
        if (error._tag !== "MigrationFailed") return
        expect(error.migration).toBe("001_alter")
        expect(error.code).toBe("55P03")
        expect(yield* hasColumnY(schema)).toBe(false)
      }))

    it.scoped("a lock released during the backoff: the retry after it applies the migration", () =>
      Effect.gen(function*() {
        const schema = freshSchema()
        yield* createBusy(schema)
        const holder = yield* holdTable(`${schema}.busy`)
        const seen = new Set(Chunk.toReadonlyArray(yield* TestClock.sleeps()))
        const { events, fiber } = yield* migrateBusy(schema, 4)
        expect((yield* nextRetry(events)).attempt).toBe(1)
        const wait = yield* backoff(seen)
        const [low, high] = bounds(1)
        expect(wait).toBeGreaterThanOrEqual(low)
        expect(wait).toBeLessThanOrEqual(high)
        yield* holder.release
        yield* TestClock.adjust(wait)
        const result = yield* Fiber.join(fiber)
        expect(result.applied.map((a) => a.name)).toEqual(["001_alter"])
        const rest = Chunk.toReadonlyArray(yield* Queue.takeAll(events))
        expect(rest.filter((event) => event._tag === "Retrying")).toEqual([])
        expect(rest.some((event) => event._tag === "Applied" && event.name === "001_alter")).toBe(true)
        expect(yield* hasColumnY(schema)).toBe(true)
      }))
  })
})
