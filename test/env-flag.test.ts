// `--env NAME` on every command: that environment's database from its urlEnv; in staging and
// production from that variable only (never a DATABASE_URL the shell holds), and a missing or
// empty one is exit 2 naming it, with nothing touched.
import { describe, expect, it } from "@effect/vitest"
import * as fs from "node:fs"
import * as path from "node:path"
import { takeEnvFlag } from "../src/cli/envFlag.js"
import { runCli } from "./support/cli.js"
import { createScratchDatabase, dropScratchDatabase, queryAt, serverAvailable, tempDir } from "./support/databases.js"

const server = await serverAvailable()

describe("takeEnvFlag", () => {
  it("takes --env NAME and --env=NAME out of the arguments, not after --, and not for deploy or env", () => {
    expect(takeEnvFlag(["node", "dbkit", "migrate", "--env", "staging", "--dry-run"])).toEqual({
      argv: ["node", "dbkit", "migrate", "--dry-run"],
      env: "staging"
    })
    expect(takeEnvFlag(["node", "dbkit", "--env=production", "backup"])).toEqual({
      argv: ["node", "dbkit", "backup"],
      env: "production"
    })
    expect(takeEnvFlag(["node", "dbkit", "seed", "--", "--env", "x"]).env).toBeUndefined()
    expect(takeEnvFlag(["node", "dbkit", "deploy", "--env", "staging"])).toEqual({
      argv: ["node", "dbkit", "deploy", "--env", "staging"],
      env: undefined
    })
    expect(takeEnvFlag(["node", "dbkit", "env", "check", "--env", "staging"]).env).toBeUndefined()
  })
})

describe.skipIf(!server)("dbkit COMMAND --env NAME", () => {
  it("--env staging migrates the database in STAGING_DATABASE_URL, not the shell's DATABASE_URL; missing, empty or unknown is exit 2", async () => {
    const staging = await createScratchDatabase("dbkit_envflag_staging")
    const other = await createScratchDatabase("dbkit_envflag_other")
    try {
      const dir = tempDir("dbkit-env-flag-")
      fs.mkdirSync(path.join(dir, "migrations"))
      fs.writeFileSync(path.join(dir, "migrations", "001_first.sql"), "CREATE TABLE first (id int);\n")
      const dataDir = path.join(dir, "pglite")
      const base = { DATABASE_URL: other.url, DBKIT_DATA_DIR: dataDir }
      const migrated = await runCli(["migrate", "--env", "staging", "--json"], {
        ...base,
        STAGING_DATABASE_URL: staging.url
      }, { cwd: dir })
      expect(migrated.code, migrated.stderr).toBe(0)
      expect(await queryAt(staging.url, "SELECT to_regclass('public.first') IS NOT NULL AS made")).toEqual([{
        made: true
      }])
      expect(await queryAt(other.url, "SELECT to_regclass('public.first') IS NOT NULL AS made")).toEqual([{
        made: false
      }])

      for (
        const [label, env] of [
          ["missing", { ...base }],
          ["empty", { ...base, STAGING_DATABASE_URL: "" }]
        ] as const
      ) {
        const refused = await runCli(["migrate", "--env", "staging"], env, { cwd: dir })
        expect([label, refused.code]).toEqual([label, 2])
        expect(refused.stderr).toContain(`STAGING_DATABASE_URL: is ${label === "empty" ? "set but empty" : "not set"}`)
      }
      const production = await runCli(["backup", "--env=production", "--out", path.join(dir, "b")], { ...base }, {
        cwd: dir
      })
      expect(production.code).toBe(2)
      expect(production.stderr).toContain("PRODUCTION_DATABASE_URL: is not set")
      const unknown = await runCli(["migrate", "--env", "prod"], base, { cwd: dir })
      expect(unknown.code).toBe(2)
      expect(unknown.stderr).toContain("unknown environment \"prod\"")
      expect(await queryAt(other.url, "SELECT to_regclass('dbkit.migrations') IS NOT NULL AS made")).toEqual([{
        made: false
      }])
      expect(fs.existsSync(dataDir)).toBe(false)
      expect(fs.existsSync(path.join(dir, "b"))).toBe(false)
    } finally {
      await dropScratchDatabase(staging.name)
      await dropScratchDatabase(other.name)
    }
  })
})
