/**
 * Runs the real `dbkit` entrypoint as a user would: a child process, its exit code and output.
 */
import { spawn } from "node:child_process"
import * as path from "node:path"

export interface CliResult {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

const bin = path.resolve(import.meta.dirname, "../../bin/dbkit.mjs")

/**
 * Node's flags for every dbkit process a test starts: the embedded database's WebAssembly stays on
 * V8's baseline compiler, since optimising PGlite's big functions costs a short-lived process more
 * than it wins back (a command on the embedded database takes about a third less time). Nothing
 * else changes; vitest.config.ts gives the test processes the same flag.
 */
export const nodeFlags: ReadonlyArray<string> = ["--liftoff-only"]

/** Runs `dbkit ...args` with the given environment on top of a clean one (no DATABASE_URL unless given). */
export const runCli = (
  args: ReadonlyArray<string>,
  env: Record<string, string | undefined> = {},
  options: { readonly cwd?: string; readonly timeoutMs?: number } = {}
): Promise<CliResult> =>
  new Promise((resolve, reject) => {
    const base = { ...process.env }
    delete base.DATABASE_URL
    delete base.DB_ENV
    delete base.NODE_ENV
    delete base.VITEST
    const child = spawn(process.execPath, [...nodeFlags, bin, ...args], {
      cwd: options.cwd ?? path.resolve(import.meta.dirname, "../.."),
      env: { ...base, CI: "true", ...env },
      stdio: ["ignore", "pipe", "pipe"]
    })
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (d) => (stdout += d))
    child.stderr.on("data", (d) => (stderr += d))
    const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 60_000)
    child.on("error", reject)
    child.on("close", (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr })
    })
  })
