/**
 * Writing a backup: the dump's bytes (source.ts) stream through gzip and AES-256-GCM into a 0600
 * temp file that is fsynced and renamed only when everything succeeded, with its signed manifest
 * beside it. Memory stays constant, and a failure (pg_dump error, disk full, interrupt) leaves no
 * file behind.
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import type * as Redacted from "effect/Redacted"
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"
import { PassThrough, type Transform } from "node:stream"
import { pipeline } from "node:stream/promises"
import { createGzip } from "node:zlib"
import { NotSupportedOnEmbedded } from "../Database.js"
import { makeDirectories } from "../Directories.js"
import type { BackupOptions, BackupResult } from "./Backup.js"
import type { BackupContext } from "./context.js"
import { backupKey, encryptStream, prepareEncryption } from "./crypto.js"
import { durable, writeDurably } from "./durable.js"
import { BackupWriteFailed, InvalidBackupOptions } from "./errors.js"
import * as Leftovers from "./leftovers.js"
import type { Manifest } from "./manifest.js"
import { sign, signingKey } from "./signature.js"
import { fromEmbedded, fromServer } from "./source.js"

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
  for (let at = path.resolve(directory), below = "";; below = at, at = path.dirname(at)) {
    const stat = statOrUndefined(at)
    if (stat !== undefined) {
      if (stat.isDirectory()) return undefined
      return at === path.resolve(directory)
        ? `${directory} is a file, not a directory`
        : `${directory} cannot be made: ${at} is a file`
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

/** Validates options shared by both databases; the compression level. */
const checkOptions = ({ config, database }: BackupContext, options: BackupOptions) =>
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
      return yield* new InvalidBackupOptions({
        reason: `${options.out !== undefined ? "--out" : "DBKIT_BACKUP_DIR"} ${unusable}`
      })
    }
    return level
  })

/** Writes a backup of the configured database and its manifest (Backup.backup). */
export const backup = (context: BackupContext, options: BackupOptions = {}) =>
  Effect.scoped(
    Effect.gen(function*() {
      const { config, database } = context
      const level = yield* checkOptions(context, options)
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
        onSome: (url) => fromServer(context, url, options, level),
        onNone: () =>
          Option.match(database.embeddedDump, {
            onNone: () => Effect.fail(new NotSupportedOnEmbedded({ feature: "backup of this database" })),
            onSome: (dump) => fromEmbedded(context, dump, options, level)
          })
      })
      const format = options.format ?? "plain"
      const encryption = preparing ? yield* Fiber.join(preparing) : undefined
      const directory = options.out ?? config.backupDir
      const createdAt = new Date()
      // Unfinished files of killed backups of this database (nobody writing them) go first.
      const leftoversRemoved =
        (yield* Leftovers.removeStalePartialFiles(directory, createdAt, options.label ?? database.database)).map((f) =>
          f.file
        )
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
      // only ours: it is created here, synchronously ("wx": never someone else's), and the
      // finalizer that removes it is in place before anything can interrupt in between.
      let renamed = false
      let streaming = false // from then on the write stream closes the descriptor
      const fd = yield* Effect.acquireRelease(
        Effect.try({
          try: () => fs.openSync(temp, "wx", 0o600),
          catch: (cause) => new BackupWriteFailed({ file, reason: (cause as Error).message })
        }),
        (fd) =>
          Effect.sync(() => {
            if (!streaming) fs.closeSync(fd)
            if (!renamed) fs.rmSync(temp, { force: true })
          })
      )
      const written = Effect.tryPromise({
        try: () => {
          streaming = true
          return pipeline(
            source.bytes,
            counter((n) => (dumpBytes += n)).on("data", source.scan ?? ignoreChunk),
            ...(format === "plain" ? [createGzip({ level })] : []),
            ...(encryption ? [encryptStream(encryption)] : []),
            counter((n) => {
              fileBytes += n
              options.onProgress?.(fileBytes)
            }).on("data", (chunk: Buffer) => hash.update(chunk)),
            fs.createWriteStream(temp, { fd })
          )
        },
        catch: (cause) => new BackupWriteFailed({ file, reason: (cause as Error).message })
      })
      const outcome = yield* Effect.exit(written)
      const finished = yield* Effect.exit(source.finished)
      if (outcome._tag === "Failure" || finished._tag === "Failure") {
        // A write that failed for a reason of its own (disk full, permissions) is the story;
        // otherwise pg_dump's failure explains a broken pipe better than the pipe does. (A
        // pg_dump stopped because the write gave up on its output has not failed: PgTools.spawn.)
        const writeCause = outcome._tag === "Failure" ? Cause.squash(outcome.cause) : undefined
        const ownReason = writeCause instanceof BackupWriteFailed &&
          /ENOSPC|EDQUOT|EFBIG|EACCES|EROFS|EEXIST/.test(writeCause.reason)
        if (outcome._tag === "Failure" && (ownReason || finished._tag === "Success")) {
          return yield* Effect.failCause(outcome.cause)
        }
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
        serverVersion: context.serverVersion,
        migrationHead: head,
        format,
        compression: { algorithm: format === "plain" ? "gzip" : "pg_dump", level },
        encryption: encryption
          ? { algorithm: "aes-256-gcm", kdf: "scrypt", keyFingerprint: encryption.fingerprint }
          : null,
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
