/**
 * Loads a plain-format pg_dump script into PGlite, as `psql -1 -v ON_ERROR_STOP=1 -f -` does on a
 * server: the embedded database has no psql, so this module is its lexer and its runner.
 *
 * The script is read chunk by chunk and never held whole: `DumpSplitter` (pure, synchronous)
 * cuts it into statements by psql's lexer rules, and `COPY … FROM stdin` data into row batches,
 * each sent as a `COPY … FROM '/dev/blob'` (PGlite takes COPY data as a Blob). Everything runs in
 * one transaction — its own, or one the caller opened to do more in it (replace what was there,
 * check the result) — and a failure rolls it all back, naming the line of the statement that failed.
 */
import type { PGlite } from "@electric-sql/pglite"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import { isUtf8 } from "node:buffer"
import { type BackupUntrusted, bracketsLargeObjects, refusedItem, skippableSetting } from "../DumpPolicy.js"
import { quoteIdent } from "../Identifier.js"

// ---------------------------------------------------------------------------------------------
// Splitting
// ---------------------------------------------------------------------------------------------

/** One thing the script says to do, in order; `line` is 1-based, where the item starts. */
export type DumpItem =
  | { readonly _tag: "Statement"; readonly sql: string; readonly line: number }
  /**
   * `COPY <table> [(columns)] FROM stdin [options]`: `CopyData` items follow, then `CopyEnd`.
   * `sql` is the statement as the script wrote it; `columns` the parenthesised list or "", and
   * `options` what follows `FROM stdin` (pg_dump writes nothing there).
   */
  | {
    readonly _tag: "CopyStart"
    readonly sql: string
    readonly table: string
    readonly columns: string
    readonly options: string
    readonly line: number
  }
  /**
   * Complete data lines (each ending in "\n"), `rows` of them, the first on `line`: text from
   * DumpSplitter, the script's own bytes from DumpReader.
   */
  | { readonly _tag: "CopyData"; readonly data: string | Buffer; readonly rows: number; readonly line: number }
  | { readonly _tag: "CopyEnd"; readonly line: number }
  /** A psql backslash command; `inStatement` when it came in the middle of a statement's text. */
  | {
    readonly _tag: "MetaCommand"
    readonly command: string
    readonly argument: string
    readonly line: number
    readonly inStatement: boolean
  }
  /** Something no psql run could accept as it is (a truncated COPY, say). */
  | { readonly _tag: "Malformed"; readonly text: string; readonly reason: string; readonly line: number }

const enum Lex {
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

const name = String.raw`(?:"(?:[^"]|"")*"|[^\s(".;]+)`
const copyFromStdin = new RegExp(
  String.raw`^COPY\s+(${name}(?:\.${name})*)\s*(\((?:"(?:[^"]|"")*"|[^)"])*\))?\s+FROM\s+STDIN\b([\s\S]*?);?\s*$`,
  "i"
)
const standardStringsSetting =
  /^SET\s+(?:SESSION\s+|LOCAL\s+)?standard_conforming_strings\s*(?:=|TO)\s*'?(\w+)'?\s*;?\s*$/i

/**
 * Cuts a plain SQL script into `DumpItem`s by psql's lexer rules: statements end at a `;`
 * outside comments (`--`, nested `/* *\/`), strings ('…', E'…'), quoted identifiers,
 * dollar-quoted bodies, parentheses and `CREATE FUNCTION … BEGIN ATOMIC … END` bodies. Text may
 * be pushed in pieces cut anywhere; the items are the same however it is cut.
 */
export class DumpSplitter {
  /** The line the splitter has reached (1-based). */
  line = 1
  /**
   * With `copyData: "external"` the splitter stops where a COPY's data begins (`awaitingCopyData`):
   * the caller reads the data itself (DumpReader does, as bytes), takes the unread text with
   * `takeRest` and hands back with `endCopy` after the `\.` line.
   */
  constructor(private readonly options: { readonly copyData?: "items" | "external" } = {}) {}
  private text = ""
  private at = 0
  private mode: "sql" | "copy" = "sql"
  private lex = Lex.Code
  private commentDepth = 0
  private dollarDelimiter = ""
  private standardStrings = true
  // The statement being read: its start in `text` (or -1), its line, and earlier pieces of it.
  private start = -1
  private startLine = 0
  private pieces: Array<string> = []
  // psql's heuristics for `;` inside a statement.
  private parenDepth = 0
  private beginDepth = 0
  private leadingWords = ""
  // COPY data: whether the COPY statement's own line is still being read, and a partial row.
  private copyLineRest = false
  private partialRow = ""
  private items: Array<DumpItem> = []

  /** The items completed by this text. */
  push(text: string): Array<DumpItem> {
    this.text = this.text.slice(this.at) + text
    this.at = 0
    if (this.start > 0) this.start = 0
    this.scan(false)
    return this.take()
  }

  /** The items left at the end of the script. */
  end(): Array<DumpItem> {
    this.scan(true)
    // psql sends what is left at the end of the file, terminated or not; so do we.
    if (this.mode === "sql" && this.start >= 0) this.emitStatement(this.text.length)
    if (this.mode === "copy") {
      const rest = this.partialRow.replace(/\r$/, "")
      if (rest === "\\.") {
        this.items.push({ _tag: "CopyEnd", line: this.line })
      } else {
        this.items.push({
          _tag: "Malformed",
          text: "",
          reason: "the script ends inside COPY data (no \\. line): it is truncated",
          line: this.line
        })
      }
      this.mode = "sql"
    }
    this.text = ""
    this.at = 0
    return this.take()
  }

  private take() {
    const items = this.items
    this.items = []
    return items
  }

  /** Stopped at the start of a COPY's data (see the constructor). */
  get awaitingCopyData(): boolean {
    return this.options.copyData === "external" && this.mode === "copy" && !this.copyLineRest
  }

  /** The text pushed but not read (stopped at a COPY's data); the splitter holds nothing after. */
  takeRest(): string {
    const rest = this.text.slice(this.at)
    this.text = ""
    this.at = 0
    return rest
  }

  /** The COPY's data was read by the caller up to its `\.` line; SQL resumes on `line`. */
  endCopy(line: number) {
    this.mode = "sql"
    this.line = line
  }

  private scan(eof: boolean) {
    while (this.at < this.text.length) {
      if (this.awaitingCopyData) break
      const progressed = this.mode === "sql" ? this.scanSql(eof) : this.scanCopy(eof)
      if (!progressed) break
    }
    // Keep the statement read so far as a piece, so the next push re-reads only the undecided tail.
    if (this.mode === "sql" && this.start >= 0 && this.at > this.start) {
      this.pieces.push(this.text.slice(this.start, this.at))
      this.start = this.at
    }
  }

  /** Reads SQL until the text runs out (true) or a token needs more text to decide (false). */
  private scanSql(eof: boolean): boolean {
    const text = this.text
    const n = text.length
    let i = this.at
    // A lookahead past the end: undecided until more text comes, or "no" at the end of the file.
    const pending = (index: number) => index >= n && !eof
    const done = (progress: boolean) => {
      this.at = i
      return progress
    }
    while (i < n) {
      const c = text.charCodeAt(i)
      switch (this.lex) {
        case Lex.LineComment: {
          const newline = text.indexOf("\n", i)
          if (newline === -1) {
            i = n
            continue
          }
          this.line++
          i = newline + 1
          this.lex = Lex.Code
          continue
        }
        case Lex.BlockComment: {
          if (c === 42 /* * */ || c === 47 /* / */) {
            if (pending(i + 1)) return done(false)
            const next = text.charCodeAt(i + 1)
            if (c === 42 && next === 47) {
              i += 2
              if (--this.commentDepth === 0) this.lex = Lex.Code
              continue
            }
            if (c === 47 && next === 42) {
              i += 2
              this.commentDepth++
              continue
            }
          }
          if (c === 10) this.line++
          i++
          continue
        }
        case Lex.Quoted:
        case Lex.EscapeQuoted:
        case Lex.QuotedIdentifier: {
          const quote = this.lex === Lex.QuotedIdentifier ? 34 : 39
          const backslashes = this.lex === Lex.EscapeQuoted || (this.lex === Lex.Quoted && !this.standardStrings)
          if (backslashes && c === 92) {
            if (pending(i + 1)) return done(false)
            if (text.charCodeAt(i + 1) === 10) this.line++
            i += 2
            continue
          }
          if (c === quote) {
            if (pending(i + 1)) return done(false)
            if (text.charCodeAt(i + 1) === quote) i += 2 // a doubled quote stays inside
            else {
              i++
              this.lex = Lex.Code
            }
            continue
          }
          if (c === 10) this.line++
          i++
          continue
        }
        case Lex.DollarQuoted: {
          const delimiter = this.dollarDelimiter
          const close = text.indexOf(delimiter, i)
          if (close === -1) {
            // The last few characters may be the start of the delimiter: keep them undecided.
            const safe = eof ? n : Math.max(i, n - delimiter.length + 1)
            this.line += countNewlines(text, i, safe)
            i = safe
            return done(eof)
          }
          this.line += countNewlines(text, i, close)
          i = close + delimiter.length
          this.lex = Lex.Code
          continue
        }
        case Lex.Code:
          break
      }

      // Code: between tokens.
      if (c === 10) {
        this.line++
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
          this.lex = Lex.LineComment
          i += 2
          continue
        }
        if (c === 47 && next === 42) {
          this.lex = Lex.BlockComment
          this.commentDepth = 1
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
        this.items.push({ _tag: "MetaCommand", command, argument, line: this.line, inStatement: this.start !== -1 })
        i = end
        continue
      }
      if (c === 59 /* ; */) {
        if (this.start === -1) {
          i++ // an empty statement
          continue
        }
        if (this.parenDepth === 0 && this.beginDepth === 0) {
          i++
          this.emitStatement(i)
          if (this.mode === "copy") return done(true)
          continue
        }
        i++
        continue
      }
      if (this.start === -1) {
        this.start = i
        this.startLine = this.line
      }
      if (isIdentStart(c)) {
        let end = i + 1
        while (end < n && isIdentPart(text.charCodeAt(end))) end++
        if (pending(end)) return done(false)
        if (end === i + 1 && (c === 69 || c === 101) && text.charCodeAt(end) === 39) {
          this.lex = Lex.EscapeQuoted // E'…'
          i = end + 1
          continue
        }
        this.noteIdentifier(text.slice(i, end))
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
          this.lex = Lex.Quoted
          break
        case 34:
          this.lex = Lex.QuotedIdentifier
          break
        case 40:
          this.parenDepth++
          break
        case 41:
          if (this.parenDepth > 0) this.parenDepth--
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
            this.dollarDelimiter = text.slice(i, end + 1)
            this.lex = Lex.DollarQuoted
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

  /**
   * psql's heuristic for SQL-standard function bodies: in `CREATE [OR REPLACE] FUNCTION|PROCEDURE`,
   * BEGIN (and CASE inside it) opens a block that END closes, and `;` inside it ends nothing.
   */
  private noteIdentifier(word: string) {
    const lower = word.toLowerCase()
    if (this.leadingWords.length < 4) {
      const marks = lower === "create" || lower === "function" || lower === "procedure" || lower === "or" ||
        lower === "replace"
      this.leadingWords += marks ? lower[0] : " "
    }
    const lead = this.leadingWords
    const routine = lead[0] === "c" &&
      (lead[1] === "f" || lead[1] === "p" || (lead.startsWith("cor") && (lead[3] === "f" || lead[3] === "p")))
    if (!routine || this.parenDepth !== 0) return
    if (lower === "begin") this.beginDepth++
    else if (lower === "case" && this.beginDepth >= 1) this.beginDepth++
    else if (lower === "end" && this.beginDepth > 0) this.beginDepth--
  }

  private emitStatement(end: number) {
    this.pieces.push(this.text.slice(this.start, end))
    const sql = this.pieces.join("")
    const line = this.startLine
    this.pieces = []
    this.start = -1
    this.parenDepth = 0
    this.beginDepth = 0
    this.leadingWords = ""
    const copy = copyFromStdin.exec(sql)
    if (copy) {
      const [, table = "", columns = "", options = ""] = copy
      this.items.push({ _tag: "CopyStart", sql, table, columns, options, line })
      this.mode = "copy"
      this.copyLineRest = true
      return
    }
    const setting = standardStringsSetting.exec(sql)
    if (setting) this.standardStrings = !/^(off|false|no|0)$/i.test(setting[1]!)
    this.items.push({ _tag: "Statement", sql, line })
  }

  /** Reads COPY data lines up to the `\.` line. */
  private scanCopy(eof: boolean): boolean {
    const text = this.text
    const n = text.length
    let i = this.at
    if (this.copyLineRest) {
      // Data starts on the line after the COPY statement; the rest of its line must be blank.
      const newline = text.indexOf("\n", i)
      const rest = text.slice(i, newline === -1 ? n : newline)
      if (rest.trim() !== "") {
        this.items.push({
          _tag: "Malformed",
          text: rest,
          reason: "text after COPY … FROM stdin on the same line",
          line: this.line
        })
      }
      if (newline === -1) {
        this.at = n
        return !eof
      }
      this.line++
      this.copyLineRest = false
      i = newline + 1
      if (this.options.copyData === "external") {
        this.at = i
        return true
      }
    }
    let first = ""
    const firstLine = this.line
    let rows = 0
    let regionStart = i
    const emit = (regionEnd: number) => {
      if (rows > 0) {
        this.items.push({ _tag: "CopyData", data: first + text.slice(regionStart, regionEnd), rows, line: firstLine })
      }
    }
    while (i < n) {
      const newline = text.indexOf("\n", i)
      if (newline === -1) {
        emit(i)
        this.partialRow += text.slice(i)
        this.at = n
        return true
      }
      let row: string | undefined
      if (this.partialRow !== "") row = this.partialRow + text.slice(i, newline)
      const length = row === undefined ? newline - i : row.length
      const isEnd = length <= 3 && (row ?? text.slice(i, newline)).replace(/\r$/, "") === "\\."
      if (isEnd) {
        emit(i)
        this.items.push({ _tag: "CopyEnd", line: this.line })
        this.partialRow = ""
        this.line++
        this.at = newline + 1
        this.mode = "sql"
        return true
      }
      if (row !== undefined) {
        // The partial row from the last push is this region's first row.
        first = row + "\n"
        this.partialRow = ""
        regionStart = newline + 1
      }
      rows++
      this.line++
      i = newline + 1
    }
    emit(i)
    this.at = n
    return true
  }
}

/**
 * A script read as bytes: SQL through DumpSplitter (as latin1 text, one character per byte — the
 * lexer needs only ASCII), COPY data scanned as bytes and passed on as the script's own bytes,
 * never decoded (the bulk of a dump goes by with one native `indexOf` per row). Statements'
 * text stays latin1 here; `asText` decodes it as UTF-8.
 */
export class DumpReader {
  private readonly splitter = new DumpSplitter({ copyData: "external" })
  private copying = false
  private line = 1
  // In COPY data: the start of a row the last chunk cut off.
  private carry: Buffer | undefined

  /** The line reached (1-based). */
  get lineReached(): number {
    return this.copying ? this.line : this.splitter.line
  }

  push(chunk: Buffer): Array<DumpItem> {
    const items: Array<DumpItem> = []
    let bytes = chunk
    while (bytes.length > 0) {
      if (!this.copying) {
        items.push(...this.splitter.push(bytes.toString("latin1")))
        if (!this.splitter.awaitingCopyData) break
        this.copying = true
        this.line = this.splitter.line
        bytes = Buffer.from(this.splitter.takeRest(), "latin1")
        continue
      }
      const consumed = this.copyData(bytes, items)
      if (consumed === undefined) break
      bytes = bytes.subarray(consumed)
    }
    return items
  }

  end(): Array<DumpItem> {
    if (!this.copying) return this.splitter.end()
    const rest = this.carry?.toString("latin1").replace(/\r$/, "")
    this.carry = undefined
    this.copying = false
    if (rest === "\\.") return [{ _tag: "CopyEnd", line: this.line }]
    return [{
      _tag: "Malformed",
      text: "",
      reason: "the script ends inside COPY data (no \\. line): it is truncated",
      line: this.line
    }]
  }

  /**
   * Reads COPY data rows from `chunk`: complete rows become one CopyData item; at the `\.` line a
   * CopyEnd follows and the bytes consumed are returned (SQL resumes after them); otherwise the
   * cut-off row is kept and undefined returned.
   */
  private copyData(chunk: Buffer, items: Array<DumpItem>): number | undefined {
    let at = 0
    if (this.carry !== undefined) {
      // The row the last chunk cut off: completed from this one's first line (copied, but only it).
      const newline = chunk.indexOf(10)
      if (newline === -1) {
        this.carry = Buffer.concat([this.carry, chunk])
        return undefined
      }
      const row = Buffer.concat([this.carry, chunk.subarray(0, newline + 1)])
      this.carry = undefined
      at = newline + 1
      if (isCopyEnd(row, 0, row.length - 1)) return this.endOfData(items, 0, at)
      items.push({ _tag: "CopyData", data: row, rows: 1, line: this.line })
      this.line++
    }
    const start = at
    let rows = 0
    for (;;) {
      const newline = chunk.indexOf(10, at)
      if (newline === -1) break
      if (isCopyEnd(chunk, at, newline)) {
        if (rows > 0) items.push({ _tag: "CopyData", data: chunk.subarray(start, at), rows, line: this.line })
        this.line += rows
        return this.endOfData(items, 0, newline + 1)
      }
      rows++
      at = newline + 1
    }
    if (rows > 0) items.push({ _tag: "CopyData", data: chunk.subarray(start, at), rows, line: this.line })
    this.line += rows
    if (at < chunk.length) this.carry = Buffer.from(chunk.subarray(at))
    return undefined
  }

  /** The `\.` line on this.line: CopyEnd, SQL resumes after it; returns the bytes consumed. */
  private endOfData(items: Array<DumpItem>, _from: number, consumed: number): number {
    items.push({ _tag: "CopyEnd", line: this.line })
    this.line++
    this.copying = false
    this.splitter.endCopy(this.line)
    return consumed
  }
}

/** Whether `bytes[from, newline)` is COPY's end-of-data line: `\.`, or `\.` and a carriage return. */
const isCopyEnd = (bytes: Buffer, from: number, newline: number): boolean => {
  const length = newline - from
  return (length === 2 || (length === 3 && bytes[from + 2] === 13)) && bytes[from] === 92 && bytes[from + 1] === 46
}

// ---------------------------------------------------------------------------------------------
// Loading
// ---------------------------------------------------------------------------------------------

/** What a load did: statements run (COPY included), rows per COPY, bytes read. */
export interface PlainDumpResult {
  readonly statements: number
  /** `ALTER … OWNER TO …` statements left out by `skipOwnership`, and settings the server lacks. */
  readonly skipped: number
  readonly copies: ReadonlyArray<{ readonly table: string; readonly rows: number }>
  readonly bytes: number
  /** Roles made by `createMissingRoles`. */
  readonly rolesCreated: ReadonlyArray<string>
  /** Settings a newer pg_dump wrote that this server does not have, left out (harmless ones only). */
  readonly skippedSettings: ReadonlyArray<string>
}

export interface PlainDumpOptions {
  /** Leave out `ALTER … OWNER TO …` (as pg_restore --no-owner): the roles of a server dump. */
  readonly skipOwnership?: boolean | undefined
  /**
   * Create the roles that GRANT and POLICY statements grant to, when missing, as NOLOGIN roles
   * without privileges (pg_dump never dumps roles; PGlite starts with `postgres` only). They are
   * created in the load's transaction, so a failed load leaves none behind.
   */
  readonly createMissingRoles?: boolean | undefined
  /**
   * `"own"` (default): BEGIN, COMMIT, ROLLBACK on failure, then RESET ALL. `"caller"`: the caller
   * has a transaction open on `pg` and ends it; the script runs inside it, so the caller can do
   * more work before COMMIT, or undo the lot. The script's session settings (search_path = '',
   * row_security…) stay in that transaction until the caller resets or rolls back.
   */
  readonly transaction?: "own" | "caller" | undefined
  /** Called after each chunk read, with the bytes read so far. */
  readonly onProgress?: ((bytes: number) => void) | undefined
}

/** Loading the script failed and nothing of it was kept; `line` is where the statement starts. */
export class PlainDumpFailed extends Data.TaggedError("PlainDumpFailed")<{
  readonly line: number
  readonly statement: string
  readonly reason: string
}> {
  override get message() {
    const where = this.line > 0 ? `line ${this.line}: ` : ""
    const text = this.statement.replace(/\s+/g, " ").trim()
    const what = text === "" ? "" : `${text.length > 120 ? `${text.slice(0, 119)}…` : text}: `
    return `${where}${what}${this.reason}`
  }
}

/**
 * A COPY … FROM stdin in progress on a target: `write` takes complete data lines (the first on
 * `line`) and resolves when more may be written; `end` resolves with the rows the server took.
 * A failure rejects with the server's error, with `dataLine` set when the server named a row.
 */
export interface CopySink {
  /** `data`: complete rows, the script's own bytes. */
  readonly write: (data: Buffer, rows: number, line: number) => Promise<void>
  readonly end: () => Promise<number>
}

/**
 * Where a script runs: one session with a transaction open, held by the caller throughout. The
 * same reader and runner serve the embedded database (PGlite) and a server (a `pg` client).
 */
export interface ScriptTarget {
  /** Runs one or more statements (joined by newlines). */
  readonly exec: (sql: string) => Promise<unknown>
  readonly query: (sql: string, params: ReadonlyArray<unknown>) => Promise<{ readonly rows: ReadonlyArray<unknown> }>
  /** Starts `COPY <table> <columns> FROM stdin`. */
  readonly copy: (table: string, columns: string) => CopySink
  /** The server's major version (settings a newer pg_dump writes are skipped on older ones). */
  readonly serverMajor: number
}

// Statements are sent several at a time (one exec each costs about as much as four INSERTs)…
const BATCH_STATEMENTS = 1000
const BATCH_CHARS = 1 << 20
// …and, on PGlite, COPY data in batches, so a big table is never in memory at once.
const COPY_BATCH_ROWS = 50_000
const COPY_BATCH_CHARS = 8 << 20
const SAVEPOINT = "dbkit_plain_dump"

const ownership = /^ALTER\s[\s\S]*\sOWNER\s+TO\s+(?:"(?:[^"]|"")*"|[^\s;"]+)\s*;?\s*$/i
const transactionControl =
  /^(?:BEGIN|COMMIT|ROLLBACK|END|ABORT|START\s+TRANSACTION|SAVEPOINT|RELEASE|PREPARE\s+TRANSACTION|COMMIT\s+PREPARED|ROLLBACK\s+PREPARED)\b/i
// The server lexes a multi-statement string before running any of it: a statement that may
// change how SQL is lexed (standard_conforming_strings…) must be the last of its batch.
const settingChange = /^(?:SET|RESET)\b|\bset_config\s*\(/i
const clientEncoding = /^SET\s+client_encoding\s*(?:=|TO)\s*'?([\w-]+)'?/i

// A token of a statement, for finding grantees: a comment, a quoted identifier, a string, a word…
const token =
  /--[^\n]*|\/\*[\s\S]*?\*\/|"(?:[^"]|"")*"|[Ee]'(?:[^'\\]|''|\\.)*'|'(?:[^']|'')*'|\$([A-Za-z_]\w*)?\$[\s\S]*?\$\1\$|[A-Za-z_][\w$]*|[(),;]|[^\s\w"'(),;]+|\d[\w.]*/g
const grantsOrPolicies = /^(?:GRANT|CREATE\s+POLICY|ALTER\s+DEFAULT\s+PRIVILEGES)\b/i
const roleKeywords = new Set(["public", "current_user", "session_user", "current_role", "group"])

/**
 * The roles a GRANT, CREATE POLICY or ALTER DEFAULT PRIVILEGES … GRANT statement grants
 * to: the names after its `TO` (outside parentheses), up to USING, WITH, GRANTED or the end.
 * PUBLIC and CURRENT_USER-like keywords are not roles to create.
 */
export const granteesOf = (sql: string): ReadonlyArray<string> => {
  if (!grantsOrPolicies.test(sql)) return []
  const tokens = (sql.match(token) ?? []).filter((t) => !t.startsWith("--") && !t.startsWith("/*"))
  let depth = 0
  let at = -1
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!
    if (t === "(") depth++
    else if (t === ")") depth--
    else if (depth === 0 && t.toLowerCase() === "to") {
      at = i
      break
    }
  }
  if (at === -1) return []
  const roles: Array<string> = []
  for (let i = at + 1; i < tokens.length; i++) {
    const t = tokens[i]!
    if (t === ",") continue
    if (t.startsWith("\"")) {
      roles.push(t.slice(1, -1).replace(/""/g, "\""))
      continue
    }
    if (!/^[A-Za-z_]/.test(t)) break
    const word = t.toLowerCase()
    if (word === "using" || word === "with" || word === "granted") break
    if (!roleKeywords.has(word)) roles.push(word)
  }
  return roles
}

const serverReason = (cause: unknown): string => {
  const error = cause as { message?: unknown; detail?: unknown }
  const message = typeof error?.message === "string" ? error.message : String(cause)
  return typeof error?.detail === "string" && error.detail !== "" ? `${message} (${error.detail})` : message
}

const truncated = (statement: string) => statement.length > 1000 ? `${statement.slice(0, 1000)}…` : statement

interface Statement {
  readonly sql: string
  readonly line: number
}

const failedAt = (statement: Statement, reason: string) =>
  new PlainDumpFailed({ line: statement.line, statement: truncated(statement.sql), reason })

/** The row a server's COPY error names ("COPY t, line 3, column x: …"), counted from 1, if any. */
export const copyErrorRow = (cause: unknown): number | undefined => {
  const where = (cause as { where?: unknown } | null)?.where
  const row = typeof where === "string" ? /COPY [^,]*, line (\d+)/.exec(where)?.[1] : undefined
  return row === undefined ? undefined : Number(row)
}

/** PGlite as a script target: COPY data goes in batches, each a `COPY … FROM '/dev/blob'`. */
const pgliteTarget = (pg: PGlite): ScriptTarget => ({
  exec: (sql) => pg.exec(sql),
  query: (sql, params) => pg.query(sql, [...params]),
  serverMajor: 17,
  copy: (table, columns) => {
    const sql = `COPY ${table}${columns ? ` ${columns}` : ""} FROM '/dev/blob'`
    let data: Array<Buffer> = []
    let chars = 0
    let batchRows = 0
    let batchLine = 0
    let rows = 0
    let sent = 0
    const send = async () => {
      const blob = new Blob(data)
      const line = batchLine
      data = []
      chars = 0
      batchRows = 0
      sent++
      try {
        const result = await pg.query(sql, [], { blob })
        rows += result.affectedRows ?? 0
      } catch (cause) {
        // "COPY t, line 3, column x: …" counts lines from the start of this batch.
        const row = copyErrorRow(cause)
        throw Object.assign(cause as object, { dataLine: row === undefined ? undefined : line + row - 1 })
      }
    }
    return {
      write: async (text, count, line) => {
        if (batchRows > 0 && (batchRows + count > COPY_BATCH_ROWS || chars + text.length > COPY_BATCH_CHARS)) {
          await send()
        }
        if (batchRows === 0) batchLine = line
        data.push(text)
        chars += text.length
        batchRows += count
      },
      // An empty COPY still runs once, so a missing table fails as it would under psql.
      end: async () => {
        if (batchRows > 0 || sent === 0) await send()
        return rows
      }
    }
  }
})

/**
 * Runs a plain pg_dump script (`source`: chunks of UTF-8, e.g. a gunzip stream) on `pg` in one
 * transaction, as `psql -1 -v ON_ERROR_STOP=1` would, after dbkit's reader accepted each
 * statement (DumpPolicy.ts). Takes the session for its duration: the caller must hold it (no
 * other statements may run on `pg` meanwhile). In its own transaction, the session's settings
 * are back to their defaults afterwards (the script changes search_path and more); in the
 * caller's, see `PlainDumpOptions.transaction`.
 */
export const loadPlainDump = (
  pg: PGlite,
  source: AsyncIterable<Buffer | Uint8Array | string>,
  options: PlainDumpOptions = {}
): Effect.Effect<PlainDumpResult, PlainDumpFailed | BackupUntrusted> =>
  Effect.suspend(() => {
    const target = pgliteTarget(pg)
    if (options.transaction === "caller") {
      return pg.isInTransaction()
        ? runScript(target, source, options)
        : Effect.fail(
          new PlainDumpFailed({
            line: 0,
            statement: "",
            reason: "no transaction is open on the embedded session; open one first, or let the load open its own"
          })
        )
    }
    if (pg.isInTransaction()) {
      return Effect.fail(
        new PlainDumpFailed({
          line: 0,
          statement: "",
          reason: "the embedded session is inside a transaction; load the dump outside one"
        })
      )
    }
    const control = (sql: "BEGIN" | "COMMIT") =>
      Effect.tryPromise({ try: () => pg.exec(sql), catch: (cause) => failedAt({ sql, line: 0 }, serverReason(cause)) })
    return Effect.acquireUseRelease(
      control("BEGIN"),
      () => Effect.tap(runScript(target, source, options), () => control("COMMIT")),
      (_, exit) =>
        // Whatever happened: no transaction left open, and none of the script's SETs kept.
        Effect.promise(async () => {
          if (Exit.isFailure(exit) || pg.isInTransaction()) await pg.exec("ROLLBACK").catch(() => undefined)
          await pg.exec("RESET ALL").catch(() => undefined)
        })
    )
  })

/** latin1 text (one character per byte) as the UTF-8 it holds, or undefined when it is not UTF-8. */
const utf8 = (latin1: string): string | undefined => {
  const bytes = Buffer.from(latin1, "latin1")
  return isUtf8(bytes) ? bytes.toString("utf8") : undefined
}

/**
 * An item read from latin1 text with its text decoded as UTF-8 (COPY data stays bytes-as-latin1
 * for its sink); text that is not UTF-8 is Malformed.
 */
const asText = (item: DumpItem): DumpItem => {
  switch (item._tag) {
    case "CopyData":
    case "CopyEnd":
      return item
    case "Statement": {
      const sql = utf8(item.sql)
      return sql === undefined ? notUtf8(item.sql, item.line) : { ...item, sql }
    }
    case "CopyStart": {
      const [sql, table, columns, options] = [utf8(item.sql), utf8(item.table), utf8(item.columns), utf8(item.options)]
      return sql === undefined || table === undefined || columns === undefined || options === undefined
        ? notUtf8(item.sql, item.line)
        : { ...item, sql, table, columns, options }
    }
    case "MetaCommand":
      return { ...item, command: utf8(item.command) ?? item.command, argument: utf8(item.argument) ?? item.argument }
    case "Malformed":
      return { ...item, text: utf8(item.text) ?? item.text }
  }
}

const notUtf8 = (text: string, line: number): DumpItem => ({
  _tag: "Malformed",
  text: Buffer.from(text, "latin1").toString("utf8"),
  reason: "the statement is not valid UTF-8 (dump again with --encoding=UTF8)",
  line
})

/**
 * Reads the script with DumpSplitter, refuses what DumpPolicy refuses (before anything of that
 * statement is sent) and runs the rest on `target`, inside the transaction the caller opened.
 */
export const runScript = (
  target: ScriptTarget,
  source: AsyncIterable<Buffer | Uint8Array | string>,
  options: PlainDumpOptions
) =>
  Effect.gen(function*() {
    const exec = (sql: string): Effect.Effect<unknown, unknown> =>
      Effect.tryPromise({ try: () => target.exec(sql), catch: (cause) => cause })
    const reader = new DumpReader()
    const copies: Array<{ table: string; rows: number }> = []
    const rolesSeen = new Set<string>()
    const rolesCreated: Array<string> = []
    const skippedSettings: Array<string> = []
    let statements = 0
    let skipped = 0
    let bytes = 0

    // Statements waiting to be sent together; a failed batch is replayed one by one from a
    // savepoint, so the error names the statement that failed, not the batch.
    let batch: Array<Statement> = []
    let batchChars = 0
    const runOne = (statement: Statement) =>
      Effect.mapError(exec(statement.sql), (cause) => failedAt(statement, serverReason(cause)))
    const flush = Effect.suspend(() => {
      const pending = batch
      batch = []
      batchChars = 0
      if (pending.length === 0) return Effect.void
      if (pending.length === 1) return Effect.asVoid(runOne(pending[0]!))
      return Effect.gen(function*() {
        yield* runOne({ sql: `SAVEPOINT ${SAVEPOINT}`, line: pending[0]!.line })
        const sent = yield* Effect.either(
          exec(`${pending.map((s) => s.sql).join("\n")}\nRELEASE SAVEPOINT ${SAVEPOINT}`)
        )
        if (sent._tag === "Right") return
        // A savepoint that cannot be rolled back to (the connection is gone) is not the news:
        // what stopped the batch is.
        yield* Effect.mapError(exec(`ROLLBACK TO SAVEPOINT ${SAVEPOINT}`), () =>
          failedAt(pending[0]!, serverReason(sent.left)))
        for (const statement of pending) {
          yield* runOne(statement)
        }
        return yield* failedAt(pending[0]!, serverReason(sent.left))
      })
    })

    // Roles are looked up once each, after the statements before them ran (the script might make
    // one itself), and created in the load's transaction.
    const ensureRoles = (statement: Statement, roles: ReadonlyArray<string>) =>
      Effect.gen(function*() {
        yield* flush
        for (const role of roles) {
          rolesSeen.add(role)
          const found = yield* Effect.tryPromise({
            try: () =>
              target.query("SELECT 1 FROM pg_roles WHERE rolname = $1", [role]),
            catch: (cause) => failedAt(statement, serverReason(cause))
          })
          if (found.rows.length > 0) continue
          yield* runOne({ sql: `CREATE ROLE ${quoteIdent(role)} NOLOGIN`, line: statement.line })
          rolesCreated.push(role)
        }
      })

    // The COPY being read.
    let copy: { start: Statement; table: string; sink: CopySink } | undefined
    const copyFailed = (start: Statement) => (cause: unknown) => {
      const dataLine = (cause as { dataLine?: unknown }).dataLine
      return failedAt(
        start,
        `${serverReason(cause)}${typeof dataLine === "number" ? ` (data on line ${dataLine})` : ""}`
      )
    }

    const handle = (read: DumpItem): Effect.Effect<void, PlainDumpFailed | BackupUntrusted> => {
      const item = asText(read)
      const refused = refusedItem(item)
      if (refused !== undefined) return Effect.zipRight(flush, Effect.fail(refused))
      switch (item._tag) {
        case "Statement": {
          const statement = { sql: item.sql, line: item.line }
          if (options.skipOwnership && ownership.test(item.sql)) {
            skipped++
            return Effect.void
          }
          const setting = skippableSetting(item.sql, target.serverMajor)
          if (setting !== undefined) {
            skipped++
            if (!skippedSettings.includes(setting)) skippedSettings.push(setting)
            return Effect.void
          }
          if (bracketsLargeObjects(item.sql)) {
            // The whole script is one transaction already: pg_dump's BEGIN/COMMIT around large
            // objects would end it early (as under psql -1); they are left out.
            skipped++
            return Effect.void
          }
          if (transactionControl.test(item.sql)) {
            return Effect.zipRight(
              flush,
              Effect.fail(
                failedAt(statement, "transaction control is not allowed: the whole script runs in one transaction")
              )
            )
          }
          const encoding = clientEncoding.exec(item.sql)?.[1]
          if (encoding !== undefined && !/^(utf-?8|unicode)$/i.test(encoding)) {
            return Effect.zipRight(
              flush,
              Effect.fail(
                failedAt(
                  statement,
                  `the script is in ${encoding}; only UTF8 scripts load (dump again with --encoding=UTF8)`
                )
              )
            )
          }
          statements++
          const roles = options.createMissingRoles ? granteesOf(item.sql).filter((role) => !rolesSeen.has(role)) : []
          const queue = Effect.suspend(() => {
            if (!item.sql.trimEnd().endsWith(";")) {
              // Unterminated (the end of the file): it cannot be joined to others.
              return Effect.zipRight(flush, Effect.asVoid(runOne(statement)))
            }
            batch.push(statement)
            batchChars += item.sql.length
            return batch.length >= BATCH_STATEMENTS || batchChars >= BATCH_CHARS || settingChange.test(item.sql)
              ? flush
              : Effect.void
          })
          return roles.length === 0 ? queue : Effect.zipRight(ensureRoles(statement, roles), queue)
        }
        case "CopyStart": {
          statements++
          const start = { sql: item.sql, line: item.line }
          return Effect.zipRight(
            flush,
            Effect.try({
              try: () => void (copy = { start, table: item.table, sink: target.copy(item.table, item.columns) }),
              catch: copyFailed(start)
            })
          )
        }
        case "CopyData": {
          const current = copy!
          const data = typeof item.data === "string" ? Buffer.from(item.data, "latin1") : item.data
          return Effect.tryPromise({
            try: () => current.sink.write(data, item.rows, item.line),
            catch: copyFailed(current.start)
          })
        }
        case "CopyEnd": {
          const current = copy!
          copy = undefined
          return Effect.tryPromise({
            try: async () => void copies.push({ table: current.table, rows: await current.sink.end() }),
            catch: copyFailed(current.start)
          })
        }
        case "MetaCommand":
          // Only \restrict and \unrestrict come this far (see refusal): pg_dump's guard for psql.
          return Effect.void
        case "Malformed":
          return Effect.zipRight(flush, Effect.fail(failedAt({ sql: item.text, line: item.line }, item.reason)))
      }
    }

    const iterator = source[Symbol.asyncIterator]()
    yield* Effect.addFinalizer(() => Effect.ignore(Effect.tryPromise(async () => iterator.return?.())))
    for (;;) {
      const next = yield* Effect.tryPromise({
        try: () => iterator.next(),
        catch: (cause) =>
          new PlainDumpFailed({
            line: reader.lineReached,
            statement: "",
            reason: `reading the script failed: ${serverReason(cause)}`
          })
      })
      if (next.done) break
      const chunk = next.value
      // Bytes: COPY data goes on as it is (no UTF-8 decoding and encoding of the bulk of a dump);
      // statements are decoded as UTF-8 once each (asText).
      const piece = typeof chunk === "string"
        ? Buffer.from(chunk, "utf8")
        : Buffer.isBuffer(chunk)
        ? chunk
        : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)
      bytes += piece.length
      for (const item of reader.push(piece)) yield* handle(item)
      options.onProgress?.(bytes)
    }
    for (const item of reader.end()) yield* handle(item)
    yield* flush
    return { statements, skipped, copies, bytes, rolesCreated, skippedSettings } satisfies PlainDumpResult
  }).pipe(Effect.scoped)
