/**
 * Reading backup files back: the manifest, the checksum, and the dump's bytes (decrypted and
 * decompressed) as a stream that fails at the end if authentication or decompression fails.
 */
import * as Effect from "effect/Effect"
import type * as Redacted from "effect/Redacted"
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import { type Readable, Transform, type TransformCallback } from "node:stream"
import { pipeline } from "node:stream/promises"
import { createGunzip } from "node:zlib"
import {
  bodyRange,
  decryptStream,
  envelope,
  fingerprint,
  HEADER,
  HEADER_V1,
  opensFirstChunk,
  SEALED,
  TAG,
  warmKeys
} from "./crypto.js"
import { BackupChecksumMismatch, BackupCorrupt, BackupKeyInvalid, BackupNotFound } from "./errors.js"
import type { Manifest } from "./manifest.js"

/** `length` bytes of `file` from `position` (fewer at its end). */
const readAt = (file: string, length: number, position: number): Buffer => {
  const bytes = Buffer.alloc(Math.max(0, length))
  const fd = fs.openSync(file, "r")
  try {
    return bytes.subarray(0, fs.readSync(fd, bytes, 0, bytes.length, position))
  } finally {
    fs.closeSync(fd)
  }
}

/** The manifest beside a backup file. */
export const readManifest = (file: string): Effect.Effect<Manifest, BackupNotFound> =>
  Effect.suspend(() => {
    if (!fs.existsSync(file)) return Effect.fail(new BackupNotFound({ file, reason: "no such file" }))
    const manifestFile = `${file}.json`
    if (!fs.existsSync(manifestFile)) {
      return Effect.fail(
        new BackupNotFound({ file, reason: `no manifest (${manifestFile}); dbkit cannot vouch for this file` })
      )
    }
    try {
      return Effect.succeed(JSON.parse(fs.readFileSync(manifestFile, "utf8")) as Manifest)
    } catch {
      return Effect.fail(new BackupNotFound({ file, reason: "its manifest is not valid JSON" }))
    }
  })

/**
 * The manifest of a dbkit backup, or — for a file made by plain pg_dump, which has none — what
 * its first bytes say: custom format ("PGDMP"), gzip, or plain SQL. A foreign file has no
 * checksum or row counts to hold it to; it is still read through before anything is restored.
 */
export const inspect = (
  file: string
): Effect.Effect<{ readonly manifest: Manifest; readonly foreign: boolean }, BackupNotFound> =>
  Effect.suspend((): Effect.Effect<{ readonly manifest: Manifest; readonly foreign: boolean }, BackupNotFound> => {
    if (fs.existsSync(`${file}.json`) || !fs.existsSync(file)) {
      return Effect.map(readManifest(file), (manifest) => ({ manifest, foreign: false }))
    }
    const bytes = readAt(file, 8, 0)
    if (bytes.subarray(0, 8).toString() === "DBKITENC") {
      return Effect.fail(
        new BackupNotFound({ file, reason: "is encrypted but has no manifest; dbkit cannot vouch for it" })
      )
    }
    const custom = bytes.subarray(0, 5).toString() === "PGDMP"
    const gzip = bytes[0] === 0x1f && bytes[1] === 0x8b
    const manifest: Manifest = {
      tool: { name: "pg_dump", version: "unknown", pgDump: 0 },
      createdAt: fs.statSync(file).mtime.toISOString(),
      file,
      database: "unknown",
      target: "unknown",
      environment: "unknown",
      serverVersion: "unknown",
      migrationHead: null,
      format: custom ? "custom" : "plain",
      compression: { algorithm: custom ? "pg_dump" : gzip ? "gzip" : "none", level: 0 },
      encryption: null,
      contents: "full",
      excludedTables: [],
      sizes: { dump: 0, file: fs.statSync(file).size },
      sha256: "",
      tables: {}
    }
    return Effect.succeed({ manifest, foreign: true })
  })

/** sha256 of the whole file, streamed. */
export const sha256 = (file: string) =>
  Effect.promise(async () => {
    const hash = createHash("sha256")
    for await (const chunk of fs.createReadStream(file)) hash.update(chunk as Buffer)
    return hash.digest("hex")
  })

/** Fails unless the file's bytes are the ones the manifest recorded. */
export const checkChecksum = (file: string, manifest: Manifest) =>
  Effect.flatMap(
    sha256(file),
    (actual) =>
      actual === manifest.sha256
        ? Effect.void
        : Effect.fail(new BackupChecksumMismatch({ file, expected: manifest.sha256, actual }))
  )

/** An encrypted backup's envelope, once the key is known to be the one it was written with. */
const openEnvelope = (file: string, manifest: Manifest, key: Redacted.Redacted<string> | undefined) =>
  Effect.gen(function*() {
    if (key === undefined) return yield* new BackupKeyInvalid({ file, reason: "is encrypted; set DB_BACKUP_KEY" })
    const size = fs.statSync(file).size
    const env = envelope(readAt(file, HEADER_V1, 0), readAt(file, Math.min(TAG, size), Math.max(0, size - TAG)))
    if (env?.version === 2 && size - HEADER >= TAG) {
      // The first chunk opening under the key proves it is the one (GCM): one scrypt, not two.
      const first = readAt(file, SEALED, HEADER)
      if (yield* Effect.promise(() => opensFirstChunk(key, env, first, size - HEADER <= SEALED))) {
        return { env, key, range: bodyRange(env, size) }
      }
    }
    // Otherwise the fingerprint tells a wrong key from a damaged file. Both scrypt derivations at
    // once, on libuv's pool (~0.1 s instead of ~0.2 s).
    yield* Effect.promise(() => warmKeys(key, env?.salt))
    if (fingerprint(key) !== manifest.encryption?.keyFingerprint) {
      return yield* new BackupKeyInvalid({ file, reason: "DB_BACKUP_KEY is not the key this backup was written with" })
    }
    if (env === undefined) return yield* new BackupCorrupt({ file, reason: "not a dbkit-encrypted file" })
    const range = bodyRange(env, size)
    // Format 2 holds at least one sealed chunk (a bare tag for an empty dump).
    if (range.end - range.start < (env.version === 2 ? TAG : 0)) {
      return yield* new BackupCorrupt({ file, reason: "too short to hold its encrypted data" })
    }
    return { env, key, range }
  })

/** Fails unless `key` is the one an encrypted backup was written with (one scrypt; nothing for an unencrypted file). */
export const checkKey = (file: string, manifest: Manifest, key: Redacted.Redacted<string> | undefined) =>
  manifest.encryption === null ? Effect.void : Effect.asVoid(openEnvelope(file, manifest, key))

/** The dump's bytes: decrypted (if encrypted) and decompressed (plain format). */
export const openDump = (
  file: string,
  manifest: Manifest,
  key: Redacted.Redacted<string> | undefined,
  options: { readonly decompress?: boolean; readonly checksum?: boolean } = {}
): Effect.Effect<Array<NodeJS.ReadWriteStream | Readable>, BackupKeyInvalid | BackupCorrupt> =>
  Effect.gen(function*() {
    const stages: Array<NodeJS.ReadWriteStream | Readable> = []
    const checked = (range: { readonly start: number; readonly end: number }) =>
      options.checksum === true && manifest.sha256 ? [checksumStage(file, manifest.sha256, range)] : []
    if (manifest.encryption !== null) {
      const { env, key: secret, range } = yield* openEnvelope(file, manifest, key)
      // Read a few sealed chunks at a time: fewer hops through the stream machinery.
      stages.push(
        fs.createReadStream(file, { start: range.start, end: range.end - 1, highWaterMark: 256 * 1024 }),
        ...checked(range),
        decryptStream(secret, env)
      )
    } else {
      stages.push(fs.createReadStream(file), ...checked({ start: 0, end: fs.statSync(file).size }))
    }
    if (options.decompress !== false && manifest.format === "plain" && manifest.compression?.algorithm !== "none") {
      // 128 KB pieces instead of zlib's 16 KB: a third less CPU for a restore's feed into psql
      // (fewer trips through the streams and fewer writes to the pipe; measured on a 331 MB dump).
      stages.push(createGunzip({ chunkSize: 128 * 1024 }))
    }
    return stages
  })

/** A file's sha256 differs from its manifest's; raised by checksumStage at the end of the file. */
export class StreamedChecksumMismatch extends Error {
  constructor(readonly expected: string, readonly actual: string) {
    super("the file's sha256 does not match its manifest")
  }
}

/**
 * Passes the bytes of `file` in `range` through, hashing them with the bytes around the range
 * (read directly), and fails at the end, before signalling the end downstream, if the sha256 is
 * not `expected`. What follows it never sees the end of a file that does not match.
 */
const checksumStage = (file: string, expected: string, range: { readonly start: number; readonly end: number }) => {
  const hash = createHash("sha256")
  const around = (start: number, end: number) => void hash.update(readAt(file, end - start, start))
  around(0, range.start)
  return new Transform({
    transform(chunk: Buffer, _encoding, callback: TransformCallback) {
      hash.update(chunk)
      callback(null, chunk)
    },
    flush(callback: TransformCallback) {
      try {
        around(range.end, fs.statSync(file).size)
        const actual = hash.digest("hex")
        callback(actual === expected ? null : new StreamedChecksumMismatch(expected, actual))
      } catch (error) {
        callback(error as Error)
      }
    }
  })
}

/** Whether the file is encrypted in chunks that are each authenticated (format 2): it can be streamed, checked as it goes. */
export const authenticatesAsItStreams = (file: string, manifest: Manifest): boolean => {
  if (manifest.encryption === null) return false
  return envelope(readAt(file, HEADER_V1, 0), Buffer.alloc(TAG))?.version === 2
}

/** Reads the whole dump once, proving it decrypts and decompresses; returns its size. */
export const readThrough = (file: string, stages: Array<NodeJS.ReadWriteStream | Readable>) =>
  Effect.tryPromise({
    try: async () => {
      let bytes = 0
      await pipeline(...(stages as [Readable]), async (source: AsyncIterable<Buffer>) => {
        for await (const chunk of source) bytes += chunk.length
      })
      return bytes
    },
    catch: (cause) => new BackupCorrupt({ file, reason: (cause as Error).message })
  })

/** How much of a dump is read to tell whether it is one. */
const HEAD_BYTES = 64 * 1024

/**
 * Statements and psql meta-commands a pg_dump script can start with (13–18: SET …, SELECT
 * pg_catalog.set_config …, \restrict since 17.6; a hand-trimmed one with CREATE, COPY, …), in
 * capitals as pg_dump writes them: prose that starts "Do …" or "Set up …" is not a dump.
 */
const FIRST_STATEMENT =
  /^(?:SET|SELECT|CREATE|ALTER|COPY|INSERT|COMMENT|GRANT|REVOKE|DROP|BEGIN|START|DO|\\(?:restrict|connect|c|encoding|set))(?:\s|;|$)/

/**
 * Why the first bytes of a plain dump do not read as a pg_dump script, or undefined if they do:
 * no NUL byte (binary), and the first line that is neither blank nor a `--` comment starts with
 * a statement pg_dump writes (in capitals). Lenient about which statement: dumps of other versions and
 * hand-trimmed ones pass; random bytes and prose do not.
 */
export const notADump = (head: Buffer, complete: boolean): string | undefined => {
  if (head.length === 0) return "it holds no SQL at all"
  if (head.includes(0)) return "it is binary, not an SQL script"
  const lines = head.toString("utf8").replace(/^\uFEFF/, "").split("\n")
  if (!complete) lines.pop() // may be cut short
  const first = lines.map((line) => line.trim()).find((line) => line !== "" && !line.startsWith("--"))
  if (first === undefined) return complete ? "it holds only comments" : `its first ${HEAD_BYTES / 1024} KiB hold no SQL`
  if (!FIRST_STATEMENT.test(first)) {
    return `it does not read as a pg_dump script (it starts with "${first.slice(0, 40)}")`
  }
  return undefined
}

/**
 * Fails with BackupCorrupt unless the file holds a dump at all: not empty, decrypting and
 * decompressing at its start, a custom archive starting with PGDMP, a plain one reading as a
 * pg_dump script (notADump). Reads only the first 64 KiB of the dump; needs the key when it is
 * encrypted. What a restore and verify check before anything else about the bytes.
 */
export const checkContent = (
  file: string,
  manifest: Manifest,
  key: Redacted.Redacted<string> | undefined
): Effect.Effect<void, BackupCorrupt | BackupKeyInvalid> =>
  Effect.gen(function*() {
    if (fs.statSync(file).size === 0) return yield* new BackupCorrupt({ file, reason: "it is empty (0 bytes)" })
    const stages = yield* openDump(file, manifest, key)
    const { complete, head } = yield* Effect.tryPromise({
      try: async () => {
        const chunks: Array<Buffer> = []
        let bytes = 0
        try {
          await pipeline(...(stages as [Readable]), async (source: AsyncIterable<Buffer>) => {
            for await (const chunk of source) {
              chunks.push(chunk)
              bytes += chunk.length
              if (bytes >= HEAD_BYTES) break // enough: the rest of the file is not read
            }
          })
        } catch (error) {
          if (bytes < HEAD_BYTES) throw error
        }
        const all = Buffer.concat(chunks)
        return { complete: bytes < HEAD_BYTES, head: all.subarray(0, HEAD_BYTES) }
      },
      catch: (cause) =>
        new BackupCorrupt({
          file,
          reason: `its start does not ${manifest.encryption !== null ? "decrypt and " : ""}decompress: ${
            (cause as Error).message
          }`
        })
    })
    if (manifest.format === "custom") {
      if (head.subarray(0, 5).toString("latin1") !== "PGDMP") {
        return yield* new BackupCorrupt({ file, reason: "it is not a pg_dump custom-format archive (no PGDMP header)" })
      }
      return
    }
    const why = notADump(head, complete)
    if (why !== undefined) return yield* new BackupCorrupt({ file, reason: `not a dump: ${why}` })
  })

/**
 * What a restore checks before it touches a database. A dbkit backup: its checksum and, when
 * encrypted, authenticated decryption (no byte reaches psql that GCM has not vouched for);
 * decompression is then checked on the way in, where the bytes are decompressed anyway (gzip's
 * CRC and the manifest's size; the load is into a database that is dropped on failure). A file
 * from plain pg_dump has no manifest to hold it to, so it is read through completely first.
 *
 * `streaming`: the caller loads into a database it drops on any failure, and checks the file as
 * it streams it (see load.ts: the checksum before the last bytes go in, each chunk's tag before
 * its bytes go in). For an encrypted format-2 file, only what is cheap is checked here then — the
 * manifest, the size, the key — and the pass over the whole file is left to the load.
 */
export const checkBeforeLoad = (
  file: string,
  key: Redacted.Redacted<string> | undefined,
  options: { readonly streaming?: boolean } = {}
) =>
  Effect.gen(function*() {
    const { foreign, manifest } = yield* inspect(file)
    if (foreign) {
      yield* checkContent(file, manifest, key)
      yield* readThrough(file, yield* openDump(file, manifest, key))
      return manifest
    }
    if (options.streaming === true && authenticatesAsItStreams(file, manifest)) {
      const size = fs.statSync(file).size
      if (size !== manifest.sizes.file) {
        return yield* new BackupCorrupt({
          file,
          reason: `is ${size} bytes, its manifest says ${manifest.sizes.file}: truncated or altered`
        })
      }
      yield* openEnvelope(file, manifest, key) // the key, before anything is created
      yield* checkContent(file, manifest, key) // its first chunks, each authenticated
      return manifest
    }
    yield* checkChecksum(file, manifest)
    yield* checkContent(file, manifest, key)
    if (manifest.encryption !== null) {
      yield* readThrough(file, yield* openDump(file, manifest, key, { decompress: false }))
    }
    return manifest
  })
