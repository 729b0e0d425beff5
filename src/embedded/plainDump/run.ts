/**
 * The runner: reads a script with DumpReader, refuses what DumpPolicy refuses (before anything of
 * that statement is sent) and runs the rest on a `ScriptTarget`, statements in batches, inside
 * the transaction the caller opened.
 */
import * as Effect from "effect/Effect"
import { type BackupUntrusted, bracketsLargeObjects, refusedItem, skippableSetting } from "../../DumpPolicy.js"
import { quoteIdent } from "../../Identifier.js"
import { failedAt, PlainDumpFailed, serverReason, type Statement } from "./failure.js"
import { granteesOf } from "./grantees.js"
import type { DumpItem } from "./items.js"
import { DumpReader } from "./reader.js"
import type { CopySink, ScriptTarget } from "./target.js"
import { asText } from "./text.js"

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

// Statements are sent several at a time (one exec each costs about as much as four INSERTs)…
const BATCH_STATEMENTS = 1000
const BATCH_CHARS = 1 << 20
const SAVEPOINT = "dbkit_plain_dump"

const ownership = /^ALTER\s[\s\S]*\sOWNER\s+TO\s+(?:"(?:[^"]|"")*"|[^\s;"]+)\s*;?\s*$/i
const transactionControl =
  /^(?:BEGIN|COMMIT|ROLLBACK|END|ABORT|START\s+TRANSACTION|SAVEPOINT|RELEASE|PREPARE\s+TRANSACTION|COMMIT\s+PREPARED|ROLLBACK\s+PREPARED)\b/i
// The server lexes a multi-statement string before running any of it: a statement that may
// change how SQL is lexed (standard_conforming_strings…) must be the last of its batch.
const settingChange = /^(?:SET|RESET)\b|\bset_config\s*\(/i
const clientEncoding = /^SET\s+client_encoding\s*(?:=|TO)\s*'?([\w-]+)'?/i

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
