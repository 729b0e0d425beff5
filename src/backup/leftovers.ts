/**
 * What a killed backup or restore leaves behind, and how to tell it from work in progress.
 *
 * - a `*.partial` file: a backup being written (renamed when complete). A leftover when no
 *   process has it open (Linux: /proc/<pid>/fd; elsewhere: untouched for an hour).
 * - a staging database `<db>_restore_<stamp>_<pid>_<random>` (a long `<db>` cut and hashed,
 *   see stagingPrefix): a restore loading (swapped in when complete). A leftover when nobody
 *   is connected to it, no restore or reset of `<db>` holds the target's lock, and its stamp
 *   is older than the operation that asks.
 *
 * Names are unique per process (pid + random suffix), so two restores that start in the same
 * second never share one, and each drops only what it created.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Redacted from "effect/Redacted"
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"
import * as AdvisoryLock from "../AdvisoryLock.js"
import { describeUrl, PgLive } from "../Database.js"
import { siblingUrl } from "../Scratch.js"

/** How many characters of a staging name stand for the target (the rest is ≤ 37). */
const PREFIX = 26

/**
 * The target's part of its staging names: the name itself when it fits, else its first 21
 * characters and 4 hex digits of its sha256, so two long names that start alike never share
 * staging names (nor have each other's leftovers dropped).
 */
export const stagingPrefix = (target: string): string =>
  target.length <= PREFIX
    ? target
    : `${target.slice(0, PREFIX - 5)}_${createHash("sha256").update(target).digest("hex").slice(0, 4)}`

/** `20261206173000`: a staging name's time, UTC, to the second. */
const stampOf = (date: Date) => date.toISOString().replace(/\D/g, "").slice(0, 14)

/**
 * A name for a database a restore of `target` creates (`restore`: the staging copy) or keeps
 * (`previous`: the replaced one): `<prefix>_<kind>_<stamp>_<pid>_<4 random>`, ≤ 63 characters.
 */
export const stagingName = (
  target: string,
  kind: "restore" | "previous",
  now = new Date(),
  pid = process.pid
): string =>
  `${stagingPrefix(target)}_${kind}_${stampOf(now)}_${pid}_${Math.random().toString(36).slice(2, 6).padEnd(4, "0")}`

const STAGING = /^(.+)_(restore|previous)_(\d{14})(?:_(\d+)_([a-z0-9]+))?$/

/** The parts of a staging name (also the older `<target[:40]>_restore_<stamp>` form), if it is one. */
export const parseStagingName = (name: string) => {
  const match = STAGING.exec(name)
  if (match === null) return undefined
  return {
    prefix: match[1]!,
    kind: match[2] as "restore" | "previous",
    stamp: match[3]!,
    pid: match[4] === undefined ? undefined : Number(match[4])
  }
}

/** Whether `name` is a staging database a restore of `target` created (current or older naming). */
export const isStagingOf = (name: string, target: string): boolean => {
  const parsed = parseStagingName(name)
  if (parsed === undefined || parsed.kind !== "restore") return false
  // dbkit before unique names: the first 40 characters and no pid.
  return parsed.pid === undefined ? parsed.prefix === target.slice(0, 40) : parsed.prefix === stagingPrefix(target)
}

/** The lock a restore over, or a reset of, `database` holds (on the server's `postgres` database). */
export const targetLockKey = (database: string): string => AdvisoryLock.keyOf(`dbkit:restore:${database}`)

/** A staging database nobody is using, left by a restore that did not finish. */
export interface LeftoverDatabase {
  readonly database: string
  /** From its name: when the restore that made it started. */
  readonly createdAt: string
}

/** A backup file that was never completed. */
export interface LeftoverFile {
  readonly file: string
  readonly bytes: number
  readonly modifiedAt: string
}

const stampToIso = (stamp: string) =>
  `${stamp.slice(0, 4)}-${stamp.slice(4, 6)}-${stamp.slice(6, 8)}T${stamp.slice(8, 10)}:${stamp.slice(10, 12)}:${
    stamp.slice(12, 14)
  }Z`

/**
 * Staging databases of `target` that are leftovers as of `before`: older than it, nobody
 * connected, and the target's lock free (or held by `run`'s own session: the asking restore).
 * `run` is a session on the server's `postgres` database.
 */
export const staleStagingDatabases = (
  run: AdvisoryLock.Session,
  target: string,
  before: Date
): Effect.Effect<ReadonlyArray<LeftoverDatabase>, SqlError> =>
  Effect.gen(function*() {
    const holder = yield* AdvisoryLock.holder(run, targetLockKey(target))
    const [self] = yield* run(`SELECT pg_backend_pid() AS pid`)
    if (holder !== undefined && holder.pid !== Number(self?.pid)) return []
    const rows = yield* run(
      `SELECT d.datname AS name FROM pg_database d
        WHERE d.datname LIKE '%\\_restore\\_%'
          AND NOT EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.datname = d.datname)
        ORDER BY 1`
    )
    const limit = stampOf(before)
    return rows
      .map((row) => String(row.name))
      .filter((name) => isStagingOf(name, target) && parseStagingName(name)!.stamp < limit)
      .map((name) => ({ database: name, createdAt: stampToIso(parseStagingName(name)!.stamp) }))
  })

/** Drops the staging databases of `target` that are leftovers as of `before` (see above); returns their names. */
export const dropStaleStagingDatabases = (run: AdvisoryLock.Session, target: string, before: Date) =>
  Effect.gen(function*() {
    const dropped: Array<string> = []
    for (const { database } of yield* staleStagingDatabases(run, target, before)) {
      // Without FORCE: a restore that connected meanwhile keeps its database.
      const gone = yield* Effect.either(run(`DROP DATABASE IF EXISTS "${database}"`))
      if (gone._tag === "Right") dropped.push(database)
    }
    return dropped
  })

/**
 * Whether a process has `file` open, from Linux's /proc: only processes of the file's owner can
 * be writing it (a backup creates its file). Undefined when that cannot be told (no /proc, or
 * another user's file).
 */
const openByAProcess = (file: string, owner: number): boolean | undefined => {
  let pids: Array<string>
  try {
    pids = fs.readdirSync("/proc").filter((entry) => /^\d+$/.test(entry))
  } catch {
    return undefined
  }
  const real = fs.realpathSync(file) // as /proc shows it: symlinks resolved
  let unknown = false
  for (const pid of pids) {
    let fds: Array<string>
    try {
      if (fs.statSync(`/proc/${pid}`).uid !== owner) continue
      fds = fs.readdirSync(`/proc/${pid}/fd`)
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code
      if (code === "EACCES" || code === "EPERM") unknown = true
      continue // gone meanwhile, or not ours to look at
    }
    for (const fd of fds) {
      try {
        if (fs.readlinkSync(`/proc/${pid}/fd/${fd}`) === real) return true
      } catch {
        // closed meanwhile
      }
    }
  }
  return unknown ? undefined : false
}

/**
 * `*.partial` files in `directory` (of backups whose names start with `label`, when given)
 * that nobody is writing and that were last written before `before`.
 */
export const stalePartialFiles = (
  directory: string,
  before: Date,
  label?: string
): Effect.Effect<ReadonlyArray<LeftoverFile>> =>
  Effect.sync(() => {
    if (!fs.existsSync(directory)) return []
    const found: Array<LeftoverFile> = []
    for (const name of fs.readdirSync(directory).sort()) {
      if (!name.endsWith(".partial") || (label !== undefined && !name.startsWith(`${label}_backup_`))) continue
      const file = path.resolve(directory, name)
      try {
        const stat = fs.statSync(file)
        if (!stat.isFile() || stat.mtimeMs >= before.getTime()) continue
        const open = openByAProcess(file, stat.uid)
        if (open === true || (open === undefined && before.getTime() - stat.mtimeMs < 3_600_000)) continue
        found.push({ file, bytes: stat.size, modifiedAt: stat.mtime.toISOString() })
      } catch {
        // renamed or removed meanwhile: not a leftover
      }
    }
    return found
  })

/** Deletes the leftover `.partial` files (see stalePartialFiles); returns them. */
export const removeStalePartialFiles = (directory: string, before: Date, label?: string) =>
  Effect.flatMap(stalePartialFiles(directory, before, label), (files) =>
    Effect.sync(() => {
      for (const { file } of files) fs.rmSync(file, { force: true })
      return files
    }))

/** What an operation removed before it started: staging databases and `.partial` files of killed runs. */
export interface Removed {
  readonly stagingDatabases: ReadonlyArray<string>
  readonly partialFiles: ReadonlyArray<string>
}

/**
 * Runs `use` on a session on the server's `postgres` database; None when there is no server,
 * or it cannot be reached or refuses (listing and pruning files must work without one).
 */
const onServer = <A>(
  url: Option.Option<Redacted.Redacted<string>>,
  use: (run: AdvisoryLock.Session, target: string) => Effect.Effect<A, SqlError>
) =>
  Option.match(url, {
    onNone: () => Effect.succeed(Option.none<A>()),
    onSome: (url) =>
      Effect.scoped(
        Effect.gen(function*() {
          const context = yield* Layer.build(
            PgLive({
              url: siblingUrl(url, "postgres"),
              poolSize: 1,
              applicationName: "dbkit-backups",
              connectTimeout: "3 seconds"
            })
          )
          const conn = yield* Context.get(context, SqlClient.SqlClient).reserve
          return Option.some(
            yield* use(
              (text, params = []) => conn.executeUnprepared(text, params, undefined),
              describeUrl(url).database
            )
          )
        })
      ).pipe(
        Effect.catchAll((error) =>
          Effect.as(Effect.logDebug(`staging databases not checked: ${error.message}`), Option.none<A>())
        )
      )
  })

/** Leftovers in `directory` and, when `url` reaches a server, of its database there; nothing is removed. */
export const findLeftovers = (directory: string, url: Option.Option<Redacted.Redacted<string>>, now = new Date()) =>
  Effect.all({
    partialFiles: stalePartialFiles(directory, now),
    stagingDatabases: Effect.map(
      onServer(url, (run, target) => staleStagingDatabases(run, target, now)),
      Option.getOrNull
    )
  })

/** Removes what `findLeftovers` finds; returns what went (no staging databases without a server). */
export const removeLeftovers = (directory: string, url: Option.Option<Redacted.Redacted<string>>, now = new Date()) =>
  Effect.gen(function*() {
    const partialFiles = (yield* removeStalePartialFiles(directory, now)).map((f) => f.file)
    const stagingDatabases = yield* Effect.map(
      onServer(url, (run, target) => dropStaleStagingDatabases(run, target, now)),
      Option.getOrElse((): ReadonlyArray<string> => [])
    )
    return { partialFiles, stagingDatabases } satisfies Removed
  })
