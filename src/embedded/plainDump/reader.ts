/**
 * DumpReader: a script read as bytes, SQL cut by DumpSplitter and COPY data passed on untouched.
 */
import type { DumpItem } from "./items.js"
import { DumpSplitter } from "./splitter.js"

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
