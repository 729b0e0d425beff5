/**
 * Row counts of a plain pg_dump script, taken from its COPY blocks as the script streams past:
 * every `COPY schema.table (…) FROM stdin;` line is followed by one line per row and ends with a
 * `\.` line (a row never starts with `\.`: COPY's text format escapes a backslash as `\\`). A
 * backup counts its rows this way instead of running count(*) on the server beside pg_dump, which
 * there scanned every table a second time — in parallel workers — while pg_dump was reading it.
 */

/** A table name as pg_dump writes it: plain, or double-quoted with `""` for a quote. */
export const IDENT = String.raw`(?:"(?:[^"]|"")*"|[^\s."(]+)`
const COPY_HEADER = new RegExp(String.raw`^COPY (${IDENT})\.(${IDENT})(?: \(.*\))? FROM stdin;$`)
export const unquote = (ident: string) => (ident.startsWith("\"") ? ident.slice(1, -1).replace(/""/g, "\"") : ident)

/** `public.pgbench_accounts`, `public."Odd ""Name"""` from a `COPY … FROM stdin;` line, as the catalog spells them; else undefined. */
export const copyTable = (line: string): string | undefined => {
  const header = COPY_HEADER.exec(line)
  return header ? `${unquote(header[1]!)}.${unquote(header[2]!)}` : undefined
}

const NEWLINE = 0x0a
const BACKSLASH = 0x5c
const DOT = 0x2e
const COPY = Buffer.from("COPY ")

/** A counter to feed the script to, chunk by chunk; `copied` maps `schema.table` to its rows. */
export interface CopyRowCounter {
  readonly write: (chunk: Buffer) => void
  /** Rows per table whose COPY block has ended, by `schema.table` as the catalog spells it. */
  readonly copied: Readonly<Record<string, number>>
}

/**
 * Counts the rows of each COPY block in a plain dump script fed to `write` in chunks of any size.
 * One `indexOf` per row; lines outside COPY blocks are only read when they start with `COPY `.
 */
export const copyRowCounter = (): CopyRowCounter => {
  const copied: Record<string, number> = {}
  let table: string | undefined // inside a COPY block: its table
  let rows = 0
  let leftover: Buffer | undefined // the start of a line the previous chunk cut off, when it is needed
  let midRow = false // inside a block, the previous chunk ended inside a row
  let skipLine = false // outside, the previous chunk ended inside a line that is not a COPY header

  const write = (chunk: Buffer) => {
    const buf = leftover === undefined ? chunk : Buffer.concat([leftover, chunk])
    leftover = undefined
    const end = buf.length
    let i = 0
    if (midRow || skipLine) {
      const j = buf.indexOf(NEWLINE)
      if (j === -1) return
      if (midRow) rows++
      midRow = skipLine = false
      i = j + 1
    }
    while (i < end) {
      if (table !== undefined) {
        if (end - i < 3) {
          // Too short to tell a row from the block's end yet.
          leftover = Buffer.from(buf.subarray(i))
          return
        }
        if (buf[i] === BACKSLASH && buf[i + 1] === DOT && buf[i + 2] === NEWLINE) {
          copied[table] = (copied[table] ?? 0) + rows
          table = undefined
          i += 3
          continue
        }
        const j = buf.indexOf(NEWLINE, i)
        if (j === -1) {
          midRow = true
          return
        }
        rows++
        i = j + 1
      } else {
        const j = buf.indexOf(NEWLINE, i)
        const copyLine = end - i < COPY.length
          ? COPY.subarray(0, end - i).equals(buf.subarray(i))
          : buf.compare(COPY, 0, COPY.length, i, i + COPY.length) === 0
        if (j === -1) {
          if (copyLine) leftover = Buffer.from(buf.subarray(i))
          else skipLine = true
          return
        }
        if (copyLine) {
          const found = copyTable(buf.toString("utf8", i, j))
          if (found !== undefined) {
            table = found
            rows = 0
          }
        }
        i = j + 1
      }
    }
  }

  return { write, copied }
}
