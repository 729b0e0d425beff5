// The CLI's edge is typed: every error class in src/ has its exit code in exitCodes.ts (the
// `satisfies` there makes the union and the table agree; this makes the union and the code agree),
// and no handler sets process.exitCode — main.ts alone ends the process.
import { describe, expect, it } from "@effect/vitest"
import * as fs from "node:fs"
import * as path from "node:path"
import { ExitCode, exitCodeByTag, exitCodeOfTag } from "../src/cli/exitCodes.js"

const src = path.resolve(import.meta.dirname, "..", "src")
const files = (dir: string): Array<string> =>
  fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? files(path.join(dir, e.name)) : e.name.endsWith(".ts") ? [path.join(dir, e.name)] : []
  )
/** Error classes only dbkit's own code sees (the lock's internal poll) or the example application's. */
const internal = new Set(["Held", "MissingPrerequisite", "OrganizationNotFound"])

describe("exit codes", () => {
  it("every error class declared in src/ has an exit code, and only declared ones do", () => {
    const declared = files(src).flatMap((file) =>
      [...fs.readFileSync(file, "utf8").matchAll(/TaggedError(?:<[^>]*>)?\(\s*"([A-Za-z]+)"/g)].map((m) => m[1]!)
    ).filter((tag) => !internal.has(tag))
    expect(declared.length).toBeGreaterThan(80)
    expect(declared.filter((tag) => !Object.hasOwn(exitCodeByTag, tag))).toEqual([])
    expect(Object.keys(exitCodeByTag).filter((tag) => tag !== "SqlError" && !declared.includes(tag))).toEqual([])
    expect(exitCodeOfTag("MigrationFailed")).toBe(ExitCode.migrationFailed)
    expect(exitCodeOfTag("toString")).toBe(ExitCode.unexpected) // not an own key
    expect(exitCodeOfTag(undefined)).toBe(ExitCode.unexpected)
  })

  it("no handler sets process.exitCode: main.ts alone ends the process", () => {
    const setters = files(src).filter((file) => /process\.exitCode\s*=/.test(fs.readFileSync(file, "utf8")))
    expect(setters.map((f) => path.relative(src, f))).toEqual(["cli/main.ts"])
  })
})
