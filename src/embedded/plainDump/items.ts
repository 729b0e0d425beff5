/**
 * What a plain SQL script says to do, item by item, as the splitter and the reader cut it: the
 * one vocabulary the lexer, the dump policy and the runner share.
 */

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
