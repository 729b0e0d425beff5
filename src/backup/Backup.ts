/**
 * Backup: consistent, compressed, optionally encrypted, checksummed backups with a manifest.
 *
 * On a server, a REPEATABLE READ transaction exports its snapshot; pg_dump runs on that snapshot
 * and the per-table row counts for the manifest describe exactly what the file holds: a plain
 * script's are counted from its COPY blocks as it streams past (copyRows.ts), a custom archive's
 * with count(*) in the snapshot. pg_dump's stdout streams through gzip and AES-256-GCM into a
 * 0600 temp file that is fsynced and renamed only when everything succeeded: memory stays
 * constant, and a failure (pg_dump error, disk full) leaves no file behind.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Cause from "effect/Cause"
import * as Config from "effect/Config"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import { type ChildProcess, spawn } from "node:child_process"
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import { durable, writeDurably } from "./durable.js"
import * as path from "node:path"
import { PassThrough, Readable, type Transform } from "node:stream"
import { pipeline } from "node:stream/promises"
import { createGzip } from "node:zlib"
import { DbConfig } from "../Config.js"
import { type ConnectError, Database, type DatabaseUnavailable, EMBEDDED_PG_MAJOR, NotSupportedOnEmbedded } from "../Database.js"
import type { PlainDumpFailed } from "../embedded/PlainDump.js"
import { quoteIdent } from "../Identifier.js"
import * as PgTools from "../PgTools.js"
import * as Scratch from "../Scratch.js"
import { copyRowCounter } from "./copyRows.js"
import { encryptStream, prepareEncryption } from "./crypto.js"
import { BackupCorrupt, type VerifyError } from "./errors.js"
import * as Files from "./files.js"
import { screenDump } from "./screen.js"
import * as Leftovers from "./leftovers.js"
import * as Load from "./load.js"
import { selectForPruning } from "./retention.js"
import type { Manifest } from "./manifest.js"
import { originOf, sign, signingKey } from "./signature.js"
import { makeDirectories } from "../Directories.js"

export type { Manifest } from "./manifest.js"

export interface BackupOptions {
  readonly format?: "plain" | "custom" | undefined
  /** 0–9 (default 6). */
  readonly compress?: number | undefined
  readonly schemaOnly?: boolean | undefined
  readonly dataOnly?: boolean | undefined
  readonly excludeTable?: ReadonlyArray<string> | undefined
  /** Only these schemas (pg_dump --schema), e.g. one schema-per-tenant tenant's. */
  readonly schemas?: ReadonlyArray<string> | undefined
  /** File name prefix instead of the database's name (`tenant_acme` → `tenant_acme_backup_…`). */
  readonly label?: string | undefined
  /** Directory (default DBKIT_BACKUP_DIR). */
  readonly out?: string | undefined
  /** Bytes written so far, as the file grows. */
  readonly onProgress?: ((bytes: number) => void) | undefined
}

export interface BackupResult {
  readonly file: string
  readonly manifestFile: string
  readonly manifest: Manifest
  readonly durationMs: number
  /** `.partial` files that killed backups of this database had left, deleted first. */
  readonly leftoversRemoved: ReadonlyArray<string>
}

/** The backup could not be written (disk full, permissions); nothing was left behind. */
export class BackupWriteFailed extends Data.TaggedError("BackupWriteFailed")<{ readonly file: string; readonly reason: string }> {
  override get message() {
    return `could not write ${this.file}: ${this.reason}; no backup file was left behind`
  }
}

/** Options that contradict each other. */
export class InvalidBackupOptions extends Data.TaggedError("InvalidBackupOptions")<{ readonly reason: string }> {
  override get message() {
    return this.reason
  }
}

export type BackupError =
  | DatabaseUnavailable
  | PgTools.PgToolMissing
  | PgTools.PgToolTooOld
  | PgTools.PgToolFailed
  | BackupWriteFailed
  | InvalidBackupOptions
  | NotSupportedOnEmbedded
  | SqlError

/** One backup in a directory, for `backups list`. */
export interface BackupListing {
  readonly file: string
  readonly createdAt: string
  readonly bytes: number
  readonly database: string
  readonly environment: string
  readonly encrypted: boolean
  readonly format: "plain" | "custom"
  /** When it last passed `verify`, and whether that included a test restore. */
  readonly verified: { readonly at: string; readonly restoreTest: boolean } | null
}

export interface VerifyResult {
  readonly file: string
  readonly checksum: "ok"
  /** "signed": its manifest's signature verifies under a key held here; otherwise "unverified" (see originReason). */
  readonly origin: "signed" | "unverified"
  /** Why the origin is unverified (no manifest, an unsigned one, another machine's key); empty when signed. */
  readonly originReason: string
  readonly decrypted: boolean
  readonly dumpBytes: number
  readonly restoreTest: { readonly tables: number; readonly rows: number } | null
}

export interface PruneOptions {
  readonly keepLast?: number | undefined
  readonly keepDays?: number | undefined
  readonly dryRun?: boolean | undefined
  readonly directory?: string | undefined
  /** Also drop the staging databases killed restores of this database left (when it can be reached). */
  readonly databaseUrl?: Option.Option<Redacted.Redacted<string>> | undefined
}

/** What a prune deleted (or, with `dryRun`, would delete). */
export interface PruneResult {
  readonly kept: ReadonlyArray<BackupListing>
  readonly pruned: ReadonlyArray<BackupListing>
  /** `.partial` files and staging databases that killed backups and restores left. */
  readonly leftoversRemoved: Leftovers.Removed
}

/** The Backup service. */
export class Backup extends Context.Tag("dbkit/Backup")<Backup, {
  /** Writes a backup and its manifest. */
  readonly backup: (options?: BackupOptions) => Effect.Effect<BackupResult, BackupError>
  /** Backups in a directory (default DBKIT_BACKUP_DIR), newest first. */
  readonly list: (directory?: string) => Effect.Effect<ReadonlyArray<BackupListing>>
  /**
   * Checks a backup without touching the configured database: its manifest's signature (the
   * result's `origin`; a forged manifest fails), checksum, key, authenticated
   * decryption, full decompression, and with `restoreTest` a restore into a scratch database
   * (an in-memory PGlite on the embedded database) whose row counts must match the manifest's.
   */
  readonly verify: (
    file: string,
    options?: { readonly restoreTest?: boolean | undefined }
  ) => Effect.Effect<
    VerifyResult,
    | VerifyError
    | PgTools.PgToolFailed
    | PgTools.PgToolMissing
    | PgTools.PgToolTooOld
    | PlainDumpFailed
    | NotSupportedOnEmbedded
    | ConnectError
    | SqlError
  >
  /**
   * Deletes backups (file, manifest, verification record) outside the retention rules; the
   * newest backup and the newest verified one are always kept. Also removes what killed backups
   * and restores left (`.partial` files, staging databases). `dryRun` only says what would go.
   */
  readonly prune: (options: PruneOptions) => Effect.Effect<PruneResult, InvalidBackupOptions>
}>() {}

declare const __DBKIT_VERSION__: string | undefined
const dbkitVersion = typeof __DBKIT_VERSION__ === "string" ? __DBKIT_VERSION__ : "0.1.0"

/** `2026-11-23_13-05-09`: the time part of backup file names. */
export const stamp = (date: Date) => date.toISOString().replace(/\.\d+Z$/, "").replace("T", "_").replace(/:/g, "-")

/** `stem.ext`, or `stem-2.ext`, … when a backup of that name (or its temp file) already exists. */
const freeName = (directory: string, stem: string, extension: string) => {
  for (let n = 1;; n++) {
    const name = `${stem}${n === 1 ? "" : `-${n}`}${extension}`
    const full = path.join(directory, name)
    if (!fs.existsSync(full) && !fs.existsSync(`${full}.partial`) && !fs.existsSync(`${full}.json`)) return name
  }
}

const ignoreChunk = () => {}

/** A path's stat, or undefined when there is none to take (ENOENT, ENOTDIR below a file, EACCES). */
const statOrUndefined = (at: string) => {
  try {
    return fs.statSync(at)
  } catch {
    return undefined
  }
}

/** Why `directory` cannot hold backups ("is empty", "is a file", …), or undefined if it can (or can be made). */
const unusableDirectory = (directory: string): string | undefined => {
  if (directory.trim() === "") return "is empty: name a directory"
  for (let at = path.resolve(directory), below = ""; ; below = at, at = path.dirname(at)) {
    const stat = statOrUndefined(at)
    if (stat !== undefined) {
      if (stat.isDirectory()) return undefined
      return at === path.resolve(directory) ? `${directory} is a file, not a directory` : `${directory} cannot be made: ${at} is a file`
    }
    if (at === below) return undefined
  }
}

/** The key manifests are signed with (signature.ts); a key file that cannot be made or read stops the backup. */
const signer = (key: Redacted.Redacted<string> | undefined) =>
  Effect.mapError(signingKey(key), (error) => new BackupWriteFailed({ file: error.file, reason: error.reason }))

/** Counts bytes flowing through. */
const counter = (onBytes: (n: number) => void): Transform =>
  new PassThrough().on("data", (chunk: Buffer) => onBytes(chunk.length))

const make = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const database = yield* Database
  const config = yield* DbConfig
  const [server] = yield* Effect.orDie(sql<{ version: string; num: number }>`
    SELECT current_setting('server_version') AS version, current_setting('server_version_num')::int AS num`)
  const serverVersion = server!.version
  const serverVersionNum = server!.num

  /** Validates options shared by both databases. */
  const checkOptions = (options: BackupOptions) =>
    Effect.gen(function*() {
      if (options.schemaOnly && options.dataOnly) {
        return yield* new InvalidBackupOptions({ reason: "--schema-only and --data-only exclude each other" })
      }
      const level = options.compress ?? 6
      if (!Number.isInteger(level) || level < 0 || level > 9) {
        return yield* new InvalidBackupOptions({ reason: "--compress must be a whole number from 0 to 9" })
      }
      if (database.kind === "embedded" && options.format === "custom") {
        return yield* new InvalidBackupOptions({ reason: "the embedded database is backed up in plain format only" })
      }
      const unusable = unusableDirectory(options.out ?? config.backupDir)
      if (unusable !== undefined) {
        return yield* new InvalidBackupOptions({ reason: `${options.out !== undefined ? "--out" : "DBKIT_BACKUP_DIR"} ${unusable}` })
      }
      return level
    })

  const dumpArgs = (options: BackupOptions, level: number) => [
    `--format=${options.format === "custom" ? "c" : "p"}`,
    ...(options.format === "custom" ? [`--compress=${level}`] : []),
    ...(options.schemaOnly ? ["--schema-only"] : []),
    ...(options.dataOnly ? ["--data-only"] : []),
    ...(options.excludeTable ?? []).flatMap((t) => ["--exclude-table", t]),
    // pg_dump takes a pattern; a schema name with pattern characters is quoted to mean itself.
    ...(options.schemas ?? []).flatMap((s) => ["--schema", /^[a-z_][a-z0-9_]*$/.test(s) ? s : quoteIdent(s)])
  ]

  /** The dump's bytes, the snapshot's row counts and migration head, from the server's pg_dump. */
  const fromServer = (url: Redacted.Redacted<string>, options: BackupOptions, level: number) =>
    Effect.gen(function*() {
      const serverMajor = Math.floor(serverVersionNum / 10000)
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
        yield* Effect.acquireRelease(run("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY"), () => Effect.ignore(run("ROLLBACK")))
        const [{ snapshot }] = (yield* run("SELECT pg_export_snapshot() AS snapshot")) as [{ snapshot: string }]
        return { run, snapshot }
      })
      const [pgDumpMajor, { run, snapshot }] = yield* Effect.all([versionCheck, snapshotted], { concurrency: 2 })
      const dump = yield* spawnPgDump([`--snapshot=${snapshot}`, "--no-password", ...dumpArgs(options, level)], url)
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
        Effect.map(counts !== undefined ? Effect.succeed(counts) : countFromCopies(run, tables, copies!.copied), (counted) => ({
          tables: counted,
          head
        })))
      return { bytes: dump.stdout, scan: copies?.write, finished: dump.finished, details, pgDump: pgDumpMajor }
    })

  /** The same from the embedded database's own pg_dump, holding its one session throughout. */
  const fromEmbedded = (
    dump: (args: ReadonlyArray<string>) => Effect.Effect<Blob, DatabaseUnavailable>,
    options: BackupOptions,
    level: number
  ) =>
    Effect.gen(function*() {
      const conn = yield* sql.reserve
      const run = (text: string) => conn.executeUnprepared(text, [], undefined)
      const tables = options.schemaOnly ? {} : yield* countRows(run, yield* userTables(run, options.excludeTable ?? [], options.schemas))
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
      }
    })

  const backup = (options: BackupOptions = {}) =>
    Effect.scoped(
      Effect.gen(function*() {
        const level = yield* checkOptions(options)
        const started = Date.now()
        // scrypt (~0.1 s, twice: the file's key and the fingerprint) runs off the main thread
        // while pg_dump starts.
        const key = Option.getOrUndefined(yield* backupKey)
        const preparing = key ? yield* Effect.fork(Effect.promise(() => prepareEncryption(key))) : undefined
        // The local signing key is read (made, on first use) before pg_dump starts: a place it
        // cannot be written stops the backup before it costs anything. DB_BACKUP_KEY's is derived
        // once the encryption's scrypt has run (it reuses it).
        const localSigner = key ? undefined : yield* signer(undefined)
        const source = yield* Option.match(database.url, {
          onSome: (url) => fromServer(url, options, level),
          onNone: () =>
            Option.match(database.embeddedDump, {
              onNone: () => Effect.fail(new NotSupportedOnEmbedded({ feature: "backup of this database" })),
              onSome: (dump) => fromEmbedded(dump, options, level)
            })
        })
        const format = options.format ?? "plain"
        const encryption = preparing ? yield* Fiber.join(preparing) : undefined
        const directory = options.out ?? config.backupDir
        const createdAt = new Date()
        // Unfinished files of killed backups of this database (nobody writing them) go first.
        const leftoversRemoved = (yield* Leftovers.removeStalePartialFiles(directory, createdAt, options.label ?? database.database)).map((f) => f.file)
        const extension = `${format === "plain" ? ".sql.gz" : ".dump"}${key ? ".enc" : ""}`
        const base = freeName(directory, `${options.label ?? database.database}_backup_${stamp(createdAt)}`, extension)
        const file = path.resolve(directory, base)
        const temp = `${file}.partial`
        let dumpBytes = 0
        let fileBytes = 0
        const hash = createHash("sha256")
        yield* Effect.try({
          try: () => makeDirectories(directory),
          catch: (cause) => new BackupWriteFailed({ file: directory, reason: (cause as Error).message })
        })
        // Whatever ends this scope before the rename (failure, Ctrl-C), our temp file goes —
        // only ours: `opened` is set once this process created it (flags "wx").
        let opened = false
        let renamed = false
        yield* Effect.addFinalizer(() =>
          Effect.sync(() => {
            if (opened && !renamed) fs.rmSync(temp, { force: true })
          })
        )
        const written = Effect.tryPromise({
          try: () =>
            pipeline(
              source.bytes,
              counter((n) => (dumpBytes += n)).on("data", source.scan ?? ignoreChunk),
              ...(format === "plain" ? [createGzip({ level })] : []),
              ...(encryption ? [encryptStream(encryption)] : []),
              counter((n) => {
                fileBytes += n
                options.onProgress?.(fileBytes)
              }).on("data", (chunk: Buffer) => hash.update(chunk)),
              fs.createWriteStream(temp, { mode: 0o600, flags: "wx" }).once("open", () => (opened = true))
            ),
          catch: (cause) => new BackupWriteFailed({ file, reason: (cause as Error).message })
        })
        const outcome = yield* Effect.exit(written)
        const finished = yield* Effect.exit(source.finished)
        if (outcome._tag === "Failure" || finished._tag === "Failure") {
          // A write that failed for a reason of its own (disk full, permissions) is the story;
          // otherwise pg_dump's failure explains a broken pipe better than the pipe does.
          const writeCause = outcome._tag === "Failure" ? Cause.squash(outcome.cause) : undefined
          const ownReason = writeCause instanceof BackupWriteFailed && /ENOSPC|EDQUOT|EFBIG|EACCES|EROFS|EEXIST/.test(writeCause.reason)
          if (outcome._tag === "Failure" && (ownReason || finished._tag === "Success")) return yield* Effect.failCause(outcome.cause)
          if (finished._tag === "Failure") return yield* Effect.failCause(finished.cause)
        }
        if (dumpBytes === 0) {
          // pg_dump always writes a header; nothing at all means the bytes were lost on the way.
          return yield* new BackupWriteFailed({ file, reason: "the dump was empty" })
        }
        const { head, tables } = yield* source.details
        const unsigned: Manifest = {
          tool: { name: "dbkit", version: dbkitVersion, pgDump: source.pgDump },
          createdAt: createdAt.toISOString(),
          file: base,
          database: database.database,
          target: database.target,
          environment: config.environment,
          serverVersion,
          migrationHead: head,
          format,
          compression: { algorithm: format === "plain" ? "gzip" : "pg_dump", level },
          encryption: encryption ? { algorithm: "aes-256-gcm", kdf: "scrypt", keyFingerprint: encryption.fingerprint } : null,
          contents: options.schemaOnly ? "schema-only" : options.dataOnly ? "data-only" : "full",
          excludedTables: options.excludeTable ?? [],
          sizes: { dump: dumpBytes, file: fileBytes },
          sha256: hash.digest("hex"),
          tables
        }
        const manifest = sign(unsigned, localSigner ?? (yield* signer(key)))
        const manifestFile = `${file}.json`
        yield* Effect.try({
          try: () => {
            durable(temp)
            fs.renameSync(temp, file)
            renamed = true
            writeDurably(manifestFile, JSON.stringify(manifest, null, 2) + "\n")
            durable(directory)
          },
          catch: (cause) => {
            fs.rmSync(temp, { force: true })
            return new BackupWriteFailed({ file, reason: (cause as Error).message })
          }
        })
        return { file, manifestFile, manifest, durationMs: Date.now() - started, leftoversRemoved } satisfies BackupResult
      })
    )

  const list = (directory = config.backupDir) => listBackups(directory)

  const verify = (file: string, options: { readonly restoreTest?: boolean | undefined } = {}) =>
    checkFile(file, options.restoreTest === true ? testRestore : undefined)

  /**
   * Restores into a scratch database (dropped afterwards) and compares row counts with the
   * manifest: a new database on the server (psql / pg_restore), a fresh in-memory PGlite on the
   * embedded database (plain dumps only).
   */
  const testRestore = (file: string, manifest: Manifest, key: Redacted.Redacted<string> | undefined) =>
    Effect.gen(function*() {
      const scratch = yield* Scratch.make("dbkit_restore_test").pipe(
        Effect.provideService(SqlClient.SqlClient, sql),
        Effect.provideService(Database, database)
      )
      if (Option.isNone(scratch.url)) {
        return yield* Effect.flatMap(Database, (embedded) =>
          Option.match(embedded.embeddedLoad, {
            onNone: () => Effect.fail(new NotSupportedOnEmbedded({ feature: "verify --restore-test" })),
            onSome: (load) =>
              Effect.flatMap(Load.loadEmbedded(load, file, manifest, key), (loaded) => Load.compareCounts(file, manifest, loaded))
          })).pipe(Effect.provide(scratch.layer))
      }
      const loaded = yield* Load.loadDump(file, manifest, key, scratch.url.value, Math.floor(serverVersionNum / 10000))
      return yield* Load.compareCounts(file, manifest, loaded).pipe(Effect.provide(scratch.layer))
    })

  const prune = (options: PruneOptions) =>
    pruneBackups({ databaseUrl: database.url, ...options, directory: options.directory ?? config.backupDir })

  return Backup.of({ backup, list, verify, prune })
})

/** Backups in a directory, newest first (reads files only; no database). */
export const listBackups = (directory: string): Effect.Effect<ReadonlyArray<BackupListing>> =>
Effect.sync(() => {
    if (!fs.existsSync(directory)) return []
    const listings: Array<BackupListing> = []
    for (const name of fs.readdirSync(directory)) {
      if (!name.endsWith(".json") || name.endsWith(".verified.json")) continue
      const file = path.join(directory, name.slice(0, -".json".length))
      if (!fs.existsSync(file)) continue
      try {
        const manifest = JSON.parse(fs.readFileSync(`${file}.json`, "utf8")) as Manifest
        const verifiedFile = `${file}.verified.json`
        listings.push({
          file,
          createdAt: manifest.createdAt,
          bytes: fs.statSync(file).size,
          database: manifest.database,
          environment: manifest.environment,
          encrypted: manifest.encryption !== null,
          format: manifest.format,
          verified: fs.existsSync(verifiedFile) ? JSON.parse(fs.readFileSync(verifiedFile, "utf8")) : null
        })
      } catch {
        // not a dbkit manifest: not ours to list
      }
    }
    return listings.sort((a, b) => b.createdAt.localeCompare(a.createdAt))
  })

/**
 * Deletes backups outside the retention rules (file, manifest, verification record); the newest
 * backup and the newest verified one are always kept. Leftovers go too: `.partial` files nobody
 * is writing, and — with `databaseUrl`, when the server answers — staging databases of killed
 * restores. Needs no database otherwise.
 */
export const pruneBackups = (options: PruneOptions & { readonly directory: string }): Effect.Effect<PruneResult, InvalidBackupOptions> =>
  Effect.gen(function*() {
    if (options.keepLast === undefined && options.keepDays === undefined) {
      return yield* new InvalidBackupOptions({ reason: "say what to keep: --keep-last N and/or --keep-days D" })
    }
    if ((options.keepLast ?? 1) < 1) {
      return yield* new InvalidBackupOptions({ reason: "--keep-last must be at least 1: the newest backup is always kept" })
    }
    if ((options.keepDays ?? 1) < 0) {
      return yield* new InvalidBackupOptions({ reason: "--keep-days must not be negative" })
    }
    const now = new Date()
    const { keep, prune: doomed } = selectForPruning(yield* listBackups(options.directory), options, now)
    const url = options.databaseUrl ?? Option.none()
    if (options.dryRun === true) {
      const found = yield* Leftovers.findLeftovers(options.directory, url, now)
      const leftovers: Leftovers.Removed = {
        partialFiles: found.partialFiles.map((f) => f.file),
        stagingDatabases: (found.stagingDatabases ?? []).map((d) => d.database)
      }
      return { kept: keep, pruned: doomed, leftoversRemoved: leftovers }
    }
    yield* Effect.sync(() => {
      for (const b of doomed) for (const f of [b.file, `${b.file}.json`, `${b.file}.verified.json`]) fs.rmSync(f, { force: true })
    })
    return { kept: keep, pruned: doomed, leftoversRemoved: yield* Leftovers.removeLeftovers(options.directory, url, now) }
  })

/**
 * Checks a backup file: its manifest's signature (origin), checksum, key, that it is a dump,
 * authenticated decryption, full decompression and size, then `restoreTest` if given; records a
 * passed check beside a dbkit backup (FILE.verified.json).
 */
const checkFile = <E, R>(
  file: string,
  restoreTest?: (
    file: string,
    manifest: Manifest,
    key: Redacted.Redacted<string> | undefined
  ) => Effect.Effect<{ readonly tables: number; readonly rows: number }, E, R>
): Effect.Effect<VerifyResult, VerifyError | E, Exclude<R, Scope.Scope>> =>
  Effect.scoped(
    Effect.gen(function*() {
      const { foreign, manifest } = yield* Files.inspect(file)
      const key = Option.getOrUndefined(yield* backupKey)
      const origin = yield* originOf(file, foreign ? undefined : manifest, key) // a forged manifest is refused first
      if (!foreign) yield* Files.checkChecksum(file, manifest)
      yield* Files.checkContent(file, manifest, key)
      // Read whole through dbkit's reader: a line it would refuse on restore fails verification.
      const { dumpBytes } = yield* screenDump(file, manifest, key)
      if (!foreign && dumpBytes !== manifest.sizes.dump) {
        return yield* new BackupCorrupt({ file, reason: `decompressed to ${dumpBytes} bytes, the manifest says ${manifest.sizes.dump}` })
      }
      const tested = restoreTest ? yield* restoreTest(file, manifest, key) : null
      if (!foreign) {
        yield* Effect.sync(() =>
          writeDurably(`${file}.verified.json`, JSON.stringify({ at: new Date().toISOString(), restoreTest: tested !== null }) + "\n")
        )
      }
      return {
        file,
        checksum: "ok",
        origin: origin.status,
        originReason: origin.reason,
        decrypted: manifest.encryption !== null,
        dumpBytes,
        restoreTest: tested
      } satisfies VerifyResult
    })
  )

/**
 * Checks a backup file without opening any database (checksum, key, authenticated decryption,
 * full decompression, size) and records the check; what `restore --validate-only` runs.
 */
export const verifyFile = (file: string): Effect.Effect<VerifyResult, VerifyError> => checkFile(file)

/** DB_BACKUP_KEY, kept redacted; empty means none. */
export const backupKey = Config.option(Config.redacted("DB_BACKUP_KEY")).pipe(
  Effect.map(Option.filter((key) => Redacted.value(key) !== "")),
  Effect.orElseSucceed(() => Option.none<Redacted.Redacted<string>>())
)

/**
 * pg_dump as a child process whose stdout is a plain Node stream, read with backpressure;
 * `finished` fails with its scrubbed stderr unless it exits 0.
 * Killed with the scope if it is still running.
 */
const spawnPgDump = (args: ReadonlyArray<string>, url: Redacted.Redacted<string>) =>
  Effect.acquireRelease(
    Effect.async<{ child: ChildProcess; stdout: PassThrough; finished: Effect.Effect<void, PgTools.PgToolFailed> }, PgTools.PgToolMissing>(
      (resume) => {
        const child = spawn("pg_dump", args, {
          env: { ...process.env, ...PgTools.pgEnv(url, "dbkit-pg_dump") },
          stdio: ["ignore", "pipe", "pipe"]
        })
        // Both streams are taken at once: a child's output that nobody reads by the time it
        // has exited is lost (measured: a pipeline attached 300 ms late read nothing). pipe()
        // keeps backpressure, so the PassThrough holds one buffer, not the dump.
        const stdout = child.stdout.pipe(new PassThrough())
        let stderr = ""
        child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()))
        const exited = new Promise<number>((done) => child.once("close", (code) => done(code ?? -1)))
        const finished = Effect.flatMap(Effect.promise(() => exited), (exitCode) =>
          exitCode === 0
            ? Effect.void
            : Effect.fail(new PgTools.PgToolFailed({ tool: "pg_dump", exitCode, stderr: PgTools.scrub(stderr, url) })))
        child.once("error", () => resume(Effect.fail(new PgTools.PgToolMissing({ tool: "pg_dump" }))))
        child.once("spawn", () => resume(Effect.succeed({ child, stdout, finished })))
      }
    ),
    ({ child }) => Effect.sync(() => void (child.exitCode === null && child.kill("SIGTERM")))
  )

export { durable, writeDurably }

type Run = (text: string) => Effect.Effect<ReadonlyArray<any>, SqlError>

/** A table or one of its inheritance children: `name` quoted for SQL, `plain` as the manifest spells it. */
interface Relation {
  readonly name: string
  readonly plain: string
  /** Partitioned: holds no rows of its own. */
  readonly partitioned: boolean
}

/** The user tables a backup covers, and every inheritance (and partition) child, by parent. */
interface UserTables {
  readonly tables: ReadonlyArray<Relation>
  readonly children: ReadonlyMap<string, ReadonlyArray<Relation>>
}

const noTables: UserTables = { tables: [], children: new Map() }

/** Every user table not excluded (pg_dump's patterns) and in `schemas` when given, in the snapshot. */
const userTables = (run: Run, excluded: ReadonlyArray<string>, schemas?: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const tables = (yield* run(
      `SELECT format('%I.%I', n.nspname, c.relname) AS name, n.nspname || '.' || c.relname AS plain, c.relkind = 'p' AS partitioned
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
          AND n.nspname NOT LIKE 'pg\\_%' ORDER BY 2`
    )) as Array<Relation>
    const edges = (yield* run(
      `SELECT format('%I.%I', pn.nspname, p.relname) AS parent, format('%I.%I', n.nspname, c.relname) AS name,
              n.nspname || '.' || c.relname AS plain, c.relkind = 'p' AS partitioned
         FROM pg_inherits i JOIN pg_class p ON p.oid = i.inhparent JOIN pg_namespace pn ON pn.oid = p.relnamespace
         JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_namespace n ON n.oid = c.relnamespace`
    )) as Array<Relation & { readonly parent: string }>
    const children = new Map<string, Array<Relation>>()
    for (const { parent, ...child } of edges) children.set(parent, [...(children.get(parent) ?? []), child])
    const skip = excluded.map(patternMatcher)
    return {
      tables: tables.filter((table) =>
        !skip.some((matches) => matches(table.plain)) &&
        (schemas === undefined || schemas.includes(table.plain.slice(0, table.plain.indexOf("."))))
      ),
      children
    } satisfies UserTables
  })

/** Exact row counts of the tables, in the backup's snapshot (count(*): children's rows included). */
const countRows = (run: Run, { tables }: UserTables) =>
  Effect.gen(function*() {
    const counts: Record<string, number> = {}
    for (const table of tables) {
      const [row] = (yield* run(`SELECT count(*)::bigint::text AS n FROM ${table.name}`)) as [{ n: string }]
      counts[table.plain] = Number(row.n)
    }
    return counts
  })

/**
 * The same counts from the rows each COPY block of the dump held: a table's own rows plus its
 * inheritance children's, as count(*) gives them. A relation whose data the dump does not hold
 * (a child left out, an extension's table) is counted in the snapshot; a partitioned one holds none.
 */
const countFromCopies = (run: Run, { children, tables }: UserTables, copied: Readonly<Record<string, number>>) =>
  Effect.gen(function*() {
    const own = new Map<string, number>()
    const ownRows = (relation: Relation) =>
      Effect.gen(function*() {
        const known = own.get(relation.name) ?? copied[relation.plain] ?? (relation.partitioned ? 0 : undefined)
        if (known !== undefined) return known
        const [row] = (yield* run(`SELECT count(*)::bigint::text AS n FROM ONLY ${relation.name}`)) as [{ n: string }]
        own.set(relation.name, Number(row.n))
        return Number(row.n)
      })
    const counts: Record<string, number> = {}
    for (const table of tables) {
      let rows = yield* ownRows(table)
      const seen = new Set([table.name])
      const pending = [...(children.get(table.name) ?? [])]
      for (let child = pending.pop(); child !== undefined; child = pending.pop()) {
        if (seen.has(child.name)) continue // multiple inheritance: count(*) scans a child once
        seen.add(child.name)
        rows += yield* ownRows(child)
        pending.push(...(children.get(child.name) ?? []))
      }
      counts[table.plain] = rows
    }
    return counts
  })

/**
 * A pg_dump table pattern (`orders`, `public.order*`, `audit_?`) as a predicate on
 * `schema.table`: `*` any run of characters, `?` one, unqualified means any schema, unquoted
 * names fold to lower case — so the manifest counts exactly the tables pg_dump dumped.
 */
export const patternMatcher = (pattern: string): ((qualified: string) => boolean) => {
  const part = (text: string) => {
    const quoted = /^".*"$/.test(text)
    const body = quoted ? text.slice(1, -1).replace(/""/g, "\"") : text.toLowerCase()
    return body.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".")
  }
  const dot = pattern.search(/\.(?=(?:[^"]*"[^"]*")*[^"]*$)/)
  const regex = dot === -1
    ? new RegExp(`^[^.]+\\.${part(pattern)}$`)
    : new RegExp(`^${part(pattern.slice(0, dot))}\\.${part(pattern.slice(dot + 1))}$`)
  return (qualified) => regex.test(qualified)
}

/** The newest applied migration in dbkit's history, if there is one. */
const migrationHead = (run: Run) =>
  Effect.gen(function*() {
    const [exists] = (yield* run(`SELECT to_regclass('dbkit.migrations') IS NOT NULL AS e`)) as [{ e: boolean }]
    if (!exists.e) return null
    const rows = (yield* run(`SELECT name FROM dbkit.migrations WHERE status = 'applied' ORDER BY id DESC LIMIT 1`)) as Array<{ name: string }>
    return rows[0]?.name ?? null
  })

/** The Backup service on the configured database. */
export const layer: Layer.Layer<Backup, never, SqlClient.SqlClient | Database | DbConfig> =
  Layer.effect(Backup, make)

/**
 * Backup as configured: the folder from DbConfig (DBKIT_BACKUP_DIR, else dbkit.config.ts
 * `backupDir`), the key from DB_BACKUP_KEY (unset: unencrypted, signed with the local key).
 * The same layer as `layer`, which reads nothing else; named for symmetry with the others.
 */
export const layerConfig = (): Layer.Layer<Backup, never, SqlClient.SqlClient | Database | DbConfig> => layer
