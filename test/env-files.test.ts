// .env and .env.<environment> beside the config, read as Node's --env-file reads them; the
// shell's variables win; `dbkit env list` says where each URL came from, never its value.
import { describe, expect, it } from "@effect/vitest"
import * as fs from "node:fs"
import * as path from "node:path"
import { loadEnvFiles, sourceOf } from "../src/EnvFiles.js"
import { runCli } from "./support/cli.js"
import { createScratchDatabase, dropScratchDatabase, serverAvailable, tempDir } from "./support/databases.js"

const server = await serverAvailable()

const project = (files: Record<string, string>) => {
  const dir = tempDir("dbkit-env-files-")
  for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), text)
  return dir
}

describe("loadEnvFiles", () => {
  it("reads .env, then .env.<environment> over it, never over the shell; records each value's file", () => {
    const dir = project({
      ".env":
        "DB_ENV=staging\nFOO=from-env\nDATABASE_URL=\"postgres://u@h/app\" # a comment\nexport ONLY_BASE='quoted value'\n",
      ".env.staging": "FOO=from-staging\nSTAGING_DATABASE_URL=postgres://s@h/staging\n",
      ".env.production": "FOO=never-read\n"
    })
    const env: NodeJS.ProcessEnv = { FOO_SHELL: "x", ONLY_BASE: "shell wins" }
    const loaded = loadEnvFiles(dir, env)
    expect(loaded.files).toEqual([".env", ".env.staging"])
    expect(env.FOO).toBe("from-staging")
    expect(env.DATABASE_URL).toBe("postgres://u@h/app")
    expect(env.STAGING_DATABASE_URL).toBe("postgres://s@h/staging")
    expect(env.ONLY_BASE).toBe("shell wins")
    expect(env.DB_ENV).toBe("staging")
    expect(loaded.fromFiles).toEqual({
      FOO: ".env.staging",
      STAGING_DATABASE_URL: ".env.staging",
      DB_ENV: ".env",
      DATABASE_URL: ".env"
    })
    expect(sourceOf("ONLY_BASE", env)).toBe("shell")
    expect(sourceOf("FOO", env)).toBe(".env.staging")
    expect(sourceOf("NOPE", env)).toBeUndefined()
  })

  it("the shell's DB_ENV picks the second file; an empty shell value is a value; DBKIT_ENV_FILES=0 reads nothing", () => {
    const dir = project({
      ".env": "DB_ENV=staging\nDATABASE_URL=postgres://u@h/app\n",
      ".env.production": "PRODUCTION_DATABASE_URL=postgres://p@h/prod\n"
    })
    const env: NodeJS.ProcessEnv = { DB_ENV: "production", DATABASE_URL: "" }
    const loaded = loadEnvFiles(dir, env)
    expect(loaded.files).toEqual([".env", ".env.production"])
    expect(env.DATABASE_URL).toBe("")
    expect(env.PRODUCTION_DATABASE_URL).toBe("postgres://p@h/prod")
    const off: NodeJS.ProcessEnv = { DBKIT_ENV_FILES: "0" }
    expect(loadEnvFiles(dir, off).files).toEqual([])
    expect(off.DATABASE_URL).toBeUndefined()
  })
})

describe("the CLI reads the project's .env files", () => {
  it("dbkit env list names the file each URL came from, and never prints a value", async () => {
    const dir = project({ ".env": "STAGING_DATABASE_URL=postgres://deploy:s3cr3t-pw@staging.internal:5432/app\n" })
    const listed = await runCli(["env", "list", "--json"], {}, { cwd: dir })
    expect(listed.code, listed.stderr).toBe(0)
    const out = JSON.parse(listed.stdout)
    expect(out.envFiles).toEqual([".env"])
    expect(out.variablesFromFiles).toEqual({ STAGING_DATABASE_URL: ".env" })
    expect(out.environments.find((e: { name: string }) => e.name === "staging").urlFrom).toBe(".env")
    const human = await runCli(["env", "list"], {}, { cwd: dir })
    expect(human.stdout).toContain("variables read from .env: STAGING_DATABASE_URL")
    expect(human.stdout).toMatch(/STAGING_DATABASE_URL \(\.env\)/)
    // The shell's value wins, and is named as the shell's.
    const shell = await runCli(["env", "list", "--json"], { STAGING_DATABASE_URL: "postgres://other:pw2@h/app" }, {
      cwd: dir
    })
    expect(JSON.parse(shell.stdout).environments.find((e: { name: string }) => e.name === "staging").urlFrom).toBe(
      "shell"
    )
    for (const text of [listed.stdout, listed.stderr, human.stdout, human.stderr, shell.stdout]) {
      expect(text).not.toContain("s3cr3t-pw")
      expect(text).not.toContain("pw2")
    }
  })

  it.skipIf(!server)(
    "a DATABASE_URL in .env takes commands to the server; DB_ENV=production in .env without a URL is exit 2",
    async () => {
      const db = await createScratchDatabase("dbkit_envfile")
      try {
        const dataDir = path.join(tempDir("dbkit-env-files-data-"), "pglite")
        const dir = project({ ".env": `DATABASE_URL=${db.url}\nDBKIT_DATA_DIR=${dataDir}\n` })
        fs.mkdirSync(path.join(dir, "migrations"))
        fs.writeFileSync(path.join(dir, "migrations", "001_first.sql"), "CREATE TABLE first (id int);\n")
        const status = await runCli(["migrate", "status", "--json"], {}, { cwd: dir })
        expect(status.code, status.stderr).toBe(0)
        expect(JSON.parse(status.stdout)).toMatchObject({ pending: ["001_first"] })
        expect(fs.existsSync(dataDir)).toBe(false)
        const production = project({ ".env": `DB_ENV=production\nDBKIT_DATA_DIR=${dataDir}\n` })
        const refused = await runCli(["migrate"], {}, { cwd: production })
        expect(refused.code).toBe(2)
        expect(refused.stderr).toContain("DATABASE_URL: is not set, and the environment is production")
        expect(fs.existsSync(dataDir)).toBe(false)
      } finally {
        await dropScratchDatabase(db.name)
      }
    }
  )
})
