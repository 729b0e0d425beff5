/**
 * Where a backup's bytes come from: the server's pg_dump, running on a snapshot exported by a
 * REPEATABLE READ transaction that also counts the rows for the manifest, or the embedded
 * database's own pg_dump. Either way a `DumpSource`: the bytes as a Node stream, and what the
 * manifest says about them once they have all gone by.
 */
import type { SqlError } from "@effect/sql/SqlError"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import type * as Redacted from "effect/Redacted"
import { Readable } from "node:stream"
import { type DatabaseUnavailable, EMBEDDED_PG_MAJOR } from "../Database.js"
import { quoteIdent } from "../Identifier.js"
import * as PgTools from "../PgTools.js"
import type { BackupOptions } from "./Backup.js"
import type { BackupContext } from "./context.js"
import { copyRowCounter } from "./copyRows.js"
import { countFromCopies, countRows, migrationHead, noTables, userTables } from "./tables.js"

/** pg_dump's arguments for `options` (the connection goes in its environment, never here). */
export const dumpArgs = (options: BackupOptions, level: number) => [
  `--format=${options.format === "custom" ? "c" : "p"}`,
  ...(options.format === "custom" ? [`--compress=${level}`] : []),
  ...(options.schemaOnly ? ["--schema-only"] : []),
  ...(options.dataOnly ? ["--data-only"] : []),
  ...(options.excludeTable ?? []).flatMap((t) => ["--exclude-table", t]),
  // pg_dump takes a pattern; a schema name with pattern characters is quoted to mean itself.
  ...(options.schemas ?? []).flatMap((s) => ["--schema", /^[a-z_][a-z0-9_]*$/.test(s) ? s : quoteIdent(s)])
]

/** The dump's bytes, and the manifest's facts about them once they have been read whole. */
export interface DumpSource {
  readonly bytes: Readable
  /** Sees every chunk of the dump as it streams past (counts COPY rows), if anything must. */
  readonly scan: ((chunk: Buffer) => void) | undefined
  /** Whether the dump's producer succeeded: awaited after the bytes. */
  readonly finished: Effect.Effect<void, PgTools.PgToolFailed>
  /** Row counts per table and the migration head, in the dump's snapshot. */
  readonly details: Effect.Effect<
    { readonly tables: Readonly<Record<string, number>>; readonly head: string | null },
    SqlError
  >
  /** The pg_dump major that wrote it. */
  readonly pgDump: number
}

/** The dump's bytes, the snapshot's row counts and migration head, from the server's pg_dump. */
export const fromServer = (
  context: BackupContext,
  url: Redacted.Redacted<string>,
  options: BackupOptions,
  level: number
) =>
  Effect.gen(function*() {
    const { serverMajor, sql } = context
    const versionCheck = Effect.flatMap(PgTools.major("pg_dump"), (pgDumpMajor) =>
      pgDumpMajor < serverMajor
        ? Effect.fail(new PgTools.PgToolTooOld({ tool: "pg_dump", toolMajor: pgDumpMajor, serverMajor }))
        : Effect.succeed(pgDumpMajor))
    // One snapshot for pg_dump and for the counts in the manifest. pg_dump starts as soon as
    // the snapshot exists (its version checked meanwhile); the counts run beside it, in the
    // snapshot's own transaction.
    const snapshotted = Effect.gen(function*() {
      const conn = yield* sql.reserve
      const run = (text: string) => conn.executeUnprepared(text, [], undefined)
      yield* Effect.acquireRelease(run("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY"), () =>
        Effect.ignore(run("ROLLBACK")))
      const [{ snapshot }] = (yield* run("SELECT pg_export_snapshot() AS snapshot")) as [{ snapshot: string }]
      return { run, snapshot }
    })
    const [pgDumpMajor, { run, snapshot }] = yield* Effect.all([versionCheck, snapshotted], { concurrency: 2 })
    // Started after the snapshot's transaction, so stopped (with the scope) before its ROLLBACK.
    const dump = yield* PgTools.spawn("pg_dump", [
      `--snapshot=${snapshot}`,
      "--no-password",
      ...dumpArgs(options, level)
    ], { url })
    // A plain script's rows are counted from its COPY blocks on the way to the file: a count(*)
    // of every table beside pg_dump read each table a second time, in parallel workers, on the
    // cores pg_dump and gzip need. A custom archive cannot be read on the way; its tables are
    // counted in the snapshot meanwhile.
    const copies = options.format === "custom" || options.schemaOnly ? undefined : copyRowCounter()
    const listed = yield* Effect.gen(function*() {
      const tables = options.schemaOnly ? noTables : yield* userTables(run, options.excludeTable ?? [], options.schemas)
      const head = yield* migrationHead(run)
      return { tables, head, counts: copies === undefined ? yield* countRows(run, tables) : undefined }
    }).pipe(Effect.forkScoped)
    // Awaited once the dump has been written: by then every COPY block has streamed past.
    const details = Effect.flatMap(Fiber.join(listed), ({ counts, head, tables }) =>
      Effect.map(
        counts !== undefined ? Effect.succeed(counts) : countFromCopies(run, tables, copies!.copied),
        (counted) => ({
          tables: counted,
          head
        })
      ))
    return {
      bytes: dump.stdout,
      scan: copies?.write,
      finished: dump.finished,
      details,
      pgDump: pgDumpMajor
    } satisfies DumpSource
  })

/** The same from the embedded database's own pg_dump, holding its one session throughout. */
export const fromEmbedded = (
  context: BackupContext,
  dump: (args: ReadonlyArray<string>) => Effect.Effect<Blob, DatabaseUnavailable>,
  options: BackupOptions,
  level: number
) =>
  Effect.gen(function*() {
    const conn = yield* context.sql.reserve
    const run = (text: string) => conn.executeUnprepared(text, [], undefined)
    const tables = options.schemaOnly
      ? {}
      : yield* countRows(run, yield* userTables(run, options.excludeTable ?? [], options.schemas))
    const head = yield* migrationHead(run)
    // PGlite's pg_dump writes data as INSERTs (it has no COPY out): 1,000 rows a statement
    // instead of one, for a smaller file and a faster restore.
    const blob = yield* dump([...dumpArgs(options, level), "--rows-per-insert=1000"])
    return {
      bytes: Readable.fromWeb(blob.stream() as import("node:stream/web").ReadableStream),
      scan: undefined,
      finished: Effect.void,
      details: Effect.succeed({ tables, head }),
      pgDump: Number(EMBEDDED_PG_MAJOR)
    } satisfies DumpSource
  })
