/**
 * Adds scripts to a package.json by inserting text, never by re-serialising it: the other fields,
 * their order, escapes (`\u2014`), one-line arrays, indentation (2 or 4 spaces, a tab), line
 * endings and the final newline stay byte for byte as they were. The result is parsed again and
 * compared with what was meant before anything is written.
 */

/** The scripts `dbkit init` adds, in the order they are written. */
export const effectScripts: ReadonlyArray<readonly [name: string, command: string]> = [
  ["effect:migrate-db", "dbkit migrate"],
  ["effect:seed-db", "dbkit seed"],
  ["effect:backup-db", "dbkit backup"],
  ["effect:restore-db", "dbkit restore"],
  ["effect:reset-db", "dbkit reset"],
  ["effect:health-db", "dbkit health"]
]

/** A script of the same name that runs something else: left alone, reported. */
export interface ScriptConflict {
  readonly name: string
  readonly command: string
  readonly wanted: string
}

/** What adding the scripts does to the file's text. */
export type ScriptsEdit =
  | {
    readonly _tag: "Edited"
    /** The new text (the same text when nothing was added). */
    readonly text: string
    readonly added: ReadonlyArray<string>
    readonly present: ReadonlyArray<string>
    readonly conflicts: ReadonlyArray<ScriptConflict>
    /** Whether the project lists dbkit among its dependencies (the scripts need it installed). */
    readonly dependsOnDbkit: boolean
  }
  | { readonly _tag: "Invalid"; readonly reason: string }

interface Member {
  readonly key: string
  readonly keyStart: number
  readonly keyEnd: number
  readonly valueStart: number
  readonly valueEnd: number
}

const skipSpace = (text: string, i: number) => {
  while (i < text.length && /\s/.test(text[i]!)) i++
  return i
}

const stringEnd = (text: string, i: number) => {
  let j = i + 1
  while (j < text.length && text[j] !== "\"") j += text[j] === "\\" ? 2 : 1
  return j + 1
}

const valueEnd = (text: string, i: number): number => {
  const c = text[i]
  if (c === "\"") return stringEnd(text, i)
  if (c === "{" || c === "[") {
    let depth = 0
    let j = i
    while (j < text.length) {
      const d = text[j]!
      if (d === "\"") {
        j = stringEnd(text, j)
        continue
      }
      if (d === "{" || d === "[") depth++
      else if ((d === "}" || d === "]") && --depth === 0) return j + 1
      j++
    }
    return text.length
  }
  let j = i
  while (j < text.length && !/[\s,}\]]/.test(text[j]!)) j++
  return j
}

/** The members of the object whose `{` is at `open` (the text is known to be valid JSON), and its closing `}`. */
const membersOf = (text: string, open: number): { members: Array<Member>; close: number } => {
  const members: Array<Member> = []
  let i = skipSpace(text, open + 1)
  while (text[i] !== "}") {
    const keyEnd = stringEnd(text, i)
    const valueStart = skipSpace(text, skipSpace(text, keyEnd) + 1)
    const end = valueEnd(text, valueStart)
    members.push({ key: JSON.parse(text.slice(i, keyEnd)) as string, keyStart: i, keyEnd, valueStart, valueEnd: end })
    i = skipSpace(text, end)
    if (text[i] === ",") i = skipSpace(text, i + 1)
  }
  return { members, close: i }
}

/** The whitespace that starts the line `position` is on. */
const lineIndent = (text: string, position: number) => {
  const start = text.lastIndexOf("\n", position - 1) + 1
  return /^[ \t]*/.exec(text.slice(start))![0]
}

/** One level of indentation: the first indented line's (a tab, or its spaces), else two spaces. */
export const indentUnit = (text: string): string => {
  const first = /^([ \t]+)\S/m.exec(text)?.[1]
  return first === undefined ? "  " : first.startsWith("\t") ? "\t" : first
}

const sameJson = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b)

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value)

/** Adds the `wanted` scripts missing from a package.json's text; keeps everything else as written. */
export const addScripts = (
  text: string,
  wanted: ReadonlyArray<readonly [string, string]> = effectScripts
): ScriptsEdit => {
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch (error) {
    return { _tag: "Invalid", reason: `is not valid JSON (${(error as Error).message})` }
  }
  if (!isRecord(parsed)) return { _tag: "Invalid", reason: "is not a JSON object" }
  const scripts = parsed.scripts === undefined ? {} : parsed.scripts
  if (!isRecord(scripts)) return { _tag: "Invalid", reason: "has a \"scripts\" field that is not an object" }
  const dependsOnDbkit = ["dependencies", "devDependencies", "optionalDependencies"].some((field) => {
    const deps = parsed[field]
    return isRecord(deps) && "dbkit" in deps
  })

  const added: Array<readonly [string, string]> = []
  const present: Array<string> = []
  const conflicts: Array<ScriptConflict> = []
  for (const [name, command] of wanted) {
    const current = scripts[name]
    if (current === undefined) added.push([name, command])
    else if (typeof current === "string" && current.trim() === command) present.push(name)
    else {conflicts.push({
        name,
        command: typeof current === "string" ? current : JSON.stringify(current),
        wanted: command
      })}
  }
  const result = (edited: string): ScriptsEdit => ({
    _tag: "Edited",
    text: edited,
    added: added.map(([name]) => name),
    present,
    conflicts,
    dependsOnDbkit
  })
  if (added.length === 0) return result(text)

  const eol = text.includes("\r\n") ? "\r\n" : "\n"
  const unit = indentUnit(text)
  const root = membersOf(text, skipSpace(text, 0))
  const scriptsMember = root.members.find((m) => m.key === "scripts")
  const entry = (separator: string) => ([name, command]: readonly [string, string]) =>
    `${JSON.stringify(name)}${separator}${JSON.stringify(command)}`

  // Inserts `entries` into the object spanning [open, close]: after its last member, or filling it
  // when empty. A one-line object stays on one line (minified stays minified).
  const insertInto = (
    open: number,
    members: ReadonlyArray<Member>,
    close: number,
    entries: (indent: string, multiline: boolean) => ReadonlyArray<string>,
    outer: string
  ) => {
    const last = members[members.length - 1]
    if (last === undefined) {
      const inner = outer + unit
      return `${text.slice(0, open)}{${eol}${
        entries(inner, true).map((e) => inner + e).join(`,${eol}`)
      }${eol}${outer}}${text.slice(close + 1)}`
    }
    const body = text.slice(open, close)
    const multiline = body.includes("\n")
    const indent = multiline ? lineIndent(text, members[0]!.keyStart) : ""
    const joiner = multiline ? `,${eol}${indent}` : /,[ \t]/.test(text) ? ", " : ","
    return `${text.slice(0, last.valueEnd)}${entries(indent, multiline).map((e) => joiner + e).join("")}${
      text.slice(last.valueEnd)
    }`
  }

  let edited: string
  if (scriptsMember !== undefined) {
    const { close, members } = membersOf(text, scriptsMember.valueStart)
    const first = members[0]
    const separator = first === undefined ? ": " : text.slice(first.keyEnd, first.valueStart)
    edited = insertInto(
      scriptsMember.valueStart,
      members,
      close,
      () => added.map(entry(separator)),
      lineIndent(text, scriptsMember.keyStart)
    )
  } else {
    const first = root.members[0]
    const separator = first === undefined ? ": " : text.slice(first.keyEnd, first.valueStart)
    const open = skipSpace(text, 0)
    edited = insertInto(open, root.members, root.close, (indent, multiline) => {
      const scriptsEntries = added.map(entry(separator))
      if (!multiline) return [`"scripts"${separator}{${scriptsEntries.join(/,[ \t]/.test(text) ? ", " : ",")}}`]
      const inner = indent + unit
      return [`"scripts"${separator}{${eol}${scriptsEntries.map((e) => inner + e).join(`,${eol}`)}${eol}${indent}}`]
    }, "")
  }

  // The edit must mean exactly: the same document, plus these scripts.
  const expected = { ...parsed, scripts: { ...scripts, ...Object.fromEntries(added) } }
  let reparsed: unknown
  try {
    reparsed = JSON.parse(edited)
  } catch {
    reparsed = undefined
  }
  if (!sameJson(reparsed, expected)) {
    return { _tag: "Invalid", reason: "could not be edited without changing other fields; add the scripts by hand" }
  }
  return result(edited)
}
