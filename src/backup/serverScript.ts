/**
 * A server session as a target for dbkit's plain-dump runner (embedded/PlainDump.ts): one `pg`
 * client, statements sent as simple-protocol batches, COPY data streamed through
 * pg-copy-streams with backpressure. dbkit, not psql, reads and runs the script, so nothing in a
 * backup file is ever taken as a psql command, and a dump from a newer pg_dump loads without a
 * newer psql.
 */
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import { once } from "node:events"
import pg from "pg"
import { from as copyFrom } from "pg-copy-streams"
import { DatabaseUnavailable } from "../Database.js"
import { copyErrorRow, type CopySink, type ScriptTarget } from "../embedded/PlainDump.js"
import * as PgTools from "../PgTools.js"

/** The server's "COPY t, line 3, column x: …" names a row counted from the COPY's first data line. */
const withDataLine = (cause: unknown, firstLine: number): unknown => {
  const row = copyErrorRow(cause)
  return row === undefined || typeof cause !== "object" || cause === null
    ? cause
    : Object.assign(cause, { dataLine: firstLine + row - 1 })
}

const COPY_BUFFER = 4 << 20
const RESTORE_MAINTENANCE_WORK_MEM = "256MB"

const copySink = (
  client: pg.Client,
  table: string,
  columns: string,
  open: Set<{ destroy: (error: Error) => void }>
): CopySink => {
  // A deep buffer lets the reader run ahead of the socket (pg-copy-streams waits for the socket's
  // 'drain' after each chunk): without it, decompressing and sending take turns.
  const stream = client.query(
    copyFrom(`COPY ${table}${columns ? ` ${columns}` : ""} FROM STDIN`, { highWaterMark: COPY_BUFFER })
  )
  let failure: unknown
  let firstLine = 0
  // Until it ends, the COPY is what the connection is doing: a load stopped meanwhile (a bad
  // chunk, a refused statement, an interruption) must fail it (CopyFail) before the ROLLBACK
  // can run, or the ROLLBACK waits behind it forever.
  open.add(stream)
  stream.on("error", (error) => (failure ??= error))
  stream.on("close", () => open.delete(stream))
  stream.on("finish", () => open.delete(stream))
  return {
    write: async (data, _rows, line) => {
      if (firstLine === 0) firstLine = line
      if (failure !== undefined) throw withDataLine(failure, firstLine)
      if (!stream.write(data)) {
        try {
          await once(stream, "drain") // rejects if the stream fails meanwhile
        } catch (error) {
          throw withDataLine(error, firstLine)
        }
      }
    },
    end: () =>
      new Promise<number>((resolve, reject) => {
        if (failure !== undefined) return reject(withDataLine(failure, firstLine))
        stream.once("finish", () => resolve(Number(stream.rowCount ?? 0)))
        stream.once("error", (error) => reject(withDataLine(error, firstLine)))
        stream.end()
      })
  }
}

/**
 * A connected client for `url` with a transaction open, as a ScriptTarget; the scope ends it
 * (ROLLBACK unless `commit` ran) and closes the connection.
 */
export const openTarget = (url: Redacted.Redacted<string>, serverMajor: number) =>
  Effect.gen(function*() {
    const client = yield* Effect.acquireRelease(
      Effect.tryPromise({
        try: async () => {
          const client = new pg.Client({ connectionString: Redacted.value(url), application_name: "dbkit-load" })
          client.on("error", () => {}) // a dropped connection surfaces on the next query instead
          await client.connect()
          return client
        },
        catch: (cause) =>
          new DatabaseUnavailable({
            target: PgTools.pgEnv(url).PGDATABASE ?? "the database",
            reason: PgTools.scrub(cause instanceof Error ? cause.message : String(cause), url)
          })
      }),
      (client) =>
        Effect.promise(() => client.end().catch(() => undefined)).pipe(
          // A connection that does not close in time is cut: the server rolls back on its own.
          Effect.timeoutTo({
            duration: "10 seconds",
            onSuccess: () => undefined,
            onTimeout: () =>
              (client as unknown as { connection?: { stream?: { destroy: () => void } } }).connection?.stream?.destroy()
          })
        )
    )
    const openCopies = new Set<{ destroy: (error: Error) => void }>()
    // Index and constraint builds after the data are most of a restore's server time; as
    // pg_restore's documentation advises, they get more memory (in this session only, and never
    // less than the server gives).
    yield* Effect.tryPromise({
      try: () =>
        client.query(
          `SELECT set_config('maintenance_work_mem', '${RESTORE_MAINTENANCE_WORK_MEM}', false)
            WHERE pg_size_bytes(current_setting('maintenance_work_mem')) < pg_size_bytes('${RESTORE_MAINTENANCE_WORK_MEM}')`
        ),
      catch: (cause) => new DatabaseUnavailable({ target: "the database", reason: PgTools.scrub(String(cause), url) })
    })
    let open = false
    yield* Effect.acquireRelease(
      Effect.tryPromise({
        try: () => client.query("BEGIN").then(() => void (open = true)),
        catch: (cause) => new DatabaseUnavailable({ target: "the database", reason: PgTools.scrub(String(cause), url) })
      }),
      () =>
        open
          ? Effect.suspend(() => {
            for (const copy of openCopies) copy.destroy(new Error("the restore stopped before the end of the data"))
            return Effect.promise(() => client.query("ROLLBACK").then(() => undefined, () => undefined)).pipe(
              Effect.timeoutTo({ duration: "10 seconds", onSuccess: () => undefined, onTimeout: () => undefined })
            )
          })
          : Effect.void
    )
    const target: ScriptTarget = {
      exec: (sql) => client.query(sql),
      query: (sql, params) => client.query(sql, [...params]),
      copy: (table, columns) => copySink(client, table, columns, openCopies),
      serverMajor
    }
    const commit = Effect.tryPromise({
      try: () => client.query("COMMIT").then(() => void (open = false)),
      catch: (cause) =>
        new DatabaseUnavailable({
          target: "the database",
          reason: `COMMIT failed: ${PgTools.scrub(String(cause), url)}`
        })
    })
    return { target, commit }
  })
