/**
 * Where a script runs (`ScriptTarget`, `CopySink`), and PGlite as one: COPY data goes in batches,
 * each a `COPY … FROM '/dev/blob'` (PGlite takes COPY data as a Blob).
 */
import type { PGlite } from "@electric-sql/pglite"

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

// …and, on PGlite, COPY data in batches, so a big table is never in memory at once.
const COPY_BATCH_ROWS = 50_000
const COPY_BATCH_CHARS = 8 << 20

/** The row a server's COPY error names ("COPY t, line 3, column x: …"), counted from 1, if any. */
export const copyErrorRow = (cause: unknown): number | undefined => {
  const where = (cause as { where?: unknown } | null)?.where
  const row = typeof where === "string" ? /COPY [^,]*, line (\d+)/.exec(where)?.[1] : undefined
  return row === undefined ? undefined : Number(row)
}

/** PGlite as a script target: COPY data goes in batches, each a `COPY … FROM '/dev/blob'`. */
export const pgliteTarget = (pg: PGlite): ScriptTarget => ({
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
