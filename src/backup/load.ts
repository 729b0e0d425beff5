/**
 * Loading a verified dump into a database with PostgreSQL's own tools — psql for plain dumps,
 * pg_restore for custom ones — in one transaction that stops at the first error, then comparing
 * the result's row counts with the manifest. Used by `backups verify --restore-test` and by
 * `restore`. The embedded database has no psql: plain dumps go through PlainDump.ts instead.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Redacted from "effect/Redacted"
import { type ChildProcess, spawn } from "node:child_process"
import * as fs from "node:fs"
import { PassThrough, type Readable, Transform, Writable } from "node:stream"
import { pipeline } from "node:stream/promises"
import { type EmbeddedLoad, NotSupportedOnEmbedded } from "../Database.js"
import * as PgTools from "../PgTools.js"
import type { Manifest } from "./Backup.js"
import { BackupChecksumMismatch, BackupCorrupt, RestoreTestMismatch } from "./errors.js"
import { copyTable, IDENT, unquote } from "./copyRows.js"
import * as Files from "./files.js"

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

/** What a load did: rows each COPY brought in, per `schema.table` (plain dumps, from psql's tags). */
export interface Loaded {
  readonly copied: Readonly<Record<string, number>>
}

/** psql for plain dumps, pg_restore for custom ones. */
export const toolFor = (manifest: Manifest): PgTools.Tool => (manifest.format === "plain" ? "psql" : "pg_restore")

/**
 * psql and pg_restore must be at least as new as the server and as the pg_dump that wrote the
 * file (an 18 dump carries `\restrict`, which psql 15 does not know).
 */
export const checkTool = (manifest: Manifest, serverMajor: number) =>
  Effect.gen(function*() {
    const tool = toolFor(manifest)
    const have = yield* PgTools.major(tool)
    if (have < serverMajor) return yield* new PgTools.PgToolTooOld({ tool, toolMajor: have, serverMajor, because: "server" })
    const writtenBy = manifest.tool?.pgDump ?? 0
    if (have < writtenBy) {
      return yield* new PgTools.PgToolTooOld({ tool, toolMajor: have, serverMajor: writtenBy, because: "backup" })
    }
  })

const COPY_TAG = /^COPY (\d+)$/
const BEGIN = Buffer.from("BEGIN;\n")
const COMMIT = Buffer.from("\nCOMMIT;\n")

/**
 * Reads psql's `--echo-queries` output: each `COPY … FROM stdin;` it echoes is followed by the
 * server's `COPY n` tag for it. That gives the row counts without counting tables afterwards.
 * `last` is the last line: the `COMMIT` tag when psql ran the feed's closing COMMIT.
 */
const copyTags = () => {
  const copied: Record<string, number> = {}
  let carry = ""
  let pending: string | undefined
  let last = ""
  const line = (text: string) => {
    const tag = pending !== undefined ? COPY_TAG.exec(text) : null
    if (tag && pending !== undefined) copied[pending] = (copied[pending] ?? 0) + Number(tag[1])
    pending = copyTable(text)
    if (text !== "") last = text
  }
  return {
    copied,
    last: () => last,
    write: (chunk: Buffer) => {
      const lines = (carry + chunk.toString("utf8")).split("\n")
      carry = lines.pop()!
      for (const text of lines) line(text)
    },
    end: () => carry && line(carry)
  }
}

/** The feed's error when the child closed its input (it exited) before the feed ended. */
const inputClosed = (tool: PgTools.Tool) => Object.assign(new Error(`${tool} stopped reading its input`), { code: "EPIPE" })

/**
 * The child's stdin as the end of a pipeline. If the feed fails, the child is killed before its
 * stdin is closed, so it never acts on an end of input (see loadDump: psql only COMMITs what the
 * feed appended after every check). A child that exits early ends the feed with an EPIPE error,
 * whether or not a write was waiting for `drain` (a destroyed stdin emits neither).
 */
const stdinOf = (child: ChildProcess, tool: PgTools.Tool) => {
  const stdin = child.stdin!
  let ended = false
  const sink: Writable = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      if (stdin.destroyed) return callback(inputClosed(tool))
      if (stdin.write(chunk)) callback()
      else stdin.once("drain", () => callback())
    },
    final(callback) {
      if (stdin.destroyed) return callback(inputClosed(tool))
      ended = true
      stdin.end(callback)
    },
    destroy(error, callback) {
      if (error !== null) child.kill("SIGKILL")
      stdin.destroy()
      callback(error)
    }
  })
  stdin.on("error", (error) => sink.destroy(error)) // EPIPE: the child stopped reading (it failed)
  stdin.on("close", () => ended || sink.destroy(inputClosed(tool)))
  return sink
}

/**
 * Streams the dump in `file` into the database at `url` and fails on any error. Callers load
 * into a new or staging database and drop it on failure, so a partial load never survives.
 *
 * The file is checked on the way in, where its bytes are read anyway: its sha256 against the
 * manifest before the last bytes are passed on, each chunk's tag before its bytes are passed on
 * (encryption format 2; a format-1 file was authenticated in a pass before, see
 * Files.checkBeforeLoad), gzip's CRC and the byte count against the manifest. psql gets the dump
 * between a `BEGIN;` and a `COMMIT;` that is appended only once all of that has passed: if any
 * check fails, or dbkit itself dies, psql reaches the end of its input without a COMMIT and the
 * server rolls the transaction back (a failed feed also kills psql first). pg_restore reads its
 * archive whole and commits by itself; there each chunk is still authenticated before it goes in.
 *
 * This child is spawned with node:child_process rather than @effect/platform's Command: that
 * stdin writer does not wait for `drain`, so a slow psql made it buffer the whole dump (364 MB
 * peak for a 516 MB database, measured); stream.pipeline keeps memory to a few chunks.
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
    const tool = toolFor(manifest)
    yield* checkTool(manifest, serverMajor) // the version is asked once per process: free when the caller checked already
    const args = tool === "psql"
      ? ["-X", "--echo-queries", "-v", "ON_ERROR_STOP=1", "-f", "-"] // BEGIN / COMMIT come with the feed
      : ["--no-owner", "--single-transaction", "--exit-on-error", "-d", PgTools.pgEnv(url).PGDATABASE!]
    const stages = yield* Files.openDump(file, manifest, key, { checksum: true })
    // A file from plain pg_dump has no size to hold it to (its stand-in manifest says 0).
    const expectedBytes = manifest.tool?.name === "pg_dump" ? undefined : manifest.sizes?.dump
    return yield* Effect.async<Loaded, PgTools.PgToolFailed | PgTools.PgToolMissing | BackupCorrupt | BackupChecksumMismatch>((resume) => {
      const child = spawn(tool, args, {
        env: { ...process.env, ...PgTools.pgEnv(url, `dbkit-${tool}`) },
        stdio: ["pipe", "pipe", "pipe"]
      })
      let stderr = ""
      let bytes = 0
      const tags = copyTags()
      child.stdout.on("data", tags.write)
      child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()))
      // Counts the dump's bytes as they pass; for psql, frames them in BEGIN … COMMIT, the COMMIT
      // only after the checks upstream (checksum, last chunk's tag, gzip's CRC) and the size here.
      const framed = new Transform({
        transform(chunk: Buffer, _encoding, callback) {
          if (bytes === 0 && tool === "psql") this.push(BEGIN)
          bytes += chunk.length
          callback(null, chunk)
        },
        flush(callback) {
          if (expectedBytes !== undefined && bytes !== expectedBytes) {
            return callback(new Error(`decompressed to ${bytes} bytes, the manifest says ${expectedBytes}`))
          }
          if (tool !== "psql") return callback()
          if (bytes === 0) this.push(BEGIN)
          callback(null, COMMIT)
        }
      })
      // Settles with the error that stopped the feed, if any; awaited before judging the exit.
      const fed = pipeline([...stages, ...progressStage(file, stages, onProgress), framed, stdinOf(child, tool)] as Array<NodeJS.ReadWriteStream>).then(
        () => undefined,
        (error: NodeJS.ErrnoException) => error
      )
      child.once("error", () => resume(Effect.fail(new PgTools.PgToolMissing({ tool }))))
      child.once("close", (code) => {
        tags.end()
        void fed.then((feedError) => {
          if (feedError instanceof Files.StreamedChecksumMismatch) {
            resume(Effect.fail(new BackupChecksumMismatch({ file, expected: feedError.expected, actual: feedError.actual })))
          } else if (feedError !== undefined && feedError.code !== "EPIPE") {
            // The file failed a check on the way in: psql was killed before the end of its input.
            resume(Effect.fail(new BackupCorrupt({ file, reason: feedError.message })))
          } else if (code !== 0) {
            resume(Effect.fail(new PgTools.PgToolFailed({ tool, exitCode: code ?? -1, stderr: PgTools.scrub(stderr, url) })))
          } else if (tool === "psql" && (feedError !== undefined || tags.last() !== "COMMIT")) {
            // psql ended on its own before the end of the dump (a `\q` in it): it never ran the COMMIT.
            const reason = `${PgTools.scrub(stderr, url)}\npsql stopped before the end of the dump; nothing was committed`
            resume(Effect.fail(new PgTools.PgToolFailed({ tool, exitCode: 0, stderr: reason })))
          } else {
            resume(Effect.succeed({ copied: tags.copied }))
          }
        })
      })
      return Effect.sync(() => void child.kill("SIGTERM"))
    })
  })

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
    const fed = pipeline([...stages, ...progressStage(file, stages, onProgress), script] as Array<NodeJS.ReadWriteStream>).then(
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
      return yield* Effect.failCause(exit.cause)
    }
    const loaded = exit.value
    const feedError = yield* Effect.promise(() => fed)
    if (feedError !== undefined) return yield* new BackupCorrupt({ file, reason: feedError.message })
    // A file from plain pg_dump has no size to hold it to (its stand-in manifest says 0).
    if (manifest.tool?.name !== "pg_dump" && manifest.sizes?.dump !== undefined && loaded.bytes !== manifest.sizes.dump) {
      return yield* new BackupCorrupt({ file, reason: `decompressed to ${loaded.bytes} bytes, the manifest says ${manifest.sizes.dump}` })
    }
    const copied: Record<string, number> = {}
    for (const copy of loaded.copies) {
      const table = catalogName(copy.table)
      if (table !== undefined) copied[table] = (copied[table] ?? 0) + copy.rows
    }
    return { copied, rolesCreated: loaded.rolesCreated } satisfies Loaded & { readonly rolesCreated: ReadonlyArray<string> }
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
    return Effect.succeed({ tables: rows.length, rows: rows.reduce((sum, r) => sum + (r.actual ?? 0), 0) })
  })

/**
 * Row counts of the manifest's tables in the current database (or, where given, what the load
 * copied into them); fails on any difference.
 */
export const compareCounts = (file: string, manifest: Manifest, loaded?: Loaded) =>
  Effect.flatMap(countRows(uncounted(manifest, loaded)), (counted) => judgeCounts(file, manifest, loaded, counted))
