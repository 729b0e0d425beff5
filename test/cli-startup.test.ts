// Starting the CLI evaluates only the command definitions: a command's handler, and the drivers,
// child processes and servers it uses, load when that command runs (src/cli/lazy.ts). Checked by
// the Node built-ins a process has loaded when it exits, not by timing.
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { runCli } from "./support/cli.js"
import { tempDir } from "./support/databases.js"

/** Runs dbkit with a preload that reports, at exit, the Node built-ins the process loaded. */
const builtinsLoadedBy = async (args: ReadonlyArray<string>, env: Record<string, string> = {}) => {
  const preload = path.join(tempDir("dbkit-startup-"), "report-builtins.cjs")
  fs.writeFileSync(
    preload,
    `process.on("exit", () => process.stderr.write("builtins: " + JSON.stringify(process.moduleLoadList` +
      `.filter((m) => m.startsWith("NativeModule ")).map((m) => m.slice(13))) + "\\n"))\n`
  )
  const result = await runCli(args, { ...env, NODE_OPTIONS: `--require ${preload}` })
  const line = result.stderr.split("\n").find((l) => l.startsWith("builtins: "))
  return { ...result, builtins: JSON.parse(line?.slice("builtins: ".length) ?? "null") as Array<string> | null }
}

// What handlers use and the definitions must not pull in: pg_dump/psql, gzip, `health serve`.
const handlerOnly = ["child_process", "zlib", "http", "https", "worker_threads"]

describe("dbkit starts without loading any command's implementation", () => {
  it.effect("--help, a group's --help and a command's --help load none of the handlers' built-ins", () =>
    Effect.gen(function*() {
      for (
        const args of [["--help"], ["backup", "--help"], ["health", "serve", "--help"], ["db", "load-test", "--help"]]
      ) {
        const result = yield* Effect.promise(() => builtinsLoadedBy(args))
        expect(result.code, args.join(" ")).toBe(0)
        expect(result.builtins, args.join(" ")).not.toBeNull()
        expect(result.builtins!.filter((m) => handlerOnly.includes(m)), args.join(" ")).toEqual([])
      }
    }))

  it.effect("a command that runs loads what its handler needs (the check above can fail)", () =>
    Effect.gen(function*() {
      // `backups list` needs no database, but its handler imports Backup, which imports zlib.
      const result = yield* Effect.promise(() =>
        builtinsLoadedBy(["backups", "list", "--dir", tempDir("dbkit-startup-")])
      )
      expect(result.code).toBe(0)
      expect(result.stdout).toContain("no backups")
      expect(result.builtins).toContain("zlib")
    }))
})
