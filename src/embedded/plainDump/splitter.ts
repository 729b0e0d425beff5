/**
 * DumpSplitter: cuts a plain SQL script, pushed in pieces cut anywhere, into `DumpItem`s —
 * statements by psql's lexer rules (sqlScan.ts), and `COPY … FROM stdin` data into row batches.
 */
import type { DumpItem } from "./items.js"
import { Lex, scanSql, type SqlScanState } from "./sqlScan.js"

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
export class DumpSplitter implements SqlScanState {
  /** The line the splitter has reached (1-based). */
  line = 1
  /**
   * With `copyData: "external"` the splitter stops where a COPY's data begins (`awaitingCopyData`):
   * the caller reads the data itself (DumpReader does, as bytes), takes the unread text with
   * `takeRest` and hands back with `endCopy` after the `\.` line.
   */
  constructor(private readonly options: { readonly copyData?: "items" | "external" } = {}) {}
  text = ""
  at = 0
  mode: "sql" | "copy" = "sql"
  lex = Lex.Code
  commentDepth = 0
  dollarDelimiter = ""
  standardStrings = true
  // The statement being read: its start in `text` (or -1), its line, and earlier pieces of it.
  start = -1
  startLine = 0
  private pieces: Array<string> = []
  // psql's heuristics for `;` inside a statement.
  parenDepth = 0
  beginDepth = 0
  private leadingWords = ""
  // COPY data: whether the COPY statement's own line is still being read, and a partial row.
  private copyLineRest = false
  private partialRow = ""
  items: Array<DumpItem> = []

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
      const progressed = this.mode === "sql" ? scanSql(this, eof) : this.scanCopy(eof)
      if (!progressed) break
    }
    // Keep the statement read so far as a piece, so the next push re-reads only the undecided tail.
    if (this.mode === "sql" && this.start >= 0 && this.at > this.start) {
      this.pieces.push(this.text.slice(this.start, this.at))
      this.start = this.at
    }
  }

  /**
   * psql's heuristic for SQL-standard function bodies: in `CREATE [OR REPLACE] FUNCTION|PROCEDURE`,
   * BEGIN (and CASE inside it) opens a block that END closes, and `;` inside it ends nothing.
   */
  /** @internal */
  noteIdentifier(word: string) {
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

  /** @internal */
  emitStatement(end: number) {
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
