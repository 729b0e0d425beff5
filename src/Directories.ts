/**
 * `mkdir -p` that always ends. Node's `fs.mkdirSync(dir, { recursive: true })` never returns
 * for a path under a file system that answers ENOENT to every mkdir (`/proc/x`): it retries
 * forever, at full CPU, deaf to SIGTERM. Here each missing folder is made on its own, from the
 * deepest one that exists, and the first refusal is thrown as it is (ENOENT, EACCES, ENOTDIR…).
 */
import * as fs from "node:fs"
import * as path from "node:path"

/** Creates `dir` and the folders above it that are missing; a no-op when it exists. */
export const makeDirectories = (dir: string, mode?: number): void => {
  const missing: Array<string> = []
  let at = path.resolve(dir)
  for (;;) {
    let stat: fs.Stats | undefined
    try {
      stat = fs.statSync(at)
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error
    }
    if (stat !== undefined) {
      if (!stat.isDirectory()) {
        throw Object.assign(new Error(`ENOTDIR: not a directory, mkdir '${at}'`), { code: "ENOTDIR", path: at })
      }
      break
    }
    missing.push(at)
    const parent = path.dirname(at)
    if (parent === at) break
    at = parent
  }
  for (const folder of missing.reverse()) {
    try {
      fs.mkdirSync(folder, mode === undefined ? undefined : { mode })
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error // made meanwhile: fine
    }
  }
}
