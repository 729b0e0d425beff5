/**
 * One process at a time per embedded data directory.
 *
 * PGlite has no postmaster to refuse a second opener, and two processes writing one data
 * directory corrupt it. A lock file beside the directory (created with O_EXCL, holding the pid)
 * is held for the life of the scope; a lock left by a dead process is taken over.
 */
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as fs from "node:fs"
import * as path from "node:path"
import { makeDirectories } from "../Directories.js"

/** Another process has the embedded data directory open. */
export class EmbeddedInUse extends Data.TaggedError("EmbeddedInUse")<{
  readonly dataDir: string
  readonly pid: number
}> {
  override get message() {
    return `the embedded database in ${this.dataDir} is in use by process ${this.pid}; wait for it to finish or stop it`
  }
}

/** The lock file that guards a data directory. */
export const lockPath = (dataDir: string): string => `${path.resolve(dataDir).replace(/[\\/]+$/, "")}.lock`

const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM"
  }
}

/** Lock files this process holds (a pid match alone may be a reused pid from a previous life). */
const held = new Set<string>()

const unique = () => `${process.pid}.${Date.now().toString(36)}.${Math.random().toString(36).slice(2)}`

/** Creates the lock with its content in one step (link of a written temp file): never seen empty. */
const tryCreate = (file: string): boolean => {
  const temp = `${file}.${unique()}`
  fs.writeFileSync(temp, String(process.pid), { mode: 0o600 })
  try {
    fs.linkSync(temp, file)
    return true
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EEXIST") return false
    throw error
  } finally {
    fs.rmSync(temp, { force: true })
  }
}

const holderOf = (file: string): number => {
  try {
    return Number.parseInt(fs.readFileSync(file, "utf8").trim(), 10)
  } catch {
    return Number.NaN
  }
}

/**
 * Moves a stale lock (held by `stalePid`) aside. rename is atomic, so of several processes only
 * one moves any given lock; one that finds it moved a fresh lock instead puts it back.
 */
const removeStale = (file: string, stalePid: number) => {
  const aside = `${file}.stale.${unique()}`
  try {
    fs.renameSync(file, aside)
  } catch {
    return // gone already: someone else moved it
  }
  if (holderOf(aside) === stalePid) {
    fs.rmSync(aside, { force: true })
    return
  }
  try {
    fs.linkSync(aside, file) // not the stale one: restore it
  } catch {
    // a third process already created a lock: theirs stands
  }
  fs.rmSync(aside, { force: true })
}

/** Takes the lock for `dataDir` until the scope closes, or fails with `EmbeddedInUse`. */
export const acquire = (dataDir: string): Effect.Effect<void, EmbeddedInUse, Scope.Scope> => {
  const file = lockPath(dataDir)
  return Effect.acquireRelease(
    Effect.suspend(() => {
      makeDirectories(path.dirname(file))
      if (held.has(file)) return Effect.fail(new EmbeddedInUse({ dataDir, pid: process.pid }))
      for (let attempt = 0; attempt < 5; attempt++) {
        if (tryCreate(file)) {
          held.add(file)
          return Effect.void
        }
        const holder = holderOf(file)
        if (!Number.isFinite(holder)) continue // vanished between our attempts: try again
        const stale = holder === process.pid ? !held.has(file) : !isAlive(holder)
        if (!stale) return Effect.fail(new EmbeddedInUse({ dataDir, pid: holder }))
        removeStale(file, holder)
      }
      return Effect.fail(new EmbeddedInUse({ dataDir, pid: holderOf(file) }))
    }),
    () =>
      Effect.sync(() => {
        held.delete(file)
        if (holderOf(file) === process.pid) fs.rmSync(file, { force: true })
      })
  )
}
