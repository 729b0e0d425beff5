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
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type { BackupUntrusted } from "../DumpPolicy.js"
import { failedAt, PlainDumpFailed, serverReason } from "./plainDump/failure.js"
import { type PlainDumpOptions, type PlainDumpResult, runScript } from "./plainDump/run.js"
import { pgliteTarget } from "./plainDump/target.js"

export { PlainDumpFailed } from "./plainDump/failure.js"
export { granteesOf } from "./plainDump/grantees.js"
export type { DumpItem } from "./plainDump/items.js"
export { DumpReader } from "./plainDump/reader.js"
export { type PlainDumpOptions, type PlainDumpResult, runScript } from "./plainDump/run.js"
export { DumpSplitter } from "./plainDump/splitter.js"
export { copyErrorRow, type CopySink, type ScriptTarget } from "./plainDump/target.js"

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
