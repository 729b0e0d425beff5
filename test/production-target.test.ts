// Production is never silently replaced by the embedded database: with DB_ENV (or NODE_ENV)
// staging or production and DATABASE_URL missing or empty, every command that would open a
// database exits 2 naming the variable, writes nothing, and leaves the embedded folder uncreated.
import { describe, expect, it } from "@effect/vitest"
import * as fs from "node:fs"
import * as path from "node:path"
import { runCli } from "./support/cli.js"
import { tempDir } from "./support/databases.js"

const work = tempDir("dbkit-production-target-")
const dataDir = path.join(work, "pglite")
const backupDir = path.join(work, "backups")
fs.mkdirSync(backupDir)
const someFile = path.join(work, "some_backup.sql")
fs.writeFileSync(someFile, "SELECT 1;\n")

const families: ReadonlyArray<ReadonlyArray<string>> = [
  ["migrate"],
  ["migrate", "status"],
  ["seed"],
  ["backup", "--out", backupDir],
  ["restore", someFile, "--yes", "--trust-unsigned"],
  ["reset", "--yes"],
  ["tenant", "list"],
  ["health"],
  ["db", "stats"],
  ["privacy", "map"],
  ["audit", "report"]
]

const settings: ReadonlyArray<{ readonly label: string; readonly env: Record<string, string> }> = [
  { label: "DB_ENV=production, DATABASE_URL missing", env: { DB_ENV: "production" } },
  { label: "DB_ENV=staging, DATABASE_URL empty", env: { DB_ENV: "staging", DATABASE_URL: "" } },
  { label: "NODE_ENV=production, DATABASE_URL empty", env: { NODE_ENV: "production", DATABASE_URL: "" } }
]

describe("a missing or empty DATABASE_URL in staging and production", () => {
  for (const { env, label } of settings) {
    it(`${label}: every command family exits 2 naming DATABASE_URL; nothing is written, no embedded folder`, async () => {
      const results = await Promise.all(families.map(async (args) => ({
        args: args.join(" "),
        result: await runCli(args, {
          ...env,
          DBKIT_DATA_DIR: dataDir,
          DBKIT_BACKUP_DIR: backupDir,
          DB_RESET_CONFIRM: "1",
          DB_RESTORE_CONFIRM: "1"
        })
      })))
      for (const { args, result } of results) {
        expect([args, result.code]).toEqual([args, 2])
        expect([args, result.stderr]).toEqual([args, expect.stringContaining("DATABASE_URL")])
        expect([args, result.stderr]).toEqual([args, expect.stringMatching(/never uses the embedded database/)])
      }
      expect(fs.existsSync(dataDir)).toBe(false)
      expect(fs.readdirSync(backupDir)).toEqual([])
    })
  }
})
