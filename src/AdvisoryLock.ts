/**
 * Session advisory locks on a PostgreSQL server, the one copy every capability uses (the
 * Migrator's history lock, the deploy lock, restore's and reset's per-database lock, the seeding
 * run's lock, a tenant's provisioning lock): a key derived from a name,
 * a scoped acquisition polled on a `Schedule` until a deadline, and who holds it when it is
 * not free (pg_locks joined with pg_stat_activity), so a timeout can name the other process.
 *
 * The lock lives on one backend: `run` must send every statement over the same connection
 * (a reserved one), and advisory locks are per database, so every contender must lock on a
 * connection to the same database.
 */
import type { SqlError } from "@effect/sql/SqlError"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import { createHash } from "node:crypto"

/** Raw SQL on one connection (the lock's session). */
export type Session = (text: string, params?: ReadonlyArray<unknown>) => Effect.Effect<ReadonlyArray<any>, SqlError>

/** Who holds a lock, from pg_stat_activity. */
export interface LockHolder {
  readonly pid: number
  readonly applicationName: string
  readonly since: string | undefined
}

/** A lock key from a name: 62 bits of its sha256, as a positive bigint in text. */
export const keyOf = (name: string): string => {
  const digest = createHash("sha256").update(name).digest()
  return (digest.readBigUInt64BE(0) & ((1n << 62n) - 1n)).toString()
}

/** Takes the lock if it is free; never waits. */
export const tryLock = (run: Session, key: string): Effect.Effect<boolean, SqlError> =>
  Effect.map(run(`SELECT pg_try_advisory_lock($1::bigint) AS locked`, [key]), (rows) => rows[0]?.locked === true)

export const unlock = (run: Session, key: string) => run(`SELECT pg_advisory_unlock($1::bigint)`, [key])

/** The session holding the lock in the current database, if any. */
export const holder = (run: Session, key: string): Effect.Effect<LockHolder | undefined, SqlError> =>
  Effect.map(
    run(
      `SELECT l.pid, coalesce(a.application_name, '') AS application_name,
              to_char(a.backend_start AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS since
         FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid
        WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
          AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
          AND ((l.classid::bigint << 32) | l.objid::bigint) = $1::bigint
        LIMIT 1`,
      [key]
    ),
    (rows) =>
      rows[0] === undefined
        ? undefined
        : { pid: Number(rows[0].pid), applicationName: rows[0].application_name, since: rows[0].since ?? undefined }
  )

/**
 * Another session held the lock for longer than this one would wait (a seeding run, a tenant's
 * provisioning): nothing was changed; the holder is named so the user can find it.
 */
export class LockTimeout extends Data.TaggedError("LockTimeout")<{
  /** What the lock guards, as a noun: "seeding run", "provisioning of tenant acme". */
  readonly what: string
  readonly waitedMs: number
  readonly holder: LockHolder | undefined
}> {
  override get message() {
    const h = this.holder
    const by = h === undefined
      ? ""
      : ` (server process ${h.pid}${h.applicationName ? `, ${h.applicationName}` : ""}${
        h.since ? `, connected since ${h.since}` : ""
      })`
    return `another ${this.what} is running${by}; waited ${
      Math.round(this.waitedMs / 1000)
    } s for it and changed nothing — run again once it has finished`
  }
}

/** Another session holds the lock (an attempt's outcome, retried until the deadline). */
class Held extends Data.TaggedError("Held")<{ readonly holder: LockHolder | undefined }> {}

export interface AcquireOptions<E> {
  /** How long to wait for the lock before giving up with `onTimeout`. */
  readonly wait: Duration.DurationInput
  /** Told once, when the first attempt finds the lock held. */
  readonly onWait?: ((holder: LockHolder | undefined) => Effect.Effect<void>) | undefined
  /** The caller's typed error for a lock still held at the deadline. */
  readonly onTimeout: (holder: LockHolder | undefined) => E
}

/**
 * Takes the lock, polling every ~250 ms (jittered) until `wait` has passed, and releases it when
 * the scope closes. Each attempt is uninterruptible together with registering its release, so
 * an interruption never leaves the lock held on a session that goes back to a pool.
 */
export const acquire = <E>(
  run: Session,
  key: string,
  options: AcquireOptions<E>
): Effect.Effect<void, E | SqlError, Scope.Scope> =>
  Effect.suspend(() => {
    let announced = false
    const attempt = tryLock(run, key).pipe(
      Effect.tap((locked) => (locked ? Effect.addFinalizer(() => Effect.ignore(unlock(run, key))) : Effect.void)),
      Effect.uninterruptible,
      Effect.flatMap((locked) => (locked ? Effect.void : Effect.flatMap(holder(run, key), (h) =>
        Effect.fail(new Held({ holder: h }))))
      ),
      Effect.tapError((error) => {
        if (error._tag !== "Held" || announced) return Effect.void
        announced = true
        return Effect.zipRight(
          Effect.logInfo("waiting for an advisory lock").pipe(Effect.annotateLogs({ key, holder: error.holder?.pid })),
          options.onWait?.(error.holder) ?? Effect.void
        )
      })
    )
    const poll = Schedule.spaced(Duration.millis(250)).pipe(
      Schedule.jittered,
      Schedule.upTo(options.wait),
      Schedule.whileInput((error: Held | SqlError) => error._tag === "Held")
    )
    return attempt.pipe(
      Effect.retry(poll),
      Effect.catchTag("Held", (held) => Effect.fail(options.onTimeout(held.holder)))
    )
  })
