/**
 * Files that survive a crash whole: written beside their name, fsynced, then renamed.
 */
import * as fs from "node:fs"

/** fsync a file or directory so a rename survives a crash. */
export const durable = (target: string) => {
  const fd = fs.openSync(target, "r")
  try {
    fs.fsyncSync(fd)
  } finally {
    fs.closeSync(fd)
  }
}

/** Writes a file readable by its owner only, so that a crash leaves the old file or the new one, never half of it. */
export const writeDurably = (file: string, text: string) => {
  const temp = `${file}.partial`
  fs.writeFileSync(temp, text, { mode: 0o600 })
  fs.chmodSync(temp, 0o600) // a leftover .partial keeps its old mode
  durable(temp)
  fs.renameSync(temp, file)
}
