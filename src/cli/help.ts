/**
 * dbkit's help and its reading of the command line before @effect/cli parses it, in the manner
 * of git, gh and clig.dev:
 *
 * - `dbkit`, `dbkit --help`: one screen — the commands grouped (migrations, data, backups,
 *   tenants, health, deploy, privacy), one line each.
 * - `dbkit <command> … --help`: a usage line, the description, the command's own options with
 *   their real descriptions and defaults (none of @effect/cli's filler: "A user-defined piece of
 *   text.", "This setting is optional."), its subcommands one line each, examples, and the
 *   global options once.
 * - An unknown option or command is `error: unknown option --dryrun for dbkit migrate (did you
 *   mean --dry-run?)`, exit 2, instead of @effect/cli's "Invalid subcommand …".
 *
 * Everything is read from the command definitions themselves (their HelpDoc), so help cannot
 * drift from what the parser accepts. Lines are wrapped to the terminal (at most 100 columns).
 */
import * as CliConfig from "@effect/cli/CliConfig"
import type * as Command from "@effect/cli/Command"
import * as Descriptor from "@effect/cli/CommandDescriptor"
import type * as HelpDoc from "@effect/cli/HelpDoc"
import type * as Span from "@effect/cli/HelpDoc/Span"

type AnyCommand = Command.Command<any, any, any, any>
type AnyDescriptor = Descriptor.Command<unknown>

/** The root command's groups, in the order a newcomer meets them. */
export const groups: ReadonlyArray<readonly [string, ReadonlyArray<string>]> = [
  ["Set up, migrate and deploy", ["init", "migrate", "deploy", "env"]],
  ["Data and tenants", ["seed", "reset", "db", "tenant", "tenancy"]],
  ["Backups", ["backup", "backups", "restore", "pitr"]],
  ["Operate", ["health", "serve", "jobs"]],
  ["Privacy", ["privacy", "audit"]]
]

/**
 * Examples by command path ("" is the root): the common call first, then a notable option or
 * two, with the option names and values a user would type (this project's migrations, tenant
 * acme, environments staging and production, backups under backups/). Each fits 96 columns
 * after `  $ `; test/cli-help.test.ts parses every one with the real command definitions.
 */
const backupFile = "backups/app_backup_2026-01-15_02-00-00.sql.gz"
const examples: Readonly<Record<string, ReadonlyArray<string>>> = {
  "": ["npx dbkit init", "dbkit migrate --dry-run", "DATABASE_URL=postgres://… dbkit health"],
  init: ["dbkit init", "dbkit init --dir path/to/project --json"],
  migrate: [
    "dbkit migrate --dry-run",
    "dbkit migrate --to 0003_customer_contact",
    "dbkit migrate --env staging --json"
  ],
  "migrate status": [
    "dbkit migrate status",
    "dbkit migrate status --env staging",
    "dbkit migrate status --json | jq .pending"
  ],
  "migrate plan": [
    "dbkit migrate plan",
    "dbkit migrate plan --strict",
    "dbkit migrate plan --to 0004_audit_triggers --env production"
  ],
  "migrate verify": ["dbkit migrate verify", "dbkit migrate verify --env production --json"],
  "migrate rollback": [
    "dbkit migrate rollback --steps 1 --yes",
    "dbkit migrate rollback --to 0002_rls_force_and_grants --yes",
    "DB_ROLLBACK_CONFIRM=1 dbkit migrate rollback --env staging --json"
  ],
  "migrate baseline": [
    "dbkit migrate baseline --to 0003_customer_contact",
    "dbkit migrate baseline --to 0004_audit_triggers --env production --json"
  ],
  "migrate adopt": ["dbkit migrate adopt", "dbkit migrate adopt --env staging --json"],
  "migrate repair": [
    "dbkit migrate repair",
    "dbkit migrate repair --mark-applied 0004_audit_triggers",
    "dbkit migrate repair --env staging --json"
  ],
  "migrate drift": ["dbkit migrate drift", "dbkit migrate drift --env production --json"],
  "migrate new": ["dbkit migrate new add_invoice_notes", "dbkit migrate new \"index invoices by due date\""],
  seed: ["dbkit seed", "dbkit seed --seed 42 --scale 2", "dbkit seed --only customers --tenant acme --dry-run"],
  "seed list": ["dbkit seed list", "dbkit seed list --env staging --json"],
  "seed validate": ["dbkit seed validate", "dbkit seed validate --json"],
  "seed clean": ["dbkit seed clean --yes", "DB_SEED_CLEAN_CONFIRM=1 dbkit seed clean --json"],
  reset: ["DB_RESET_CONFIRM=1 dbkit reset --seed", "dbkit reset --soft --yes", "dbkit reset --yes --seed --with-cache"],
  backup: [
    "dbkit backup",
    "DB_BACKUP_KEY=… dbkit backup --out backups/nightly",
    "dbkit backup --format custom --exclude-table audit_log",
    "dbkit backup --physical --type full"
  ],
  backups: ["dbkit backups list", `dbkit backups verify ${backupFile}`, "dbkit backups prune --keep-last 7 --dry-run"],
  "backups list": ["dbkit backups list", "dbkit backups list --dir backups/nightly --json"],
  "backups verify": [
    `dbkit backups verify ${backupFile}`,
    `dbkit backups verify ${backupFile} --restore-test`,
    `DB_BACKUP_KEY=… dbkit backups verify ${backupFile}.enc --json`,
    "dbkit backups verify --physical"
  ],
  "backups prune": [
    "dbkit backups prune --keep-last 7 --dry-run",
    "dbkit backups prune --keep-last 7 --keep-days 30",
    "DB_PRUNE_ALLOW_PRODUCTION=1 dbkit backups prune --env production --keep-days 30 --yes"
  ],
  restore: [
    `DB_RESTORE_CONFIRM=1 dbkit restore ${backupFile}`,
    `dbkit restore ${backupFile} --into app_copy`,
    `dbkit restore ${backupFile} --validate-only`,
    "dbkit restore --physical --to-time \"2026-12-06 14:03:00+00\" --into-cluster /srv/pg --port 5433"
  ],
  pitr: ["dbkit pitr setup", "dbkit pitr point before_release_42"],
  "pitr setup": ["DBKIT_PGBACKREST_STANZA=main dbkit pitr setup", "dbkit pitr setup --env production --json"],
  "pitr point": ["dbkit pitr point before_release_42", "dbkit pitr point nightly_check --env staging --json"],
  tenant: ["dbkit tenant provision acme", "dbkit tenant list", "dbkit tenant migrate-all --concurrency 4"],
  "tenant provision": [
    "dbkit tenant provision acme",
    "dbkit tenant provision fortium-demo --domain demo.fortium.example --plan pro",
    "dbkit tenant provision globex --shard eu1 --json"
  ],
  "tenant list": ["dbkit tenant list", "dbkit tenant list --json"],
  "tenant suspend": ["dbkit tenant suspend acme", "dbkit tenant suspend acme --json"],
  "tenant resume": ["dbkit tenant resume acme", "dbkit tenant resume acme --json"],
  "tenant deprovision": [
    "dbkit tenant deprovision acme",
    "dbkit tenant deprovision acme --yes --out backups/tenants",
    "DB_TENANT_DEPROVISION_CONFIRM=1 dbkit tenant deprovision acme --no-backup"
  ],
  tenancy: ["dbkit tenancy audit", "dbkit tenancy audit --env production --json"],
  "tenancy audit": [
    "dbkit tenancy audit",
    "dbkit tenancy audit --env staging --json",
    "dbkit tenancy audit --schema public --tenant-column tenant_id"
  ],
  "tenant migrate-all": [
    "dbkit tenant migrate-all",
    "dbkit tenant migrate-all --concurrency 8",
    "dbkit tenant migrate-all --resume --json"
  ],
  health: [
    "dbkit health",
    "dbkit health --check long-queries --threshold longQuerySeconds=60 --json",
    "dbkit health serve --port 9187"
  ],
  serve: [
    "dbkit serve",
    "dbkit serve --port 9300 --env production",
    "DBKIT_SERVE_TOKEN=… dbkit serve --host 0.0.0.0"
  ],
  jobs: ["dbkit jobs list", "dbkit jobs run nightly", "dbkit jobs list --env production --json"],
  "jobs list": ["dbkit jobs list", "dbkit jobs list --limit 50", "dbkit jobs list --env production --json"],
  "jobs run": ["dbkit jobs run nightly", "dbkit jobs run restoreTest --env production --json"],
  "health serve": [
    "dbkit health serve",
    "dbkit health serve --port 9187",
    "dbkit health serve --port 9187 --host 0.0.0.0"
  ],
  db: ["dbkit db stats", "dbkit db validate --tenant acme", "dbkit db cleanup --run"],
  "db stats": ["dbkit db stats", "dbkit db stats --limit 25 --json"],
  "db maintain": [
    "dbkit db maintain",
    "dbkit db maintain --run",
    "DB_MAINTAIN_CONFIRM=1 DB_MAINTAIN_ALLOW_PRODUCTION=1 dbkit db maintain --run --env production"
  ],
  "db validate": ["dbkit db validate", "dbkit db validate --tenant acme --json"],
  "db cleanup": [
    "dbkit db cleanup",
    "dbkit db cleanup --run",
    "dbkit db cleanup --run --tenant acme --env staging --yes"
  ],
  "db load-test": [
    "dbkit db load-test",
    "dbkit db load-test --type mixed --queries 5000 --concurrency 8",
    "dbkit db load-test --type write --duration 30 --json"
  ],
  deploy: [
    "dbkit deploy --env staging",
    "dbkit deploy --env production --dry-run",
    "DB_DEPLOY_CONFIRM=1 DB_DEPLOY_ALLOW_PRODUCTION=1 dbkit deploy --env production"
  ],
  "deploy history": ["dbkit deploy history --env production", "dbkit deploy history --env staging --limit 5 --json"],
  env: ["dbkit env list", "dbkit env check --connect", "dbkit env diff --from staging --to production"],
  "env list": ["dbkit env list", "dbkit env list --json"],
  "env check": ["dbkit env check", "dbkit env check --connect", "dbkit env check --env production --connect --json"],
  "env diff": [
    "dbkit env diff --from staging --to production",
    "dbkit env diff --from staging --to production --schema --json"
  ],
  "env promote": [
    "dbkit env promote --from staging --to production --dry-run",
    "DB_DEPLOY_ALLOW_PRODUCTION=1 dbkit env promote --from staging --to production --yes"
  ],
  privacy: [
    "dbkit privacy map",
    "dbkit privacy export --email ada@example.com --out ada.json",
    "dbkit privacy erase --email ada@example.com --dry-run"
  ],
  "privacy map": ["dbkit privacy map", "dbkit privacy map --strict --json"],
  "privacy export": [
    "dbkit privacy export --email ada@example.com --out ada.json",
    "dbkit privacy export --email ada@example.com --tenant acme --out -"
  ],
  "privacy erase": [
    "dbkit privacy erase --email ada@example.com --dry-run",
    "dbkit privacy erase --email ada@example.com --tenant acme --yes",
    "DB_PRIVACY_ERASE_CONFIRM=1 dbkit privacy erase --email ada@example.com --json"
  ],
  "privacy anonymize": [
    "dbkit privacy anonymize --into app_anonymized",
    "dbkit privacy anonymize --in-place --yes",
    "dbkit privacy anonymize --into app_anonymized --batch-size 5000 --json"
  ],
  "privacy rotate-key": [
    "DBKIT_FIELD_KEYS_FILE=secrets/field-keys.json dbkit privacy rotate-key",
    "dbkit privacy rotate-key --table customers.tax_id --batch-size 500"
  ],
  "privacy verify-encryption": [
    "dbkit privacy verify-encryption",
    "dbkit privacy verify-encryption --table customers.tax_id --json"
  ],
  audit: [
    "dbkit audit report --tenant acme --from 2026-01-01",
    "dbkit audit report --from 2026-01-01 --to 2026-02-01 --json"
  ],
  "audit report": [
    "dbkit audit report",
    "dbkit audit report --tenant acme --from 2026-01-01",
    "dbkit audit report --from 2026-01-01 --to 2026-02-01 --json"
  ]
}

/** Options every command takes; shown once, never in each command's list. */
const builtIn = new Set(["--completions", "--log-level", "--help", "-h", "--wizard", "--version"])
const globalOptions = [
  ["--env NAME", "run against that environment of dbkit.config.ts (its urlEnv's database)"],
  ["--otlp URL", "export the command's trace to an OpenTelemetry collector (OTLP/HTTP)"],
  ["--verbose", "print the full cause of a failure"],
  ["-h, --help", "this help"],
  ["--version", "dbkit's version"],
  ["--completions SHELL", "print a completion script (bash or zsh: source <(dbkit --completions bash))"]
] as const

/** Sentences @effect/cli adds to every option, which say nothing the usage does not. */
const filler =
  /^(A user-defined piece of text\.|A true or false value\.|An integer\.|A floating point number\.|A file\.|A directory\.|A file or directory\.|This setting is optional\.|This option may be repeated zero or more times\.|One of the following: .*|A date without a time-zone .*)$/

const spanText = (span: Span.Span): string => {
  switch (span._tag) {
    case "Text":
    case "URI":
      return span.value
    case "Sequence":
      return spanText(span.left) + spanText(span.right)
    default:
      return spanText(span.value)
  }
}

/** The blocks of a HelpDoc, flattened in order. */
const blocksOf = (doc: HelpDoc.HelpDoc): Array<HelpDoc.HelpDoc> =>
  doc._tag === "Sequence" ? [...blocksOf(doc.left), ...blocksOf(doc.right)] : doc._tag === "Empty" ? [] : [doc]

interface Entry {
  readonly name: string
  readonly text: string
}

interface Described {
  readonly description: string
  readonly options: ReadonlyArray<Entry>
  readonly args: ReadonlyArray<Entry>
  /** Every option name the command accepts (aliases too), built-ins included. */
  readonly optionNames: ReadonlyArray<string>
}

/** A command's description, options and arguments, from its HelpDoc. */
const describe = (help: HelpDoc.HelpDoc): Described => {
  let section = ""
  const description: Array<string> = []
  const options: Array<Entry> = []
  const args: Array<Entry> = []
  const optionNames: Array<string> = []
  for (const block of blocksOf(help)) {
    if (block._tag === "Header") section = spanText(block.value)
    else if (block._tag === "Paragraph" && section === "DESCRIPTION") description.push(spanText(block.value))
    else if (block._tag === "DescriptionList" && (section === "OPTIONS" || section === "ARGUMENTS")) {
      for (const [span, body] of block.definitions) {
        const name = spanText(span).replace(/^\((.*)\)$/, "$1")
        const paragraphs = blocksOf(body).filter((b): b is HelpDoc.Paragraph => b._tag === "Paragraph").map((b) =>
          spanText(b.value)
        )
        const defaults = paragraphs.map((p) => /^This setting is optional\. Defaults to: (.*)$/.exec(p)?.[1]).find((
          d
        ) => d !== undefined)
        const choices = paragraphs.map((p) => /^One of the following: (.*)$/.exec(p)?.[1]).find((c) => c !== undefined)
        const text = paragraphs.filter((p) =>
          !filler.test(p) && !p.startsWith("This setting is optional. Defaults to:")
        ).join(" ")
        const extra = [
          choices !== undefined && !name.includes("|") ? `one of: ${choices}` : "",
          defaults !== undefined ? `default: ${defaults}` : ""
        ]
          .filter(Boolean).join("; ")
        const entry = {
          name: placeholders(name),
          text: extra === "" ? text : `${text}${text === "" ? "" : " "}(${extra})`
        }
        if (section === "ARGUMENTS") args.push(entry)
        else {
          for (const flag of name.matchAll(/(?:^|[\s,(])(--?[A-Za-z][\w-]*)/g)) optionNames.push(flag[1]!)
          if (!name.split(/[\s,]+/).some((part) => builtIn.has(part))) options.push(entry)
        }
      }
    }
  }
  return { description: description.join(" "), options, args, optionNames }
}

/** `--to text` → `--to TEXT`, `--steps integer` → `--steps N`: placeholders that read as such. */
const placeholders = (name: string) =>
  name
    .replace(/ text(\.\.\.)?(?=$|[\s,])/g, (_, many) => ` TEXT${many ?? ""}`)
    .replace(/ integer(\.\.\.)?(?=$|[\s,])/g, (_, many) => ` N${many ?? ""}`)
    .replace(/ float(\.\.\.)?(?=$|[\s,])/g, (_, many) => ` NUMBER${many ?? ""}`)
    .replace(/ (file|directory|path)(?=$|[\s,])/g, (_, kind: string) => ` ${kind.toUpperCase()}`)

/** The terminal's width, at most 100 columns (and 100 in a pipe). */
const width = () => Math.min(100, process.stdout.isTTY ? process.stdout.columns || 100 : 100)

/** `text` wrapped to `width`, every line after the first indented by `indent`. */
const wrap = (text: string, indent: number, first = 0): string => {
  const max = Math.max(40, width())
  const lines: Array<string> = []
  let line = ""
  let room = max - first
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (line !== "" && line.length + 1 + word.length > room) {
      lines.push(line)
      line = word
      room = max - indent
    } else line = line === "" ? word : `${line} ${word}`
  }
  if (line !== "") lines.push(line)
  return lines.join(`\n${" ".repeat(indent)}`)
}

/** Two columns: names padded to the widest (capped), descriptions wrapped beside them. */
const twoColumns = (rows: ReadonlyArray<readonly [string, string]>, indent = 2, fixed?: number): string => {
  const column = fixed ?? Math.min(30, Math.max(...rows.map(([name]) => name.length))) + 2
  return rows
    .map(([name, text]) => {
      const head = `${" ".repeat(indent)}${name}`
      if (text === "") return head
      return name.length + 2 > column
        ? `${head}\n${" ".repeat(indent + column)}${wrap(text, indent + column, indent + column)}`
        : `${head.padEnd(indent + column)}${wrap(text, indent + column, indent + column)}`
    })
    .join("\n")
}

/** The first sentence of a description, for one-line listings. */
const firstSentence = (text: string) => {
  const match = /^(.*?)[.:](\s|$)/.exec(text)
  return (match ? match[1]! : text).trim()
}

/** `text` cut to fit one line of `room` columns. */
const oneLine = (
  text: string,
  room: number
) => (text.length <= room ? text : `${text.slice(0, room - 1).replace(/[\s,;(]+\S*$/, "")}…`)

/**
 * A command and its subcommands as a tree. @effect/cli's own `getSubcommands` flattens one level
 * (a group's child comes back without its children), so the descriptor is walked here: `Map`
 * wraps a command, `Subcommands` is a parent with children, `Standard` is a leaf.
 */
interface Node {
  readonly name: string
  /** The command itself without its children: its help is its own description and options. */
  readonly self: AnyDescriptor
  readonly children: ReadonlyMap<string, Node>
}

interface RawDescriptor {
  readonly _tag: "Standard" | "GetUserInput" | "Map" | "Subcommands"
  readonly name?: string
  readonly command?: RawDescriptor
  readonly parent?: RawDescriptor
  readonly children?: ReadonlyArray<RawDescriptor>
}

const nodeOf = (descriptor: RawDescriptor): Node => {
  switch (descriptor._tag) {
    case "Map":
      return nodeOf(descriptor.command!)
    case "Subcommands": {
      const parent = nodeOf(descriptor.parent!)
      const children = descriptor.children!.map(nodeOf)
      return { ...parent, children: new Map(children.map((child) => [child.name, child])) }
    }
    default:
      return { name: descriptor.name!, self: descriptor as unknown as AnyDescriptor, children: new Map() }
  }
}

const treeOf = (root: AnyCommand): Node => nodeOf((root as unknown as { descriptor: RawDescriptor }).descriptor)

const subcommandsOf = (node: Node): ReadonlyMap<string, Node> => node.children

const helpOf = (node: Node) => Descriptor.getHelp(node.self, CliConfig.defaultConfig)

/** The command a path of words names, as far as the words are subcommands; and the words left. */
export const resolve = (root: AnyCommand, words: ReadonlyArray<string>) => {
  let command = treeOf(root)
  const path: Array<string> = []
  const along: Array<Node> = [command]
  for (const word of words) {
    const next = command.children.get(word)
    if (next === undefined) break
    command = next
    path.push(word)
    along.push(next)
  }
  return { command, path, along, rest: words.slice(path.length) }
}

/** `dbkit` and `dbkit --help`: the commands grouped, one line each. */
export const rootHelp = (root: AnyCommand, version: string): string => {
  const subcommands = subcommandsOf(treeOf(root))
  const described = (name: string) => {
    const command = subcommands.get(name)
    return command === undefined ? "" : firstSentence(describe(helpOf(command)).description)
  }
  const listed = new Set(groups.flatMap(([, names]) => names))
  const others = [...subcommands.keys()].filter((name) => !listed.has(name)).sort()
  const all = [...groups, ...(others.length > 0 ? [["Other", others] as const] : [])]
  const column = Math.max(...all.flatMap(([, names]) => names.map((n) => n.length))) + 2
  const sections = all.map(([title, names]) =>
    `${title}:\n${
      twoColumns(
        names.filter((n) => subcommands.has(n)).map((n) => [n, oneLine(described(n), width() - 2 - column)] as const),
        2,
        column
      )
    }`
  )
  return [
    `dbkit ${version}: migrations, seeds, backups, tenancy, health, deploys and privacy for PostgreSQL`,
    "",
    "Usage: dbkit <command> [options]",
    "",
    wrap(
      "Uses DATABASE_URL, else the embedded database .dbkit/pglite (dev/test only); reads dbkit.config.ts.",
      0
    ),
    "",
    ...sections.flatMap((section) => [section, ""]),
    `Global options:\n${twoColumns(globalOptions)}`,
    "",
    `Examples:\n${examples[""]!.map((e) => `  $ ${e}`).join("\n")}`,
    "",
    "Run `dbkit <command> --help` for a command's options and examples.",
    "Exit codes: see README, \"Exit codes\"."
  ].join("\n")
}

/** `dbkit <path> --help`. */
export const commandHelp = (root: AnyCommand, path: ReadonlyArray<string>): string => {
  const { command } = resolve(root, path)
  const info = describe(helpOf(command))
  const subcommands = subcommandsOf(command)
  const name = ["dbkit", ...path].join(" ")
  const args = info.args.map((a) => a.name).join(" ")
  const usage = [
    `Usage: ${name}${info.options.length > 0 ? " [options]" : ""}${args === "" ? "" : ` ${args}`}`,
    ...(subcommands.size > 0 ? [`       ${name} <command> [options]`] : [])
  ]
  const parts = [usage.join("\n"), "", wrap(info.description, 0)]
  if (info.args.length > 0) parts.push("", `Arguments:\n${twoColumns(info.args.map((a) => [a.name, a.text] as const))}`)
  if (info.options.length > 0) {
    parts.push(
      "",
      `Options:\n${twoColumns(info.options.map((o) => [o.name, o.text] as const))}`
    )
  }
  if (subcommands.size > 0) {
    const column = Math.max(...[...subcommands.keys()].map((n) => n.length)) + 2
    const rows = [...subcommands.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([sub, descriptor]) =>
      [sub, oneLine(firstSentence(describe(helpOf(descriptor)).description), width() - 2 - column)] as const
    )
    parts.push("", `Commands:\n${twoColumns(rows, 2, column)}`)
  }
  const own = examples[path.join(" ")]
  if (own !== undefined) parts.push("", `Examples:\n${own.map((e) => `  $ ${e}`).join("\n")}`)
  parts.push("", `Global options: ${globalOptions.map(([flag]) => flag).join(", ")}`)
  if (subcommands.size > 0) parts.push(`Run \`${name} <command> --help\` for a command's options.`)
  return parts.join("\n")
}

/** Edit distance, for "did you mean". */
const distance = (a: string, b: string): number => {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i)
  for (let i = 1; i <= a.length; i++) {
    let previous = row[0]!
    row[0] = i
    for (let j = 1; j <= b.length; j++) {
      const current = row[j]!
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, previous + (a[i - 1] === b[j - 1] ? 0 : 1))
      previous = current
    }
  }
  return row[b.length]!
}

const suggestion = (word: string, candidates: Iterable<string>) => {
  let best: string | undefined
  let bestDistance = Infinity
  for (const candidate of candidates) {
    const d = distance(word, candidate)
    if (d < bestDistance) [best, bestDistance] = [candidate, d]
  }
  return best !== undefined && bestDistance <= Math.max(2, Math.floor(word.length / 3))
    ? ` (did you mean ${best}?)`
    : ""
}

/** Options every command accepts before @effect/cli sees them (main.ts takes --env and --verbose). */
const alwaysAccepted = new Set([
  "--env",
  "--verbose",
  "--help",
  "-h",
  "--version",
  "--completions",
  "--log-level",
  "--wizard"
])

/**
 * What is wrong with a command line that @effect/cli would answer with "Invalid subcommand …":
 * an unknown command under a group, or an option the command does not take. Undefined when
 * nothing is (values of options are never judged here: the parser does that).
 */
export const unknownInput = (root: AnyCommand, args: ReadonlyArray<string>): string | undefined => {
  const end = args.indexOf("--")
  const line = end === -1 ? args : args.slice(0, end)
  const words = line.filter((arg) => !arg.startsWith("-"))
  const { along, command, path, rest } = resolve(root, words)
  const subcommands = subcommandsOf(command)
  const info = describe(helpOf(command))
  const name = ["dbkit", ...path].join(" ")
  // A parent's options may stand before its subcommand's name.
  const parents = along.slice(0, -1).flatMap((node) => describe(helpOf(node)).optionNames)
  const known = new Set([...parents, ...info.optionNames, ...alwaysAccepted])
  for (const arg of line) {
    if (!arg.startsWith("-") || arg === "-") continue
    const flag = arg.split("=")[0]!
    if (/^-\d/.test(flag)) continue // a negative number is a value
    if (!known.has(flag)) {
      return `unknown option ${flag} for ${name}${
        suggestion(flag, info.optionNames.filter((n) => !builtIn.has(n) || n === "--help"))
      }`
    }
  }
  if (subcommands.size > 0 && info.args.length === 0 && rest.length > 0 && rest[0] === words[path.length]) {
    // The first word after the path is not a subcommand, and this command takes no arguments:
    // but it may be an option's value (`--to 0003_x`); only judge words not after a value-taking option.
    const index = line.indexOf(rest[0]!)
    const before = line[index - 1]
    const afterValueOption = before !== undefined && before.startsWith("--") && !before.includes("=") &&
      info.options.some((o) => o.name.startsWith(`${before} `))
    if (!afterValueOption) return `unknown command ${rest[0]} for ${name}${suggestion(rest[0]!, subcommands.keys())}`
  }
  return undefined
}

/** Every command path with the words that may follow it: its subcommands and options. */
const completionTable = (root: AnyCommand): ReadonlyArray<readonly [string, ReadonlyArray<string>]> => {
  const rows: Array<readonly [string, ReadonlyArray<string>]> = []
  const visit = (node: Node, path: ReadonlyArray<string>) => {
    const options = describe(helpOf(node)).optionNames.filter((name) =>
      !["--wizard", "--log-level", "--completions"].includes(name)
    )
    rows.push([path.join(" "), [...node.children.keys(), ...new Set([...options, "--env", "--verbose"])]])
    for (const [name, child] of node.children) visit(child, [...path, name])
  }
  visit(treeOf(root), [])
  return rows
}

/**
 * A bash completion script for every command and option (zsh loads it through bashcompinit).
 * @effect/cli's own generator loses its way below the first level (`dbkit migrate plan <TAB>`
 * offers migrate's options), so dbkit writes its own from the same command tree.
 */
export const bashCompletion = (root: AnyCommand, shell: "bash" | "zsh"): string => {
  const rows = completionTable(root)
  const quote = (text: string) => `'${text.replace(/'/g, "'\\''")}'`
  const paths = rows.map(([path]) => path).filter((path) => path !== "")
  return [
    "# dbkit completion: source it, e.g. `source <(dbkit --completions " + shell + ")` in ~/." +
    (shell === "zsh" ? "zshrc" : "bashrc"),
    ...(shell === "zsh" ? ["autoload -U +X bashcompinit && bashcompinit"] : []),
    "_dbkit_completions() {",
    "  local cur=\"${COMP_WORDS[COMP_CWORD]}\" path=\"\" i word words",
    "  for ((i = 1; i < COMP_CWORD; i++)); do",
    "    word=\"${COMP_WORDS[i]}\"",
    "    [[ \"$word\" == -* ]] && continue",
    "    case \"${path:+$path }$word\" in",
    `      ${paths.map(quote).join("|")}) path=\"\${path:+$path }$word\" ;;`,
    "    esac",
    "  done",
    "  case \"$path\" in",
    ...rows.map(([path, words]) => `    ${quote(path)}) words=${quote(words.join(" "))} ;;`),
    "  esac",
    "  COMPREPLY=($(compgen -W \"$words\" -- \"$cur\"))",
    "}",
    "complete -o default -F _dbkit_completions dbkit",
    ""
  ].join("\n")
}
