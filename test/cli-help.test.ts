// The first hour with the command line: help that fits a 100-column screen and a pipe, read from
// the command definitions (no @effect/cli filler, no colour codes off a terminal); unknown
// options and commands named with a suggestion (exit 2); parse errors that start with `error:`;
// bash completions that cover every command and option, checked by running the generated script.
import * as CliConfig from "@effect/cli/CliConfig"
import * as Command from "@effect/cli/Command"
import * as Descriptor from "@effect/cli/CommandDescriptor"
import * as HelpDoc from "@effect/cli/HelpDoc"
import * as NodePath from "@effect/platform-node/NodePath"
import * as NodeTerminal from "@effect/platform-node/NodeTerminal"
import * as FileSystem from "@effect/platform/FileSystem"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { dbkit } from "../src/cli/commands.js"
import { takeEnvFlag } from "../src/cli/envFlag.js"
import * as Help from "../src/cli/help.js"
import { bytes } from "../src/cli/render.js"
import { runCli } from "./support/cli.js"
import { tempDir } from "./support/databases.js"

const filler = [
  "A user-defined piece of text.",
  "A true or false value.",
  "This setting is optional.",
  "An integer.",
  "Invalid subcommand"
]
const ansi = /\x1b\[/

/** The lines of a help section (`Options:`, `Commands:`), up to the next blank line. */
const section = (help: string, title: string): ReadonlyArray<string> => {
  const lines = help.split("\n")
  const start = lines.indexOf(`${title}:`)
  if (start === -1) return []
  const end = lines.findIndex((line, i) => i > start && line.trim() === "")
  return lines.slice(start + 1, end === -1 ? undefined : end)
}

/** Every command path, with the options its help lists, walked from the root help. */
const walk = async () => {
  const found: Array<
    { path: ReadonlyArray<string>; help: string; options: ReadonlyArray<string>; commands: ReadonlyArray<string> }
  > = []
  const queue: Array<ReadonlyArray<string>> = [[]]
  while (queue.length > 0) {
    const at = queue.shift()!
    const result = await runCli([...at, "--help"])
    expect([at.join(" "), result.code, result.stderr]).toEqual([at.join(" "), 0, ""])
    const commands = at.length === 0
      ? result.stdout.split("\n").filter((line) => /^ {2}[a-z]/.test(line) && !line.startsWith("  $")).map((line) =>
        line.trim().split(/\s+/)[0]!
      )
      : section(result.stdout, "Commands").map((line) => line.trim().split(/\s+/)[0]!)
    const options = section(result.stdout, "Options").filter((line) => /^ {2}-/.test(line)).map((line) =>
      line.trim().split(/\s+/)[0]!
    )
    found.push({ path: at, help: result.stdout, options, commands })
    for (const command of commands) queue.push([...at, command])
  }
  return found
}

/** The walk, once per file: it starts the CLI once for every command. */
let walked: ReturnType<typeof walk> | undefined
const commandTree = () => (walked ??= walk())

/** Every command path of the tree, the root first. */
const pathsOf = (at: ReadonlyArray<string>): ReadonlyArray<string> => [
  at.join(" "),
  ...[...Help.resolve(dbkit, at).command.children.keys()].flatMap((name) => pathsOf([...at, name]))
]

/** A shell line's words, quotes removed (no expansion: examples use none). */
const shellWords = (line: string): ReadonlyArray<string> =>
  (line.match(/(?:[^\s"']+|"[^"]*"|'[^']*')+/g) ?? []).map((word) => word.replace(/"([^"]*)"|'([^']*)'/g, "$1$2"))

/** The arguments after `dbkit` (or `npx dbkit`), leading VAR=value assignments dropped; undefined when it is not a dbkit line. */
const dbkitArgs = (words: ReadonlyArray<string>): ReadonlyArray<string> | undefined => {
  let i = 0
  while (/^[A-Za-z_][A-Za-z0-9_]*=/.test(words[i] ?? "")) i++
  if (words[i] === "npx") i++
  return words[i] === "dbkit" ? words.slice(i + 1) : undefined
}

/** @effect/cli's parse needs a file system: one where every path exists (a file when it has an extension). */
const parseContext = Layer.mergeAll(
  FileSystem.layerNoop({
    exists: () => Effect.succeed(true),
    stat: (file) => Effect.succeed({ type: path.extname(file) === "" ? "Directory" : "File" } as FileSystem.File.Info)
  }),
  NodePath.layer,
  NodeTerminal.layer
)

/**
 * What is wrong with `args` as main.ts reads them: --verbose and --env taken out, then its own
 * check (unknown commands and options), then @effect/cli's parse (values, required options and
 * arguments, nothing left over). Undefined when nothing is.
 */
const rejection = async (args: ReadonlyArray<string>): Promise<string | undefined> => {
  const line = takeEnvFlag(["node", "dbkit", ...args.filter((arg) => arg !== "--verbose")]).argv.slice(2)
  const unknown = Help.unknownInput(dbkit, line)
  if (unknown !== undefined) return unknown
  const parsed = await Effect.runPromise(
    Descriptor.parse(dbkit.descriptor, ["dbkit", ...line], CliConfig.defaultConfig).pipe(
      Effect.either,
      Effect.provide(parseContext)
    )
  )
  if (Either.isLeft(parsed)) return HelpDoc.toAnsiText(parsed.left.error).trim()
  const directive = parsed.right
  if (directive._tag !== "UserDefined") return `parsed as the built-in ${directive.option._tag}`
  return directive.leftover.length > 0 ? `left over: ${directive.leftover.join(" ")}` : undefined
}

describe("dbkit help", () => {
  it("the root help fits one screen of 100 columns: the commands grouped, one line each, with examples", async () => {
    const result = await runCli(["--help"])
    expect(result.code).toBe(0)
    const lines = result.stdout.trimEnd().split("\n")
    expect(lines.length).toBeLessThanOrEqual(50)
    expect(Math.max(...lines.map((l) => l.length))).toBeLessThanOrEqual(100)
    for (
      const heading of [
        "Set up, migrate and deploy:",
        "Data and tenants:",
        "Backups:",
        "Operate:",
        "Privacy:",
        "Global options:",
        "Examples:"
      ]
    ) {
      expect(lines).toContain(heading)
    }
    for (
      const command of [
        "init",
        "migrate",
        "seed",
        "reset",
        "db",
        "backup",
        "backups",
        "restore",
        "tenant",
        "health",
        "deploy",
        "env",
        "privacy",
        "audit"
      ]
    ) {
      expect(lines.filter((l) => l.startsWith(`  ${command} `)).length).toBe(1)
    }
    expect(result.stdout).not.toMatch(ansi)
    for (const sentence of filler) expect(result.stdout).not.toContain(sentence)
    // No arguments at all: the same help, not an error.
    const bare = await runCli([])
    expect([bare.code, bare.stdout]).toEqual([0, result.stdout])
  })

  it(
    "every command's help has a usage line, real option descriptions, its subcommands one line each, and no filler or colour codes; bash completion offers every command and option",
    async () => {
      const commands = await commandTree()
      expect(commands.length).toBeGreaterThan(40)
      for (const { help, path: at } of commands.filter((c) => c.path.length > 0)) {
        const label = at.join(" ")
        expect([label, help.split("\n")[0]]).toEqual([
          label,
          expect.stringMatching(new RegExp(`^Usage: dbkit ${label}( |$)`))
        ])
        expect([label, Math.max(...help.split("\n").map((l) => l.length))]).toEqual([label, expect.any(Number)])
        expect([label, help.split("\n").filter((l) => l.length > 100)]).toEqual([label, []])
        expect([label, ansi.test(help)]).toEqual([label, false])
        for (const sentence of filler) expect([label, help.includes(sentence)]).toEqual([label, false])
        // An option's line carries its description.
        const options = section(help, "Options")
        const bare = options.filter((line, i) =>
          /^ {2}-/.test(line) && line.trim().split(/\s{2,}/).length < 2 && !/^ {6,}\S/.test(options[i + 1] ?? "")
        )
        expect([label, bare]).toEqual([label, []])
      }
      const migrate = commands.find((c) => c.path.join(" ") === "migrate")!
      expect(migrate.help).toContain("--dry-run")
      expect(migrate.help).toContain("Examples:")
      expect(migrate.commands).toEqual(expect.arrayContaining(["status", "plan", "rollback", "drift", "new"]))

      // The generated bash completion, run: `dbkit <path> <TAB>` offers every subcommand and option.
      const script = await runCli(["--completions", "bash"])
      expect(script.code).toBe(0)
      const dir = tempDir("dbkit-completion-")
      fs.writeFileSync(path.join(dir, "dbkit.bash"), script.stdout)
      const probes = commands.map(({ path: at }) => {
        const words = ["dbkit", ...at, ""].map((w) => `'${w}'`).join(" ")
        return `COMP_WORDS=(${words}); COMP_CWORD=${at.length + 1}; COMPREPLY=(); ` +
          `_dbkit_completions; echo "${at.join(" ")}|\${COMPREPLY[*]}"`
      })
      const bash = spawnSync("bash", ["-c", [`source ${path.join(dir, "dbkit.bash")}`, ...probes].join("\n")], {
        encoding: "utf8"
      })
      expect(bash.status, bash.stderr).toBe(0)
      const offered = new Map(
        bash.stdout.trim().split("\n").map((line) => {
          const [at, words] = line.split("|")
          return [at!, new Set(words!.split(" "))] as const
        })
      )
      for (const { commands: subcommands, options, path: at } of commands) {
        const words = offered.get(at.join(" "))!
        const missing = [...subcommands, ...options.map((o) => o.replace(/,$/, ""))].filter((word) => !words.has(word))
        expect([at.join(" "), missing]).toEqual([at.join(" "), []])
      }
    },
    240_000
  )

  it(
    "every command's help ends with examples, two or more wherever it takes options, each a dbkit command line the CLI accepts",
    async () => {
      const commands = await commandTree()
      expect([...pathsOf([])].sort()).toEqual(commands.map(({ path: at }) => at.join(" ")).sort())
      for (const { help, options, path: at } of commands) {
        const label = at.join(" ")
        const lines = help.trimEnd().split("\n")
        const start = lines.indexOf("Examples:")
        const examples = section(help, "Examples").map((line) => line.replace(/^ {2}\$ /, ""))
        // After the options and subcommands: only the global options and pointers follow.
        expect([label, start > lines.indexOf("Options:") && start > lines.indexOf("Commands:")]).toEqual([label, true])
        expect([label, examples.length >= (options.length > 0 ? 2 : 1)]).toEqual([label, true])
        for (const example of examples) {
          const args = dbkitArgs(shellWords(example))
          // An example of this command (or of one of its subcommands).
          expect([example, args?.slice(0, at.length)]).toEqual([example, at])
          // A pipe or a placeholder (`backups/<file>`, `…`) is not a command line to parse.
          if (example.includes("|") || args!.some((arg) => /[<>…]/.test(arg))) continue
          expect([example, await rejection(args!)]).toEqual([example, undefined])
        }
      }
    },
    240_000
  )

  it("an example a user could not type is caught: an unknown option, a missing required option, a bad value", async () => {
    expect(await rejection(["reset", "--mode", "soft"])).toMatch(/^unknown option --mode for dbkit reset/)
    expect(await rejection(["privacy", "export", "--email", "ada@example.com"])).toContain("--out")
    expect(await rejection(["migrate", "rollback", "--steps", "one"])).toBeDefined()
    expect(await rejection(["migrate", "--env", "staging", "--to", "0003_customer_contact"])).toBeUndefined()
  })
})

describe("dbkit command-line errors", () => {
  it("an unknown option or command is named with a suggestion, exit 2, nothing on stdout", async () => {
    const cases: ReadonlyArray<readonly [ReadonlyArray<string>, string]> = [
      [["migrate", "--dryrun"], "error: unknown option --dryrun for dbkit migrate (did you mean --dry-run?)"],
      [["seed", "--scael", "2"], "error: unknown option --scael for dbkit seed (did you mean --scale?)"],
      [["migrat"], "error: unknown command migrat for dbkit (did you mean migrate?)"],
      [["migrate", "statsu"], "error: unknown command statsu for dbkit migrate (did you mean status?)"],
      [
        ["tenant", "provision", "acme", "--nmae", "Acme"],
        "error: unknown option --nmae for dbkit tenant provision (did you mean --name?)"
      ]
    ]
    for (const [args, message] of cases) {
      const result = await runCli(args, { DBKIT_DATA_DIR: "memory://" })
      expect([args.join(" "), result.code, result.stderr.trim(), result.stdout]).toEqual([
        args.join(" "),
        2,
        message,
        ""
      ])
    }
  })

  it("a command line the parser rejects (a missing argument, a value of the wrong type) is one error: line, without colour codes", async () => {
    for (const args of [["tenant", "provision"], ["migrate", "rollback", "--steps", "many"]]) {
      const result = await runCli(args, { DBKIT_DATA_DIR: "memory://", NO_COLOR: "1" })
      expect([args.join(" "), result.code]).toEqual([args.join(" "), 2])
      const lines = result.stderr.trim().split("\n")
      expect([args.join(" "), lines.length, lines[0]!.startsWith("error: ")]).toEqual([args.join(" "), 1, true])
      expect(result.stderr).not.toMatch(ansi)
    }
  })
})

describe("dbkit surprises removed", () => {
  it("health serve on a port in use says so in one line and exits 2", async () => {
    const net = await import("node:net")
    const holder = net.createServer()
    await new Promise<void>((resolve) => holder.listen(0, "127.0.0.1", resolve))
    const port = (holder.address() as import("node:net").AddressInfo).port
    try {
      const result = await runCli(["health", "serve", "--port", String(port), "--host", "127.0.0.1"], {
        DBKIT_DATA_DIR: "memory://"
      })
      expect(result.code).toBe(2)
      expect(result.stderr.trim().split("\n").filter((l) => !l.startsWith("dbkit "))).toEqual([
        `error: --port: 127.0.0.1:${port} is already in use (EADDRINUSE); choose another --port or stop what listens there`
      ])
    } finally {
      holder.close()
    }
  })

  it(
    "backup --out under /proc fails in one line (exit 13) instead of spinning forever in Node's recursive mkdir",
    async () => {
      if (!fs.existsSync("/proc/self")) return // not Linux: no such file system to try it on
      const dataDir = path.join(tempDir("dbkit-proc-out-"), "pglite")
      const result = await runCli(["backup", "--out", "/proc/dbkit-no-such-folder/x"], { DBKIT_DATA_DIR: dataDir }, {
        timeoutMs: 120_000
      })
      expect(result.code).toBe(13)
      expect(result.stderr).toContain("error: could not write /proc/dbkit-no-such-folder/x: ENOENT")
    },
    150_000
  )

  it(
    "read-only commands on an embedded database that does not exist yet say so (exit 3) instead of creating it; a missing migrations folder stops migrate first (exit 2)",
    async () => {
      const dataDir = path.join(tempDir("dbkit-no-embedded-"), "pglite")
      for (
        const args of [["migrate", "status"], ["migrate", "verify"], ["health"], ["tenant", "list"], ["db", "stats"], [
          "seed",
          "list"
        ]]
      ) {
        const result = await runCli(args, { DBKIT_DATA_DIR: dataDir })
        expect([args.join(" "), result.code]).toEqual([args.join(" "), 3])
        expect(result.stderr).toContain(
          `error: there is no embedded database at ${dataDir} yet: \`dbkit migrate\` creates it`
        )
      }
      const missing = await runCli(["migrate"], {
        DBKIT_DATA_DIR: dataDir,
        DBKIT_MIGRATIONS_DIR: path.join(path.dirname(dataDir), "no-migrations")
      })
      expect(missing.code).toBe(2)
      expect(missing.stderr).toContain("is not a directory")
      expect(fs.existsSync(dataDir)).toBe(false)
      // `migrate` itself creates it, and then status reads it.
      expect((await runCli(["migrate"], { DBKIT_DATA_DIR: dataDir }, { timeoutMs: 120_000 })).code).toBe(0)
      expect((await runCli(["migrate", "status", "--json"], { DBKIT_DATA_DIR: dataDir })).code).toBe(0)
    },
    240_000
  )

  it("rates and sizes read as people write them (no 75.82938388625593 B/s)", () => {
    expect([
      bytes(75.82938388625593),
      bytes(0),
      bytes(1023.6),
      bytes(1536),
      bytes(5 * 1024 ** 2),
      bytes(3.5 * 1024 ** 3)
    ]).toEqual([
      "76 B",
      "0 B",
      "1024 B",
      "1.5 KB",
      "5.0 MB",
      "3.50 GB"
    ])
  })

  it("a long seed shows its rows so far on a terminal, and nothing of it in a pipe", async () => {
    const hasScript = spawnSync("script", ["--version"], { encoding: "utf8" }).status === 0
    if (!hasScript && process.env.CI !== "true") return // util-linux's script gives the terminal
    const dataDir = path.join(tempDir("dbkit-seed-progress-"), "pglite")
    expect((await runCli(["migrate"], { DBKIT_DATA_DIR: dataDir }, { timeoutMs: 120_000 })).code).toBe(0)
    const bin = path.resolve(import.meta.dirname, "..", "bin", "dbkit.mjs")
    const terminal = spawnSync("script", ["-qec", `"${process.execPath}" "${bin}" seed --scale 2`, "/dev/null"], {
      encoding: "utf8",
      env: Object.fromEntries(
        Object.entries({ ...process.env, DBKIT_DATA_DIR: dataDir }).filter(([name]) =>
          !["DATABASE_URL", "DB_ENV", "NODE_ENV", "VITEST"].includes(name)
        )
      ),
      timeout: 120_000
    })
    expect(terminal.status, terminal.stdout).toBe(0)
    expect(terminal.stdout).toMatch(/… invoices: [\d,]+ rows so far \((invoices|invoice_lines|payments)\)/)
    expect(terminal.stdout).toContain("✓ invoices (development)")
    const piped = await runCli(["seed", "clean", "--yes"], { DBKIT_DATA_DIR: dataDir })
    expect(piped.code).toBe(0)
    const again = await runCli(["seed", "--scale", "2"], { DBKIT_DATA_DIR: dataDir }, { timeoutMs: 120_000 })
    expect(again.code).toBe(0)
    expect(again.stdout + again.stderr).not.toMatch(/rows so far|\r/)
    expect(again.stdout).toContain("✓ invoices (development)")
  }, 300_000)
})
