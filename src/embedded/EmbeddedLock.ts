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

const tryCreate = (file: string): boolean => {
  try {
    fs.writeFileSync(file, String(process.pid), { flag: "wx", mode: 0o600 })
    return true
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EEXIST") return false
    throw error
  }
}

const holderOf = (file: string): number => {
  try {
    return Number.parseInt(fs.readFileSync(file, "utf8").trim(), 10)
  } catch {
    return Number.NaN
  }
}

/** Takes the lock for `dataDir` until the scope closes, or fails with `EmbeddedInUse`. */
export const acquire = (dataDir: string): Effect.Effect<void, EmbeddedInUse, Scope.Scope> => {
  const file = lockPath(dataDir)
  return Effect.acquireRelease(
    Effect.suspend(() => {
      fs.mkdirSync(path.dirname(file), { recursive: true })
      for (let attempt = 0; attempt < 3; attempt++) {
        if (tryCreate(file)) return Effect.void
        const holder = holderOf(file)
        if (holder === process.pid) {
          return Effect.fail(new EmbeddedInUse({ dataDir, pid: holder }))
        }
        if (Number.isFinite(holder) && isAlive(holder)) {
          return Effect.fail(new EmbeddedInUse({ dataDir, pid: holder }))
        }
        // Stale: its process is gone. Remove and try again.
        fs.rmSync(file, { force: true })
      }
      return Effect.fail(new EmbeddedInUse({ dataDir, pid: holderOf(file) }))
    }),
    () =>
      Effect.sync(() => {
        if (holderOf(file) === process.pid) fs.rmSync(file, { force: true })
      })
  )
}
