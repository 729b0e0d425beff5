/**
 * Pure SQL text helpers for migrations: splitting a file into statements (so errors name the
 * statement and non-transactional statements can be sent alone), detecting statements that
 * cannot run inside a transaction, and the content checksum.
 */
import { createHash } from "node:crypto"

/** One statement of a migration file, with where it starts in the file (0-based). */
export interface SqlStatement {
  readonly text: string
  readonly offset: number
  /** The 1-based line of its first keyword (after any leading comments). */
  readonly line: number
}

// By UTF-16 code unit, as the loop below reads the text: [A-Za-z_\u0080-\uffff] starts an
// identifier, which goes on with digits and `$` too. (Code, not a regular expression per
// character: splitting is most of what reading a migrations folder costs.)
const isIdentStartCode = (c: number) => (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || c === 95 || c >= 0x80
const isIdentCode = (c: number) => isIdentStartCode(c) || (c >= 48 && c <= 57) || c === 36
const isIdent = (c: string) => isIdentCode(c.charCodeAt(0))
const dollarTag = /\$([A-Za-z_][A-Za-z0-9_]*)?\$/y
const atomicAfterBegin = /\s+ATOMIC\b/iy

/** Strips comments and whitespace to see whether a chunk holds any SQL at all. */
const hasSql = (text: string): boolean => stripComments(text).trim().length > 0

/**
 * Splits SQL text on top-level semicolons, respecting quotes ('', E'', ""), dollar quotes,
 * line and (nested) block comments, and SQL-standard `BEGIN ATOMIC … END` function bodies.
 */
export const splitStatements = (sql: string): Array<SqlStatement> => {
  const statements: Array<SqlStatement> = []
  let start = 0
  let i = 0
  let atomicDepth = 0
  const n = sql.length
  // Lines are counted forward only: statements come in order.
  let counted = 0
  let line = 1
  const lineAt = (position: number) => {
    for (; counted < position; counted++) if (sql[counted] === "\n") line++
    return line
  }
  const push = (end: number) => {
    const text = sql.slice(start, end)
    if (hasSql(text)) {
      const lead = text.length - text.trimStart().length
      const trimmed = text.trim()
      statements.push({ text: trimmed, offset: start + lead, line: lineAt(start + lead + sqlStart(trimmed)) })
    }
  }
  while (i < n) {
    const c = sql[i]!
    const next = sql[i + 1]
    if (c === "-" && next === "-") {
      const eol = sql.indexOf("\n", i)
      i = eol === -1 ? n : eol + 1
    } else if (c === "/" && next === "*") {
      let depth = 1
      i += 2
      while (i < n && depth > 0) {
        if (sql[i] === "/" && sql[i + 1] === "*") (depth++, i += 2)
        else if (sql[i] === "*" && sql[i + 1] === "/") (depth--, i += 2)
        else i++
      }
    } else if (c === "'") {
      const escapes = i > 0 && /[eE]/.test(sql[i - 1]!) && (i < 2 || !isIdent(sql[i - 2]!))
      i++
      while (i < n) {
        if (escapes && sql[i] === "\\") i += 2
        else if (sql[i] === "'" && sql[i + 1] === "'") i += 2
        else if (sql[i] === "'") break
        else i++
      }
      i++
    } else if (c === "\"") {
      i++
      while (i < n) {
        if (sql[i] === "\"" && sql[i + 1] === "\"") i += 2
        else if (sql[i] === "\"") break
        else i++
      }
      i++
    } else if (c === "$" && (i === 0 || !isIdent(sql[i - 1]!))) {
      dollarTag.lastIndex = i
      const match = dollarTag.exec(sql)
      if (match) {
        const tag = match[0]
        const close = sql.indexOf(tag, i + tag.length)
        i = close === -1 ? n : close + tag.length
      } else {
        i++
      }
    } else if (isIdentStartCode(sql.charCodeAt(i)) && (i === 0 || !isIdentCode(sql.charCodeAt(i - 1)))) {
      let j = i
      while (j < n && isIdentCode(sql.charCodeAt(j))) j++
      // Only BEGIN, CASE and END matter here.
      const word = j - i <= 5 ? sql.slice(i, j).toUpperCase() : ""
      if (word === "BEGIN" && ((atomicAfterBegin.lastIndex = j), atomicAfterBegin.test(sql))) atomicDepth++
      else if (atomicDepth > 0 && word === "CASE") atomicDepth++
      else if (atomicDepth > 0 && word === "END") atomicDepth--
      i = j
    } else if (c === ";" && atomicDepth === 0) {
      push(i)
      start = i + 1
      i++
    } else {
      i++
    }
  }
  push(n)
  return statements
}

/** The text without comments (string contents are kept as they are). */
export const stripComments = (sql: string): string => sql.replace(/\/\*[\s\S]*?\*\//g, " ").replace(/--[^\n]*/g, " ")

const noTransactionPatterns: ReadonlyArray<RegExp> = [
  /^(CREATE|DROP)\s+(UNIQUE\s+)?INDEX\s+CONCURRENTLY\b/i,
  /^REINDEX\b[\s\S]*\bCONCURRENTLY\b/i,
  /^VACUUM\b/i,
  /^(CREATE|DROP)\s+DATABASE\b/i,
  /^(CREATE|DROP)\s+TABLESPACE\b/i,
  /^ALTER\s+SYSTEM\b/i,
  /^ALTER\s+TABLE\b[\s\S]*\bDETACH\s+PARTITION\b[\s\S]*\bCONCURRENTLY\b/i
]

/** Whether PostgreSQL refuses to run this statement inside a transaction block. */
export const cannotRunInTransaction = (statement: string): boolean => {
  const text = stripComments(statement).trim()
  return noTransactionPatterns.some((pattern) => pattern.test(text))
}

/**
 * Statements that begin, end or abandon a transaction. `ROLLBACK TO [SAVEPOINT]` stays inside
 * the transaction and is not one; `BEGIN ATOMIC` never starts a statement (it is a function body).
 */
const transactionControlPattern =
  /^(BEGIN|START\s+TRANSACTION|COMMIT|END|ROLLBACK|ABORT|PREPARE\s+TRANSACTION)\b(?!\s+(?:(?:WORK|TRANSACTION)\s+)?TO\b)/i

/**
 * The keyword when a statement controls the transaction (`BEGIN`, `COMMIT`, `START TRANSACTION`,
 * `END`, `ROLLBACK`, `ABORT`, `PREPARE TRANSACTION`), upper-cased; undefined otherwise.
 */
export const transactionControl = (statement: string): string | undefined => {
  const match = transactionControlPattern.exec(statement.slice(sqlStart(statement)))
  return match === null ? undefined : match[1]!.toUpperCase().replace(/\s+/g, " ")
}

/** Where the SQL of a statement starts, after leading whitespace and (nested) comments. */
export const sqlStart = (statement: string): number => {
  let i = 0
  while (i < statement.length) {
    if (/\s/.test(statement[i]!)) i++
    else if (statement.startsWith("--", i)) {
      const eol = statement.indexOf("\n", i)
      i = eol === -1 ? statement.length : eol + 1
    } else if (statement.startsWith("/*", i)) {
      let depth = 0
      do {
        if (statement.startsWith("/*", i)) (depth++, i += 2)
        else if (statement.startsWith("*/", i)) (depth--, i += 2)
        else i++
      } while (depth > 0 && i < statement.length)
    } else break
  }
  return i
}

/** The marker a migration file uses to opt out of its transaction. */
export const NO_TRANSACTION_MARKER = /^\s*--\s*dbkit:no-transaction\b/m

/** sha256 of the content with line endings normalised, so a CRLF checkout is not "drift". */
export const checksum = (content: string): string =>
  createHash("sha256").update(content.replace(/\r\n?/g, "\n")).digest("hex")
