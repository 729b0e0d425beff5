/**
 * How the migration linters read SQL: each statement is masked first — comments removed, string
 * literals and dollar-quoted bodies blanked to `''`, quoted identifiers replaced by `"N"`
 * placeholders — so trigger words inside `COMMENT ... IS 'drop table'`, `DO $$ … $$` or
 * `"drop table"` never match; then names are resolved back (`"public"."users"`, `public.users`
 * and `users` are the same table, unqualified names taken to be in `public`).
 */
// ---------------------------------------------------------------------------------------------
// Masking
// ---------------------------------------------------------------------------------------------

/** A statement ready to match: `sql` is masked and whitespace-collapsed; `identifiers[N]` is `"N"`. */
export interface Masked {
  readonly sql: string
  readonly identifiers: ReadonlyArray<string>
  /** The statement with comments removed but literals kept, whitespace collapsed. */
  readonly plain: string
}

const isIdent = (c: string | undefined) => c !== undefined && /[A-Za-z0-9_$\u0080-\uffff]/.test(c)

/** End (exclusive) of a quoted run starting at `i`, where `quote` doubled is an escape. */
const quotedEnd = (sql: string, i: number, quote: string, backslashEscapes: boolean): number => {
  let j = i + 1
  while (j < sql.length) {
    if (backslashEscapes && sql[j] === "\\") j += 2
    else if (sql[j] === quote && sql[j + 1] === quote) j += 2
    else if (sql[j] === quote) return j + 1
    else j++
  }
  return sql.length
}

/** End (exclusive) of a block comment starting at `i`; block comments nest in PostgreSQL. */
const blockCommentEnd = (sql: string, i: number): number => {
  let depth = 0
  let j = i
  while (j < sql.length) {
    if (sql[j] === "/" && sql[j + 1] === "*") (depth++, j += 2)
    else if (sql[j] === "*" && sql[j + 1] === "/") {
      depth--
      j += 2
      if (depth === 0) return j
    } else j++
  }
  return sql.length
}

const collapse = (text: string) => text.replace(/\s+/g, " ").trim()

/** Masks comments, literals and quoted identifiers out of one statement. */
export const mask = (text: string): Masked => {
  const identifiers: Array<string> = []
  let sql = ""
  let plain = ""
  let i = 0
  while (i < text.length) {
    const c = text[i]!
    const next = text[i + 1]
    if (c === "-" && next === "-") {
      const eol = text.indexOf("\n", i)
      i = eol === -1 ? text.length : eol + 1
      sql += " "
      plain += " "
    } else if (c === "/" && next === "*") {
      i = blockCommentEnd(text, i)
      sql += " "
      plain += " "
    } else if (c === "'") {
      const escapes = /[eE]/.test(text[i - 1] ?? "") && !isIdent(text[i - 2])
      const end = quotedEnd(text, i, "'", escapes)
      sql += "''"
      plain += text.slice(i, end)
      i = end
    } else if (c === "\"") {
      const end = quotedEnd(text, i, "\"", false)
      identifiers.push(text.slice(i + 1, end - 1).replace(/""/g, "\""))
      sql += `"${identifiers.length - 1}"`
      plain += text.slice(i, end)
      i = end
    } else if (c === "$" && !isIdent(text[i - 1])) {
      const tag = /^\$(?:[A-Za-z_][A-Za-z0-9_]*)?\$/.exec(text.slice(i))?.[0]
      const close = tag === undefined ? -1 : text.indexOf(tag, i + tag.length)
      const end = tag === undefined ? i + 1 : close === -1 ? text.length : close + tag.length
      sql += tag === undefined ? c : "''"
      plain += text.slice(i, end)
      i = end
    } else {
      sql += c
      plain += c
      i++
    }
  }
  return { sql: collapse(sql).replace(/\s?;$/, ""), identifiers, plain: collapse(plain) }
}

/** The text with everything inside parentheses removed (`f(a, b)` → `f()`), to see the top level. */
export const topLevel = (sql: string): string => {
  let depth = 0
  let out = ""
  for (const c of sql) {
    if (c === ")") depth = Math.max(0, depth - 1)
    if (depth === 0) out += c
    if (c === "(") depth++
  }
  return out
}

/** Splits on commas outside parentheses (literals are already masked). */
export const splitTopLevel = (sql: string): Array<string> => {
  const parts: Array<string> = []
  let depth = 0
  let start = 0
  for (let i = 0; i < sql.length; i++) {
    const c = sql[i]
    if (c === "(") depth++
    else if (c === ")") depth = Math.max(0, depth - 1)
    else if (c === "," && depth === 0) {
      parts.push(sql.slice(start, i).trim())
      start = i + 1
    }
  }
  parts.push(sql.slice(start).trim())
  return parts.filter((p) => p.length > 0)
}

// ---------------------------------------------------------------------------------------------
// Names
// ---------------------------------------------------------------------------------------------

/** One identifier, quoted placeholder or bare. */
export const PART = String.raw`(?:"\d+"|[A-Za-z_][\w$]*)`
/** A possibly qualified name (`t`, `s.t`, `db.s.t`). */
export const NAME = String.raw`${PART}(?:\s?\.\s?${PART}){0,2}`

/** Resolves one identifier: a placeholder to its exact text, a bare word folded to lower case. */
export const identifier = (part: string, masked: Masked): string => {
  const placeholder = /^"(\d+)"$/.exec(part)
  return placeholder ? masked.identifiers[Number(placeholder[1])] ?? "" : part.toLowerCase()
}

/** A table's key, `schema.table`, with unqualified names in `public`. */
export const tableKey = (name: string, masked: Masked): string => {
  const parts = name.split(/\s?\.\s?/).map((p) => identifier(p.trim(), masked))
  const table = parts[parts.length - 1] ?? ""
  const schema = parts.length > 1 ? parts[parts.length - 2] ?? "public" : "public"
  return `${schema}.${table}`
}

/** Normalises a table name given by a caller (`"public"."users"`, `users`, …) to its key. */
export const normaliseTableName = (name: string): string => {
  const masked = mask(name)
  return tableKey(masked.sql, masked)
}

/** The table keys of a comma-separated list such as `ONLY a, b *` before CASCADE/RESTRICT. */
export const tableList = (list: string, masked: Masked): Array<string> =>
  splitTopLevel(list.replace(/\s(?:CASCADE|RESTRICT|RESTART IDENTITY|CONTINUE IDENTITY)\b.*$/i, ""))
    .map((item) => item.replace(/^ONLY\s/i, "").replace(/\s?\*$/, "").trim())
    .filter((item) => new RegExp(`^${NAME}$`).test(item))
    .map((item) => tableKey(item, masked))
