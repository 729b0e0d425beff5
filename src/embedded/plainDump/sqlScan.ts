/**
 * The SQL half of DumpSplitter's lexer, by psql's rules: where a statement ends (a `;` outside
 * comments, strings, quoted identifiers, dollar-quoted bodies, parentheses and `BEGIN ATOMIC`
 * bodies), and psql meta-commands. It reads and moves on the splitter's state (`SqlScanState`).
 */
import type { DumpItem } from "./items.js"

export const enum Lex {
  Code,
  LineComment,
  BlockComment,
  Quoted, // '…' ('' escapes; backslash escapes too when standard_conforming_strings is off)
  EscapeQuoted, // E'…'
  QuotedIdentifier, // "…"
  DollarQuoted // $tag$…$tag$
}

const isSpace = (c: number) => c === 32 || (c >= 9 && c <= 13)
const isDigit = (c: number) => c >= 48 && c <= 57
// psql treats every byte >= 0x80 as a letter; in a JS string that is every non-ASCII code unit.
const isIdentStart = (c: number) => (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || c === 95 || c >= 128
const isDollarTagPart = (c: number) => isIdentStart(c) || isDigit(c)
const isIdentPart = (c: number) => isDollarTagPart(c) || c === 36

const countNewlines = (text: string, from: number, to: number): number => {
  let count = 0
  for (let at = text.indexOf("\n", from); at !== -1 && at < to; at = text.indexOf("\n", at + 1)) count++
  return count
}

/** The part of DumpSplitter's state that scanning SQL reads and moves on. */
export interface SqlScanState {
  text: string
  at: number
  line: number
  lex: Lex
  commentDepth: number
  dollarDelimiter: string
  readonly standardStrings: boolean
  start: number
  startLine: number
  parenDepth: number
  readonly beginDepth: number
  readonly mode: "sql" | "copy"
  readonly items: Array<DumpItem>
  /** Notes a word of the statement (for `BEGIN ATOMIC` bodies). */
  noteIdentifier(word: string): void
  /** Ends the statement at `end` and emits it. */
  emitStatement(end: number): void
}

/** Reads SQL until the text runs out (true) or a token needs more text to decide (false). */
export const scanSql = (s: SqlScanState, eof: boolean): boolean => {
  const text = s.text
  const n = text.length
  let i = s.at
  // A lookahead past the end: undecided until more text comes, or "no" at the end of the file.
  const pending = (index: number) => index >= n && !eof
  const done = (progress: boolean) => {
    s.at = i
    return progress
  }
  while (i < n) {
    const c = text.charCodeAt(i)
    switch (s.lex) {
      case Lex.LineComment: {
        const newline = text.indexOf("\n", i)
        if (newline === -1) {
          i = n
          continue
        }
        s.line++
        i = newline + 1
        s.lex = Lex.Code
        continue
      }
      case Lex.BlockComment: {
        if (c === 42 /* * */ || c === 47 /* / */) {
          if (pending(i + 1)) return done(false)
          const next = text.charCodeAt(i + 1)
          if (c === 42 && next === 47) {
            i += 2
            if (--s.commentDepth === 0) s.lex = Lex.Code
            continue
          }
          if (c === 47 && next === 42) {
            i += 2
            s.commentDepth++
            continue
          }
        }
        if (c === 10) s.line++
        i++
        continue
      }
      case Lex.Quoted:
      case Lex.EscapeQuoted:
      case Lex.QuotedIdentifier: {
        const quote = s.lex === Lex.QuotedIdentifier ? 34 : 39
        const backslashes = s.lex === Lex.EscapeQuoted || (s.lex === Lex.Quoted && !s.standardStrings)
        if (backslashes && c === 92) {
          if (pending(i + 1)) return done(false)
          if (text.charCodeAt(i + 1) === 10) s.line++
          i += 2
          continue
        }
        if (c === quote) {
          if (pending(i + 1)) return done(false)
          if (text.charCodeAt(i + 1) === quote) i += 2 // a doubled quote stays inside
          else {
            i++
            s.lex = Lex.Code
          }
          continue
        }
        if (c === 10) s.line++
        i++
        continue
      }
      case Lex.DollarQuoted: {
        const delimiter = s.dollarDelimiter
        const close = text.indexOf(delimiter, i)
        if (close === -1) {
          // The last few characters may be the start of the delimiter: keep them undecided.
          const safe = eof ? n : Math.max(i, n - delimiter.length + 1)
          s.line += countNewlines(text, i, safe)
          i = safe
          return done(eof)
        }
        s.line += countNewlines(text, i, close)
        i = close + delimiter.length
        s.lex = Lex.Code
        continue
      }
      case Lex.Code:
        break
    }

    // Code: between tokens.
    if (c === 10) {
      s.line++
      i++
      continue
    }
    if (isSpace(c)) {
      i++
      continue
    }
    if (c === 45 /* - */ || c === 47 /* / */) {
      if (pending(i + 1)) return done(false)
      const next = text.charCodeAt(i + 1)
      if (c === 45 && next === 45) {
        s.lex = Lex.LineComment
        i += 2
        continue
      }
      if (c === 47 && next === 42) {
        s.lex = Lex.BlockComment
        s.commentDepth = 1
        i += 2
        continue
      }
    }
    if (c === 92 /* \ */) {
      // A psql meta-command: the rest of the line. psql takes one anywhere outside quotes and
      // comments, in the middle of a statement too (`SELECT 1 \g |cmd`): SQL has no backslash.
      const newline = text.indexOf("\n", i)
      if (newline === -1 && !eof) return done(false)
      const end = newline === -1 ? n : newline
      const [, command = "", argument = ""] = /^(\\\S*)\s*(.*?)\s*$/s.exec(text.slice(i, end)) ?? []
      s.items.push({ _tag: "MetaCommand", command, argument, line: s.line, inStatement: s.start !== -1 })
      i = end
      continue
    }
    if (c === 59 /* ; */) {
      if (s.start === -1) {
        i++ // an empty statement
        continue
      }
      if (s.parenDepth === 0 && s.beginDepth === 0) {
        i++
        s.emitStatement(i)
        if (s.mode === "copy") return done(true)
        continue
      }
      i++
      continue
    }
    if (s.start === -1) {
      s.start = i
      s.startLine = s.line
    }
    if (isIdentStart(c)) {
      let end = i + 1
      while (end < n && isIdentPart(text.charCodeAt(end))) end++
      if (pending(end)) return done(false)
      if (end === i + 1 && (c === 69 || c === 101) && text.charCodeAt(end) === 39) {
        s.lex = Lex.EscapeQuoted // E'…'
        i = end + 1
        continue
      }
      s.noteIdentifier(text.slice(i, end))
      i = end
      continue
    }
    if (isDigit(c)) {
      // A number is one token: "1e5" holds no identifier "e5".
      let end = i + 1
      while (end < n && (isIdentPart(text.charCodeAt(end)) || text.charCodeAt(end) === 46)) end++
      if (pending(end)) return done(false)
      i = end
      continue
    }
    switch (c) {
      case 39:
        s.lex = Lex.Quoted
        break
      case 34:
        s.lex = Lex.QuotedIdentifier
        break
      case 40:
        s.parenDepth++
        break
      case 41:
        if (s.parenDepth > 0) s.parenDepth--
        break
      case 36: {
        // $$ or $tag$ opens a dollar-quoted body; $1 (a parameter) or a lone $ does not.
        let end = i + 1
        if (pending(end)) return done(false)
        if (isIdentStart(text.charCodeAt(end))) {
          while (end < n && isDollarTagPart(text.charCodeAt(end))) end++
          if (pending(end)) return done(false)
        }
        if (end < n && text.charCodeAt(end) === 36) {
          s.dollarDelimiter = text.slice(i, end + 1)
          s.lex = Lex.DollarQuoted
          i = end + 1
          continue
        }
        break
      }
    }
    i++
  }
  return done(true)
}
