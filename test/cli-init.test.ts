/**
 * `dbkit init` as a user runs it in their own project (the real CLI in a temp folder): what it
 * finds, the config it writes (and that dbkit's loader accepts it), the scripts it adds to
 * package.json without disturbing anything else, and that a second run changes nothing.
 */
import { describe, expect, it } from "@effect/vitest"
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"
import { readDrizzleOut } from "../src/cli/init/drizzleConfig.js"
import { addScripts } from "../src/cli/init/packageJson.js"
import { runCli } from "./support/cli.js"
import { embeddedDataDir, tempDir } from "./support/databases.js"
import { writeFolder } from "./support/migrations.js"

const root = tempDir("dbkit-init-")
/** A fresh project folder with these files (one temp root for the file). */
const project = (files: Record<string, string>) => writeFolder(files, fs.mkdtempSync(path.join(root, "p-")))

/** Every file under `dir` (relative path → sha256), to prove a run wrote nothing. */
const checksums = (dir: string): Record<string, string> => {
  const out: Record<string, string> = {}
  const walk = (at: string) => {
    for (const entry of fs.readdirSync(at, { withFileTypes: true })) {
      const full = path.join(at, entry.name)
      if (entry.isDirectory()) walk(full)
      else out[path.relative(dir, full)] = createHash("sha256").update(fs.readFileSync(full)).digest("hex")
    }
  }
  walk(dir)
  return out
}

/** What `env list --json` says, minus where each value came from (file or default). */
const environments = async (dir: string) => {
  const listed = await runCli(["env", "list", "--json"], {}, { cwd: dir })
  expect(listed.stderr).toBe("")
  expect(listed.code).toBe(0)
  const parsed = JSON.parse(listed.stdout) as {
    file: string | null
    migrationsDir: string
    backupDir: string
    environments: Array<Record<string, unknown>>
  }
  return { ...parsed, environments: parsed.environments.map(({ sources: _, ...rest }) => rest) }
}

const effectScripts = {
  "effect:migrate-db": "dbkit migrate",
  "effect:seed-db": "dbkit seed",
  "effect:backup-db": "dbkit backup",
  "effect:restore-db": "dbkit restore",
  "effect:reset-db": "dbkit reset",
  "effect:health-db": "dbkit health"
}

/** A package.json as a person formats it: `\u00e9` escapes and a one-line array that JSON.stringify would change. */
const packageText = (indent: string, scripts: Record<string, string>, end: string) => {
  const i = indent
  const lines = Object.entries(scripts).map(([k, v]) => `${i}${i}${JSON.stringify(k)}: ${JSON.stringify(v)}`)
  return `{\n${i}"name": "shop",\n${i}"description": "caf\\u00e9 app",\n${i}"files": ["dist", "src"],\n${i}"scripts": {\n${
    lines.join(",\n")
  }\n${i}},\n${i}"devDependencies": {\n${i}${i}"dbkit": "^0.1.0"\n${i}}\n}${end}`
}

describe("dbkit init", () => {
  it.each([
    { variant: "two spaces, final newline", indent: "  ", end: "\n" },
    { variant: "tabs, no final newline", indent: "\t", end: "" }
  ])(
    "in a plain-SQL project ($variant): writes a config the loader accepts, adds the scripts after the others; a second run changes nothing",
    async ({ end, indent }) => {
      const own = { build: "tsc -b", test: "vitest run", "effect:reset-db": "prisma migrate reset" }
      const dir = project({
        "migrations/001_init.sql": "CREATE TABLE customers (id int PRIMARY KEY);\n",
        "migrations/002_more.sql": "ALTER TABLE customers ADD COLUMN name text;\n",
        "package.json": packageText(indent, own, end)
      })
      const defaults = await environments(dir) // no config yet: dbkit's defaults
      expect(defaults.file).toBeNull()

      const first = await runCli(["init"], {}, { cwd: dir })
      expect(first.stderr).toBe("")
      expect(first.code).toBe(0)
      expect(first.stdout).toContain("found migrations/ (2 SQL migration(s))")
      expect(first.stdout).toContain(`wrote dbkit.config.ts (migrationsDir "migrations", backupDir "backups")`)
      expect(first.stdout).toContain(
        "added effect:migrate-db, effect:seed-db, effect:backup-db, effect:restore-db, effect:health-db"
      )
      expect(first.stdout).toContain(`left effect:reset-db alone: it runs "prisma migrate reset"`)
      expect(first.stdout).toContain("next: npx dbkit migrate --dry-run")
      expect(first.stdout).not.toContain("nothing to do")

      // The scripts went in after the project's own, in the file's style; nothing else moved.
      const { "effect:reset-db": _, ...added } = effectScripts
      expect(fs.readFileSync(path.join(dir, "package.json"), "utf8")).toBe(
        packageText(indent, { ...own, ...added }, end)
      )

      const config = fs.readFileSync(path.join(dir, "dbkit.config.ts"), "utf8")
      expect(config).toContain(`import { defineConfig } from "dbkit"`)
      expect(config).toContain(`migrationsDir: "migrations"`)
      expect(config).toContain("// found migrations/ with 2 SQL migration(s)")
      for (const variable of ["DATABASE_URL", "TEST_DATABASE_URL", "STAGING_DATABASE_URL", "PRODUCTION_DATABASE_URL"]) {
        expect(config).toContain(`urlEnv: "${variable}"`)
      }

      // dbkit's own loader reads it, and it states the defaults: the settings are what they were without it.
      const loaded = await environments(dir)
      expect(loaded.file).toBe(path.join(fs.realpathSync(dir), "dbkit.config.ts"))
      expect(loaded.migrationsDir).toBe(path.join(fs.realpathSync(dir), "migrations"))
      expect(loaded.environments).toEqual(defaults.environments)
      const check = await runCli(["env", "check"], {}, { cwd: dir })
      expect(check.code).toBe(0)
      expect(check.stdout).toContain("is valid")

      // The user's edits survive: init never rewrites an existing config.
      fs.appendFileSync(path.join(dir, "dbkit.config.ts"), "// edited by hand\n")
      const before = checksums(dir)
      const second = await runCli(["init"], {}, { cwd: dir })
      expect(second.code).toBe(0)
      expect(second.stdout).toContain("kept dbkit.config.ts")
      expect(second.stdout).toContain("nothing to do")
      expect(checksums(dir)).toEqual(before)
      const json = await runCli(["init", "--json"], {}, { cwd: dir })
      expect(json.code).toBe(0)
      expect(JSON.parse(json.stdout)).toMatchObject({
        changed: false,
        config: { file: "dbkit.config.ts", status: "kept" },
        packageJson: {
          status: "unchanged",
          added: [],
          conflicts: [{ name: "effect:reset-db", command: "prisma migrate reset", wanted: "dbkit reset" }]
        }
      })
      expect(checksums(dir)).toEqual(before)
    }
  )

  it("in a drizzle-kit project: the config points at drizzle.config.ts's out folder, not at another folder of SQL files", async () => {
    const dir = project({
      "drizzle.config.ts": [
        `import { defineConfig } from "drizzle-kit"`,
        `export default defineConfig({`,
        `  dialect: "postgresql",`,
        `  schema: "./src/db/schema.ts",`,
        `  // out: "./old-migrations",`,
        `  out: "./db/drizzle",`,
        `  dbCredentials: { url: process.env.DATABASE_URL! }`,
        `})`,
        ``
      ].join("\n"),
      "db/drizzle/0000_init.sql": "CREATE TABLE users (id int PRIMARY KEY);\n",
      "db/drizzle/meta/_journal.json": JSON.stringify({
        version: "7",
        dialect: "postgresql",
        entries: [{ idx: 0, version: "7", when: 1700000000000, tag: "0000_init", breakpoints: true }]
      }),
      "sql/001_legacy.sql": "SELECT 1;\n",
      "backups/.keep": "",
      "package.json": `{\n    "name": "api",\n    "private": true\n}\n`
    })
    const result = await runCli(["init", "--dir", dir], {}, { cwd: root })
    expect(result.stderr).toBe("")
    expect(result.code).toBe(0)
    expect(result.stdout).toContain("found drizzle.config.ts → out: ./db/drizzle")
    expect(result.stdout).toContain("found db/drizzle/ (drizzle-kit journal, 1 migration(s))")
    expect(result.stdout).toContain("found backups/")
    expect(fs.readFileSync(path.join(dir, "dbkit.config.ts"), "utf8")).toContain(`migrationsDir: "db/drizzle"`)
    const loaded = await environments(dir)
    expect(loaded.migrationsDir).toBe(path.join(fs.realpathSync(dir), "db", "drizzle"))
    // No scripts field: one is added at the end, four spaces like the rest.
    expect(fs.readFileSync(path.join(dir, "package.json"), "utf8")).toBe(
      `{\n    "name": "api",\n    "private": true,\n    "scripts": {\n${
        Object.entries(effectScripts).map(([k, v]) => `        "${k}": "${v}"`).join(",\n")
      }\n    }\n}\n`
    )
    expect(result.stdout).toContain("package.json does not list dbkit")

    // The next command it prints works as printed, with nothing set: dbkit.config.ts says where the migrations are.
    const report = JSON.parse((await runCli(["init", "--json"], {}, { cwd: dir })).stdout) as { next: Array<string> }
    const words = report.next[0]!.split(" ")
    expect(words.slice(0, 2)).toEqual(["npx", "dbkit"])
    const next = await runCli(words.slice(2), { DBKIT_DATA_DIR: embeddedDataDir() }, { cwd: dir }) // a fresh cluster, no initdb
    expect(next.stderr).not.toContain("error")
    expect(next.code).toBe(0)
    expect(next.stdout).toContain("0000_init")
  })

  it("without a package.json: writes the config, creates no package.json, and says so", async () => {
    const dir = project({ "migrations/20240101120000_init.sql": "CREATE TABLE t (id int);\n" })
    const result = await runCli(["init"], {}, { cwd: dir })
    expect(result.code).toBe(0)
    expect(result.stdout).toContain("no package.json here: none created")
    expect(result.stdout).toContain("next: npx dbkit migrate --dry-run")
    expect(fs.existsSync(path.join(dir, "package.json"))).toBe(false)
    expect(fs.readdirSync(dir).sort()).toEqual(["dbkit.config.ts", "migrations"])
    expect((await environments(dir)).migrationsDir).toBe(path.join(fs.realpathSync(dir), "migrations"))
    const json = JSON.parse((await runCli(["init", "--json"], {}, { cwd: dir })).stdout)
    expect(json).toMatchObject({ changed: false, packageJson: { status: "missing" } })
  })

  it("refuses a --dir that does not exist: exit 2, one line naming it, nothing created", async () => {
    const missing = path.join(root, "no-such-project")
    const result = await runCli(["init", "--dir", missing], {}, { cwd: root })
    expect(result.code).toBe(2)
    expect(result.stdout).toBe("")
    expect(result.stderr.trim().split("\n")).toHaveLength(1)
    expect(result.stderr).toContain(missing)
    expect(fs.existsSync(missing)).toBe(false)
  })

  it("refuses a package.json that is not JSON before writing anything (exit 2)", async () => {
    const dir = project({ "package.json": `{ "name": "x", }\n` })
    const result = await runCli(["init"], {}, { cwd: dir })
    expect(result.code).toBe(2)
    expect(result.stderr).toContain(path.join(fs.realpathSync(dir), "package.json"))
    expect(result.stderr).toContain("nothing was written")
    expect(fs.readdirSync(dir)).toEqual(["package.json"])
  })

  it("--help describes it", async () => {
    const help = await runCli(["init", "--help"])
    expect(help.code).toBe(0)
    expect(help.stdout).toContain("Set dbkit up in an existing project")
    expect(help.stdout).toContain("--dir")
  })
})

describe("package.json edits", () => {
  const wanted: ReadonlyArray<readonly [string, string]> = [["effect:migrate-db", "dbkit migrate"], [
    "effect:seed-db",
    "dbkit seed"
  ]]
  const edited = (text: string) => {
    const result = addScripts(text, wanted)
    if (result._tag !== "Edited") throw new Error(result.reason)
    return result.text
  }

  it.each([
    [
      "minified stays minified",
      `{"name":"x","scripts":{"t":"v"}}`,
      `{"name":"x","scripts":{"t":"v","effect:migrate-db":"dbkit migrate","effect:seed-db":"dbkit seed"}}`
    ],
    [
      "one line with spaces",
      `{"name": "x", "scripts": {"t": "v"}}`,
      `{"name": "x", "scripts": {"t": "v", "effect:migrate-db": "dbkit migrate", "effect:seed-db": "dbkit seed"}}`
    ],
    [
      "CRLF and an empty scripts object",
      `{\r\n  "name": "x",\r\n  "scripts": {}\r\n}\r\n`,
      `{\r\n  "name": "x",\r\n  "scripts": {\r\n    "effect:migrate-db": "dbkit migrate",\r\n    "effect:seed-db": "dbkit seed"\r\n  }\r\n}\r\n`
    ],
    [
      "an empty object",
      `{}\n`,
      `{\n  "scripts": {\n    "effect:migrate-db": "dbkit migrate",\n    "effect:seed-db": "dbkit seed"\n  }\n}\n`
    ],
    [
      "scripts not last, odd arrays kept",
      `{\n    "scripts": {\n        "t": "v"\n    },\n    "x": [1,\n 2]\n}`,
      `{\n    "scripts": {\n        "t": "v",\n        "effect:migrate-db": "dbkit migrate",\n        "effect:seed-db": "dbkit seed"\n    },\n    "x": [1,\n 2]\n}`
    ]
  ])("%s", (_, input, output) => {
    expect(edited(input)).toBe(output)
  })

  it("leaves a script that runs something else, and adds nothing already there", () => {
    const result = addScripts(
      `{\n\t"scripts": {\n\t\t"effect:migrate-db": "knex migrate:latest",\n\t\t"effect:seed-db": "dbkit seed"\n\t}\n}\n`,
      wanted
    )
    expect(result).toMatchObject({
      _tag: "Edited",
      added: [],
      present: ["effect:seed-db"],
      conflicts: [{ name: "effect:migrate-db", command: "knex migrate:latest" }]
    })
    expect(result._tag === "Edited" && result.text).toBe(
      `{\n\t"scripts": {\n\t\t"effect:migrate-db": "knex migrate:latest",\n\t\t"effect:seed-db": "dbkit seed"\n\t}\n}\n`
    )
  })

  it("refuses what is not a package.json object", () => {
    expect(addScripts(`{ "name": "x", }`, wanted)._tag).toBe("Invalid")
    expect(addScripts(`[]`, wanted)._tag).toBe("Invalid")
    expect(addScripts(`{ "scripts": ["a"] }`, wanted)._tag).toBe("Invalid")
  })
})

describe("drizzle config out, read without running it", () => {
  it.each([
    [`export default defineConfig({ out: "./a" })`, { _tag: "Literal", out: "./a" }],
    [`// out: "./old"\nexport default { out: './b' }`, { _tag: "Literal", out: "./b" }],
    [`/* out: "no" */ export default { url: "postgres://h//x", "out": \`./c\` }`, { _tag: "Literal", out: "./c" }],
    [`export default { schema: "./s.ts" }`, { _tag: "Default" }],
    [`export default { out: process.env.OUT }`, { _tag: "NotLiteral" }],
    [`export default { out: \`\${root}/drizzle\` }`, { _tag: "NotLiteral" }]
  ])("%s", (text, expected) => {
    expect(readDrizzleOut(text, false)).toEqual(expected)
  })

  it("reads drizzle.config.json as JSON", () => {
    expect(readDrizzleOut(`{ "out": "./j" }`, true)).toEqual({ _tag: "Literal", out: "./j" })
    expect(readDrizzleOut(`{ "schema": "./s" }`, true)).toEqual({ _tag: "Default" })
  })
})
