/**
 * Loading a verified dump into a database with dbkit's own reader and runner (PlainDump.ts, under
 * DumpPolicy.ts's rules) — on a server through a `pg` connection (custom archives first turned
 * into a script by pg_restore, see archiveToScript), on the embedded database through PGlite — in one transaction
 * that stops at the first error, then comparing the result's row counts with the manifest. Used
 * by `backups verify --restore-test` and by `restore`.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Redacted from "effect/Redacted"
import * as fs from "node:fs"
import { PassThrough, type Readable, Transform } from "node:stream"
import { pipeline } from "node:stream/promises"
import { type EmbeddedLoad, NotSupportedOnEmbedded } from "../Database.js"
import { BackupUntrusted } from "../DumpPolicy.js"
import { PlainDumpFailed, runScript } from "../embedded/PlainDump.js"
import * as PgTools from "../PgTools.js"
import { IDENT, unquote } from "./copyRows.js"
import { BackupChecksumMismatch, BackupCorrupt, RestoreTestMismatch } from "./errors.js"
import * as Files from "./files.js"
import type { Manifest } from "./manifest.js"
import { openTarget } from "./serverScript.js"

/** How far a load is: bytes of the backup file read, of its size; bytes of SQL (or archive) passed on. */
export interface LoadProgress {
  readonly fileBytes: number
  readonly fileSize: number
  readonly dumpBytes: number
}

/**
 * A pass-through stage that calls `onProgress` as the dump's bytes go by, with how much of the
 * file the first of `stages` (the file's read stream) has read; none without `onProgress`.
 */
const progressStage = (
  file: string,
  stages: ReadonlyArray<NodeJS.ReadWriteStream | Readable>,
  onProgress: ((progress: LoadProgress) => void) | undefined
): Array<PassThrough> => {
  if (onProgress === undefined) return []
  const reader = stages[0] as fs.ReadStream
  const fileSize = fs.statSync(file).size
  let dumpBytes = 0
  return [
    new PassThrough().on("data", (chunk: Buffer) => {
      dumpBytes += chunk.length
      onProgress({ fileBytes: Math.min(fileSize, reader.bytesRead), fileSize, dumpBytes })
    })
  ]
}

/** What a load did: rows each COPY brought in, per `schema.table` (from the server's COPY results). */
export interface Loaded {
  readonly copied: Readonly<Record<string, number>>
  /** Settings a newer pg_dump wrote that the server does not have, left out knowingly. */
  readonly skippedSettings?: ReadonlyArray<string> | undefined
}

/**
 * pg_restore (custom-format backups only: it turns the archive into a script for dbkit's runner)
 * must be at least as new as the pg_dump that wrote the file: an older one cannot read the
 * archive. Plain dumps need no tool: dbkit reads them itself.
 */
export const checkTool = (manifest: Manifest, _serverMajor: number) =>
  Effect.gen(function*() {
    if (manifest.format !== "custom") return
    const have = yield* PgTools.major("pg_restore")
    const writtenBy = manifest.tool?.pgDump ?? 0
    if (have < writtenBy) {
      return yield* new PgTools.PgToolTooOld({
        tool: "pg_restore",
        toolMajor: have,
        serverMajor: writtenBy,
        because: "backup"
      })
    }
  })

/** The run failed because its input failed (the feed's error says why), not on its own. */
const readFailed = (cause: Cause.Cause<unknown>): boolean =>
  Cause.failures(cause).pipe((failures) =>
    [...failures].some((error) =>
      error instanceof PlainDumpFailed && error.reason.startsWith("reading the script failed")
    )
  )

/** A refusal names the backup file it came from. */
const withFile = (file: string) => <E>(error: E): E =>
  error instanceof BackupUntrusted
    ? (new BackupUntrusted({ file, line: error.line, text: error.text, reason: error.reason }) as E)
    : error

/**
 * `pg_restore --no-owner -f -`, which connects nowhere: it writes the custom-format archive fed
 * to its `stdin` out as a script (its `stdout`) for dbkit's reader. It may stop reading before
 * the archive's last bytes (it has what it needs): the rest is still read and discarded, so the
 * checks upstream (sha256, the last chunk's tag, the size) always see the whole file; whether it
 * succeeded is its exit code's to say (`finished`). Started before the file is opened, so a
 * missing pg_restore leaves nothing open.
 */
export const archiveToScript = PgTools.spawn("pg_restore", ["--no-owner", "-f", "-"], { stdin: "drain" })

/** Settles with the error that stopped a pipeline, if any. */
export const settle = (done: Promise<void>): Promise<NodeJS.ErrnoException | undefined> =>
  done.then(() => undefined, (error: NodeJS.ErrnoException) => error)

/** Rows per `schema.table` (as the manifest names them) from what the runner's COPYs took. */
const copiedByTable = (copies: ReadonlyArray<{ readonly table: string; readonly rows: number }>) => {
  const copied: Record<string, number> = {}
  for (const copy of copies) {
    const table = catalogName(copy.table)
    if (table !== undefined) copied[table] = (copied[table] ?? 0) + copy.rows
  }
  return copied
}

/**
 * The feed's own failure, if it failed, as the typed error it stands for: the file failed a
 * check on the way in (checksum, a chunk's tag, gzip, size).
 */
const feedFailure = (file: string, feedError: NodeJS.ErrnoException | undefined) => {
  if (feedError === undefined || feedError.code === "ERR_STREAM_PREMATURE_CLOSE" || feedError.code === "EPIPE") {
    return undefined
  }
  if (feedError instanceof Files.StreamedChecksumMismatch) {
    return new BackupChecksumMismatch({ file, expected: feedError.expected, actual: feedError.actual })
  }
  return new BackupCorrupt({ file, reason: feedError.message })
}

/**
 * Streams the dump in `file` into the database at `url`, in one transaction that commits only
 * once everything passed, and fails on any error. Callers load into a new or staging database
 * and drop it on failure, so a partial load never survives.
 *
 * dbkit reads the script itself (DumpSplitter, then DumpPolicy's rules) and runs each accepted
 * statement on its own connection; psql is never involved, so no line of a backup file can be
 * taken as a psql command. A custom-format archive is turned into a script by `pg_restore -f -`
 * (which connects nowhere) and read the same way.
 *
 * The file is checked on the way in, where its bytes are read anyway: its sha256 against the
 * manifest before the last bytes are passed on, each chunk's tag before its bytes are passed on
 * (encryption format 2; a format-1 file was authenticated in a pass before, see
 * Files.checkBeforeLoad), gzip's CRC and the byte count against the manifest. The transaction
 * commits only after all of that passed; if a check fails, or dbkit dies, it is rolled back.
 */
export const loadDump = (
  file: string,
  manifest: Manifest,
  key: Redacted.Redacted<string> | undefined,
  url: Redacted.Redacted<string>,
  serverMajor: number,
  onProgress?: (progress: LoadProgress) => void
) =>
  Effect.gen(function*() {
    yield* checkTool(manifest, serverMajor) // the version is asked once per process: free when the caller checked already
    const restore = manifest.format === "custom" ? yield* archiveToScript : undefined
    const stages = yield* Files.openDump(file, manifest, key, { checksum: true })
    // A file from plain pg_dump has no size to hold it to (its stand-in manifest says 0).
    const expectedBytes = manifest.tool?.name === "pg_dump" ? undefined : manifest.sizes?.dump
    let bytes = 0
    const counted = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        bytes += chunk.length
        callback(null, chunk)
      },
      flush(callback) {
        if (expectedBytes !== undefined && bytes !== expectedBytes) {
          return callback(new Error(`decompressed to ${bytes} bytes, the manifest says ${expectedBytes}`))
        }
        callback()
      }
    })
    const script = new PassThrough({ highWaterMark: 1 << 20 }) // decompression runs ahead of the server
    const feed = [...stages, ...progressStage(file, stages, onProgress), counted] as Array<NodeJS.ReadWriteStream>
    restore?.stdout.pipe(script)
    const fed = settle(pipeline([...feed, restore?.stdin ?? script] as Array<NodeJS.ReadWriteStream>))
    const session = yield* openTarget(url, serverMajor)
    const ran = yield* Effect.exit(runScript(session.target, script, {}))
    if (Exit.isFailure(ran)) {
      // pg_restore's output is discarded from here: it runs to its end, so its exit code is its own.
      restore?.stdout.unpipe(script).resume()
      script.destroy()
    }
    // The feed's own failure (a check of the file) explains a run that could not read on; a run
    // that failed by itself (the server, a refusal) ended the feed, and its error is the one.
    const feedError = feedFailure(file, yield* Effect.promise(() => fed))
    if (feedError !== undefined && (Exit.isSuccess(ran) || readFailed(ran.cause))) return yield* feedError
    if (restore !== undefined) yield* restore.finished
    if (Exit.isFailure(ran)) return yield* Effect.failCause(Cause.map(ran.cause, withFile(file)))
    yield* session.commit
    return { copied: copiedByTable(ran.value.copies), skippedSettings: ran.value.skippedSettings } satisfies Loaded
  }).pipe(Effect.scoped)

/** `schema.table` as the manifest names it, from a COPY's table as the script spells it. */
const catalogName = (table: string): string | undefined => {
  const parts = new RegExp(String.raw`^(${IDENT})\.(${IDENT})$`).exec(table)
  return parts ? `${unquote(parts[1]!)}.${unquote(parts[2]!)}` : undefined
}

/** The embedded database has no pg_restore: custom-format backups are refused, before anything is touched. */
export const checkEmbeddedFormat = (manifest: Manifest) =>
  manifest.format === "custom"
    ? Effect.fail(
      new NotSupportedOnEmbedded({
        feature: "restoring a custom-format backup (pg_restore)",
        instead: "use a plain-format backup (dbkit backup --format plain) for the embedded database"
      })
    )
    : Effect.void

/**
 * Streams the plain dump in `file` into the embedded database through `load`, in its
 * transaction (or the caller's, see `EmbeddedLoad`). The server's owners are left out (PGlite has
 * only `postgres`, who then owns everything) and the roles that grants and policies name are
 * created when missing. Decompression is checked on the way in, as for psql: a gzip failure or a
 * size other than the manifest's is `BackupCorrupt`, and the transaction is rolled back.
 */
export const loadEmbedded = (
  load: EmbeddedLoad,
  file: string,
  manifest: Manifest,
  key: Redacted.Redacted<string> | undefined,
  onProgress?: (progress: LoadProgress) => void
) =>
  Effect.gen(function*() {
    yield* checkEmbeddedFormat(manifest)
    const stages = yield* Files.openDump(file, manifest, key)
    const script = new PassThrough()
    // Settles with the error that stopped the feed, if any (the script stream fails with it too).
    const fed = pipeline(
      [...stages, ...progressStage(file, stages, onProgress), script] as Array<NodeJS.ReadWriteStream>
    ).then(
      () => undefined,
      (error: NodeJS.ErrnoException) => error
    )
    const exit = yield* Effect.exit(load(script, { skipOwnership: true, createMissingRoles: true }))
    if (Exit.isFailure(exit)) {
      script.destroy()
      const feedError = yield* Effect.promise(() => fed)
      if (feedError !== undefined && feedError.code !== "ERR_STREAM_PREMATURE_CLOSE") {
        return yield* new BackupCorrupt({ file, reason: feedError.message })
      }
      return yield* Effect.failCause(Cause.map(exit.cause, withFile(file)))
    }
    const loaded = exit.value
    const feedError = yield* Effect.promise(() => fed)
    if (feedError !== undefined) return yield* new BackupCorrupt({ file, reason: feedError.message })
    // A file from plain pg_dump has no size to hold it to (its stand-in manifest says 0).
    if (
      manifest.tool?.name !== "pg_dump" && manifest.sizes?.dump !== undefined && loaded.bytes !== manifest.sizes.dump
    ) {
      return yield* new BackupCorrupt({
        file,
        reason: `decompressed to ${loaded.bytes} bytes, the manifest says ${manifest.sizes.dump}`
      })
    }
    return { copied: copiedByTable(loaded.copies), rolesCreated: loaded.rolesCreated } satisfies Loaded & {
      readonly rolesCreated: ReadonlyArray<string>
    }
  })

/**
 * The manifest's tables the load's own counts (psql's COPY tags) do not vouch for, to be counted
 * with count(*): those without a tag, and those whose tag differs from the manifest — a tag counts
 * a table's own rows, the manifest (like count(*)) an inheritance parent's children's rows too.
 */
export const uncounted = (manifest: Manifest, loaded?: Loaded): Array<string> =>
  Object.entries(manifest.tables).filter(([table, rows]) => loaded?.copied[table] !== rows).map(([table]) => table)

/** Row counts of `tables` in the current database; null for a table that is not there. */
export const countRows = (tables: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const counts: Record<string, number | null> = {}
    for (const table of tables) {
      // `schema.table` as the manifest joins them: a dot inside a name makes splitting ambiguous,
      // so the catalog is asked which relation has that joined name.
      const [found] = yield* sql<{ name: string }>`
        SELECT format('%I.%I', n.nspname, c.relname) AS name
          FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname || '.' || c.relname = ${table} AND c.relkind IN ('r', 'p', 'f', 'm')
         LIMIT 1`
      counts[table] = found === undefined
        ? null
        : Number((yield* sql.unsafe<{ n: string }>(`SELECT count(*)::text AS n FROM ${found.name}`))[0]!.n)
    }
    return counts
  })

/**
 * The manifest's row counts against `counted` (see countRows) and, for the tables not counted
 * there, what the load copied (psql's tags); fails on any difference.
 */
export const judgeCounts = (
  file: string,
  manifest: Manifest,
  loaded: Loaded | undefined,
  counted: Readonly<Record<string, number | null>>
) =>
  Effect.suspend(() => {
    const rows = Object.entries(manifest.tables).map(([table, expected]) => ({
      table,
      expected,
      actual: table in counted ? counted[table] ?? null : loaded?.copied[table] ?? null
    }))
    const mismatched = rows.filter((r) => r.actual !== r.expected)
    if (mismatched.length > 0) return Effect.fail(new RestoreTestMismatch({ file, tables: mismatched }))
    return Effect.succeed({
      tables: rows.length,
      rows: rows.reduce((sum, r) => sum + (r.actual ?? 0), 0),
      countsChecked: true
    })
  })

/**
 * What a load of a file without a manifest (plain pg_dump) brought in, by its own COPYs: there is
 * nothing to compare it with, and `countsChecked` says so.
 */
export const uncheckedCounts = (loaded: Loaded) => {
  const rows = Object.values(loaded.copied)
  return { tables: rows.length, rows: rows.reduce((sum, n) => sum + n, 0), countsChecked: false }
}

/**
 * Row counts of the manifest's tables in the current database (or, where given, what the load
 * copied into them); fails on any difference.
 */
export const compareCounts = (file: string, manifest: Manifest, loaded?: Loaded) =>
  Effect.flatMap(countRows(uncounted(manifest, loaded)), (counted) => judgeCounts(file, manifest, loaded, counted))
