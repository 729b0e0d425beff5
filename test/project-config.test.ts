// Every command reads the project's dbkit.config.ts: migrationsDir and backupDir from the file
// (the variables still win); a broken config stops any command with one line naming the file
// and the field (exit 2) before a database is opened; edits are picked up (the compiled-module
// cache follows the files).
import { describe, expect, it } from "@effect/vitest"
import * as fs from "node:fs"
import * as path from "node:path"
import { runCli } from "./support/cli.js"
import { embeddedDataDir, tempDir } from "./support/databases.js"

const config = (fields: string) =>
  `import { defineConfig } from "dbkit"\n\nexport default defineConfig({\n${fields}\n})\n`

const project = () => {
  const dir = tempDir("dbkit-project-config-")
  fs.mkdirSync(path.join(dir, "db", "sql"), { recursive: true })
  fs.writeFileSync(path.join(dir, "db", "sql", "001_first.sql"), "CREATE TABLE first (id int);\n")
  fs.mkdirSync(path.join(dir, "db", "other"), { recursive: true })
  fs.writeFileSync(path.join(dir, "db", "other", "001_other.sql"), "CREATE TABLE other (id int);\n")
  return dir
}

describe("dbkit.config.ts is every command's configuration", () => {
  it("migrate finds the migrations in the config's migrationsDir; an edit is picked up; DBKIT_MIGRATIONS_DIR still wins", async () => {
    const dir = project()
    const env = { DBKIT_DATA_DIR: embeddedDataDir() } // a fresh cluster, without an initdb per command
    fs.writeFileSync(path.join(dir, "dbkit.config.ts"), config(`  migrationsDir: "db/sql",\n  backupDir: "db/backups"`))
    const first = await runCli(["migrate", "status", "--json"], env, { cwd: dir })
    expect(first.code, first.stderr).toBe(0)
    expect(JSON.parse(first.stdout)).toMatchObject({ pending: ["001_first"] })
    expect(fs.readdirSync(path.join(dir, ".dbkit", "cache")).length).toBe(1) // compiled once, reused after

    fs.writeFileSync(path.join(dir, "dbkit.config.ts"), config(`  migrationsDir: "db/other" // moved\n`))
    const edited = await runCli(["migrate", "status", "--json"], env, { cwd: dir })
    expect(JSON.parse(edited.stdout)).toMatchObject({ pending: ["001_other"] })

    const variable = await runCli(["migrate", "status", "--json"], { ...env, DBKIT_MIGRATIONS_DIR: "db/sql" }, {
      cwd: dir
    })
    expect(JSON.parse(variable.stdout)).toMatchObject({ pending: ["001_first"] })
  })

  it("a bad field, a missing module or a module that throws stops any command: exit 2, one line naming the file (and the field)", async () => {
    const dir = project()
    const dataDir = path.join(dir, "pglite")
    const env = { DBKIT_DATA_DIR: dataDir }
    const cases: ReadonlyArray<readonly [string, string, RegExp]> = [
      [
        "bad field",
        config(`  environments: { staging: { lint: "loud" } }`),
        /dbkit\.config\.ts: environments\.staging\.lint/
      ],
      [
        "missing module",
        `import { nothing } from "./does-not-exist"\nexport default { migrationsDir: nothing }\n`,
        /dbkit\.config\.ts.*cannot be compiled/
      ],
      ["throws", `throw new Error("boom")\n`, /dbkit\.config\.ts.*failed while loading: boom/]
    ]
    for (const [label, text, message] of cases) {
      fs.writeFileSync(path.join(dir, "dbkit.config.ts"), text)
      for (const args of [["migrate"], ["seed"], ["backup", "--out", path.join(dir, "b")]]) {
        const result = await runCli(args, env, { cwd: dir })
        expect([label, args[0], result.code]).toEqual([label, args[0], 2])
        const lines = result.stderr.trim().split("\n").filter((l) => !l.startsWith("dbkit "))
        expect([label, lines.length]).toEqual([label, 1])
        expect(lines[0]).toMatch(message)
      }
    }
    expect(fs.existsSync(dataDir)).toBe(false)
    expect(fs.existsSync(path.join(dir, "b"))).toBe(false)
  })

  it("the modules and rules it declares are checked the same way: a missing seeds module, one that exports no seeds, a bad tenancy or retention field, a privacy map that throws, seeds not declared", async () => {
    const dir = project()
    const dataDir = path.join(dir, "pglite")
    const env = { DBKIT_DATA_DIR: dataDir }
    fs.writeFileSync(path.join(dir, "db", "not-seeds.ts"), "export const answer = 42\n")
    fs.writeFileSync(path.join(dir, "db", "privacy.ts"), "throw new Error(\"map exploded\")\n")
    const cases: ReadonlyArray<readonly [string, string, ReadonlyArray<string>, RegExp]> = [
      [
        "seeds missing",
        config(`  seeds: "db/seeds.ts"`),
        ["migrate"],
        /dbkit\.config\.ts: seeds: names db\/seeds\.ts, which does not exist$/
      ],
      [
        "seeds of the wrong shape",
        config(`  seeds: "db/not-seeds.ts"`),
        ["seed"],
        /dbkit\.config\.ts: seeds: db\/not-seeds\.ts exports no seeds/
      ],
      ["no seeds declared", config(`  migrationsDir: "db/sql"`), ["seed"], /dbkit\.config\.ts: seeds: is not declared/],
      [
        "bad strategy",
        config(`  tenancy: { strategy: "silo" }`),
        ["tenant", "list"],
        /dbkit\.config\.ts: tenancy\.strategy: /
      ],
      ["bad retention", config(`  retention: [{ table: "events", timestampColumn: "at", keep: "forever" }]`), [
        "db",
        "cleanup"
      ], /dbkit\.config\.ts: retention\.0\.keep: /],
      [
        "bad relationship",
        config(`  integrity: { relationships: [{ table: "a", column: "b", references: "nowhere" }] }`),
        ["db", "validate"],
        /dbkit\.config\.ts: integrity\.relationships\.0\.references: /
      ],
      [
        "privacy throws",
        config(`  privacy: "db/privacy.ts"`),
        ["privacy", "map"],
        /dbkit\.config\.ts: privacy: db\/privacy\.ts failed while loading: map exploded$/
      ]
    ]
    for (const [label, text, args, message] of cases) {
      fs.writeFileSync(path.join(dir, "dbkit.config.ts"), text)
      const result = await runCli(args, env, { cwd: dir })
      expect([label, result.code]).toEqual([label, 2])
      const lines = result.stderr.trim().split("\n").filter((l) => !l.startsWith("dbkit "))
      expect([label, lines]).toEqual([label, [expect.stringMatching(message)]])
    }
    expect(fs.existsSync(dataDir)).toBe(false)
  })

  it("dbkit's library never imports the example project: it reaches the CLI only through the repository's dbkit.config.ts", () => {
    const root = path.resolve(import.meta.dirname, "..", "src")
    const offenders: Array<string> = []
    const walk = (dir: string) => {
      for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
        const file = path.join(dir, entry.name)
        if (entry.isDirectory()) {
          if (file !== path.join(root, "example")) walk(file)
        } else if (file.endsWith(".ts")) {
          for (const [, specifier] of fs.readFileSync(file, "utf8").matchAll(/(?:from|import\()\s*"([^"]+)"/g)) {
            if (specifier!.startsWith(".") && path.resolve(dir, specifier!).startsWith(path.join(root, "example"))) {
              offenders.push(`${path.relative(root, file)} → ${specifier}`)
            }
          }
        }
      }
    }
    walk(root)
    expect(offenders).toEqual([])
    const repositoryConfig = fs.readFileSync(path.resolve(root, "..", "dbkit.config.ts"), "utf8")
    expect(repositoryConfig).toMatch(/seeds: "src\/example\/seeds\/index\.ts"/)
  })
})
