/**
 * Backup encryption: AES-256-GCM over a stream, with the key derived from DB_BACKUP_KEY by
 * scrypt and a random salt and nonce prefix per file.
 *
 * Format 2 (written since 0.x): "DBKITENC" · 2 · salt (16) · nonce prefix (7), then the data in
 * sealed chunks of 64 KiB (the last one shorter, possibly empty): ciphertext · tag (16) each.
 * Chunk i is sealed under the nonce prefix · i (4 bytes, big-endian) · 1 if it is the last chunk
 * else 0, with the 32-byte header as associated data — the STREAM construction (Hoang, Reyhanitabar,
 * Rogaway, Vizár 2015; age and Tink use it). So every chunk is authenticated on its own, in order:
 * a reader releases a chunk's bytes only once its tag checks, and altered, reordered, dropped,
 * appended or truncated chunks all fail. A restore can therefore stream the file into psql in
 * one pass without any unauthenticated byte reaching it.
 *
 * Format 1 (still read): "DBKITENC" · 1 · salt (16) · nonce (12) · ciphertext · tag (16), one GCM
 * tag for the whole file: authenticated only at its end, so restores verify it in a pass first.
 */
import * as Config from "effect/Config"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import { createCipheriv, createDecipheriv, createHash, randomBytes, scrypt, scryptSync } from "node:crypto"
import { Transform, type TransformCallback } from "node:stream"

/** DB_BACKUP_KEY, kept redacted; empty means none. */
export const backupKey = Config.option(Config.redacted("DB_BACKUP_KEY")).pipe(
  Effect.map(Option.filter((key) => Redacted.value(key) !== "")),
  Effect.orElseSucceed(() => Option.none<Redacted.Redacted<string>>())
)

export const MAGIC = Buffer.from("DBKITENC")
export const VERSION = 2
const SALT = 16
const NONCE = 12
const PREFIX = 7
export const TAG = 16
/** Format 1's header. */
export const HEADER_V1 = MAGIC.length + 1 + SALT + NONCE
/** Format 2's header. */
export const HEADER = MAGIC.length + 1 + SALT + PREFIX
/** Plaintext bytes per sealed chunk (format 2). */
export const CHUNK = 64 * 1024
/** A sealed chunk's size: ciphertext and tag (format 2). */
export const SEALED = CHUNK + TAG
const MAX_CHUNKS = 2 ** 32

const SCRYPT = { N: 1 << 15, r: 8, p: 1, maxmem: 64 * 1024 * 1024 } as const
const FINGERPRINT_SALT = Buffer.from("dbkit-key-fingerprint-v1")

/**
 * Derived keys, per secret and salt, for this process: a restore checks the fingerprint and then
 * decrypts (a format-1 file twice: verify, then load), and scrypt is deliberately slow (~0.1 s).
 * Keyed by a hash of the secret, never the secret itself; bounded.
 */
const derived = new Map<string, Buffer>()
const cacheKey = (secret: Redacted.Redacted<string>, salt: Buffer) =>
  `${createHash("sha256").update(Redacted.value(secret)).digest("hex")}:${salt.toString("hex")}`
const remember = (key: string, value: Buffer) => {
  if (derived.size >= 32) derived.delete(derived.keys().next().value!)
  derived.set(key, value)
  return value
}

const deriveKey = (secret: Redacted.Redacted<string>, salt: Buffer): Buffer => {
  const key = cacheKey(secret, salt)
  return derived.get(key) ?? remember(key, scryptSync(Redacted.value(secret), salt, 32, SCRYPT))
}

/** The same off the main thread (libuv's pool), so it can overlap other work. */
const deriveKeyAsync = (secret: Redacted.Redacted<string>, salt: Buffer): Promise<Buffer> => {
  const key = cacheKey(secret, salt)
  const known = derived.get(key)
  if (known) return Promise.resolve(known)
  return new Promise((resolve, reject) =>
    scrypt(
      Redacted.value(secret),
      salt,
      32,
      SCRYPT,
      (error, value) => (error ? reject(error) : resolve(remember(key, value)))
    )
  )
}

const fingerprintOf = (derivedKey: Buffer) => createHash("sha256").update(derivedKey).digest("hex").slice(0, 16)

/**
 * A short public fingerprint of the key, for manifests: which key a backup needs, without
 * revealing it (scrypt with a fixed, dbkit-specific salt, so guessing is as slow as for files).
 */
export const fingerprint = (secret: Redacted.Redacted<string>): string =>
  fingerprintOf(deriveKey(secret, FINGERPRINT_SALT))

/**
 * The secret behind the fingerprint (scrypt, off the main thread, cached): what manifest signing
 * keys are derived from (signature.ts), so a signed manifest gives no cheaper way to guess the
 * key than an encrypted file does. Never leaves the process.
 */
export const fingerprintSecret = (secret: Redacted.Redacted<string>): Promise<Buffer> =>
  deriveKeyAsync(secret, FINGERPRINT_SALT)

/**
 * Derives, concurrently and off the main thread, the keys a file will need (the fingerprint's
 * and the file's own), so the synchronous calls that follow find them ready.
 */
export const warmKeys = (secret: Redacted.Redacted<string>, fileSalt: Buffer | undefined): Promise<void> =>
  Promise.all([deriveKeyAsync(secret, FINGERPRINT_SALT), ...(fileSalt ? [deriveKeyAsync(secret, fileSalt)] : [])]).then(
    () => undefined
  )

/** A new file's encryption parameters: random salt and nonce prefix, the derived key, the fingerprint. */
export interface Encryption {
  readonly salt: Buffer
  readonly prefix: Buffer
  readonly key: Buffer
  readonly fingerprint: string
}

/** Derives a new file's key and the fingerprint concurrently, off the main thread. */
export const prepareEncryption = async (secret: Redacted.Redacted<string>): Promise<Encryption> => {
  const salt = randomBytes(SALT)
  const [key, fingerprintKey] = await Promise.all([
    deriveKeyAsync(secret, salt),
    deriveKeyAsync(secret, FINGERPRINT_SALT)
  ])
  return { salt, prefix: randomBytes(PREFIX), key, fingerprint: fingerprintOf(fingerprintKey) }
}

/** Chunk `index`'s nonce: prefix · index (big-endian) · last flag. */
const chunkNonce = (prefix: Buffer, index: number, last: boolean) => {
  if (index >= MAX_CHUNKS) throw new Error("too many chunks for one file (256 TiB)")
  const nonce = Buffer.alloc(NONCE)
  prefix.copy(nonce, 0)
  nonce.writeUInt32BE(index, PREFIX)
  nonce[NONCE - 1] = last ? 1 : 0
  return nonce
}

/**
 * Cuts a byte stream into `size`-byte pieces and hands each to `piece(bytes, last)`; a piece is
 * only known to be the last at the end, so a full one waits until a byte more has arrived.
 */
const chunker = (size: number, piece: (bytes: Buffer, last: boolean) => Buffer, preamble?: Buffer) => {
  let pending: Array<Buffer> = []
  let pendingBytes = 0
  let started = preamble === undefined
  const start = (stream: Transform) => {
    if (!started) stream.push(preamble)
    started = true
  }
  return new Transform({
    transform(chunk: Buffer, _encoding, callback: TransformCallback) {
      start(this)
      pending.push(chunk)
      pendingBytes += chunk.length
      if (pendingBytes <= size) return callback()
      try {
        const all = pending.length === 1 ? pending[0]! : Buffer.concat(pending, pendingBytes)
        let offset = 0
        while (all.length - offset > size) {
          this.push(piece(all.subarray(offset, offset + size), false))
          offset += size
        }
        pending = [all.subarray(offset)]
        pendingBytes = all.length - offset
        callback()
      } catch (error) {
        callback(error as Error)
      }
    },
    flush(callback: TransformCallback) {
      start(this)
      try {
        callback(null, piece(Buffer.concat(pending, pendingBytes), true))
      } catch (error) {
        callback(error as Error)
      }
    }
  })
}

/** A Transform that writes the header, then the data as sealed chunks (format 2). */
export const encryptStream = (encryption: Encryption): Transform => {
  const header = Buffer.concat([MAGIC, Buffer.from([VERSION]), encryption.salt, encryption.prefix])
  let index = 0
  return chunker(CHUNK, (plain, last) => {
    const cipher = createCipheriv("aes-256-gcm", encryption.key, chunkNonce(encryption.prefix, index++, last))
    cipher.setAAD(header)
    const body = cipher.update(plain)
    const final = cipher.final()
    return Buffer.concat([body, final, cipher.getAuthTag()])
  }, header)
}

/** Whether a file's first bytes are dbkit's encryption header. */
export const isEncrypted = (head: Buffer): boolean => head.subarray(0, MAGIC.length).equals(MAGIC)

/** What decryption needs from a file's head (and, for format 1, its tail). */
export type Envelope =
  | { readonly version: 1; readonly salt: Buffer; readonly nonce: Buffer; readonly tag: Buffer }
  | { readonly version: 2; readonly salt: Buffer; readonly prefix: Buffer; readonly header: Buffer }

/** Where the ciphertext starts and ends (exclusive) in a file of `size` bytes. */
export const bodyRange = (env: Envelope, size: number) =>
  env.version === 1 ? { start: HEADER_V1, end: size - TAG } : { start: HEADER, end: size }

/**
 * Parses the header (a file's first HEADER_V1 bytes, or all of a shorter file) and, for format 1,
 * the tag (its last TAG bytes); undefined if not a dbkit-encrypted file.
 */
export const envelope = (head: Buffer, tail: Buffer): Envelope | undefined => {
  if (!isEncrypted(head)) return undefined
  const salt = head.subarray(MAGIC.length + 1, MAGIC.length + 1 + SALT)
  if (head[MAGIC.length] === 1) {
    if (head.length < HEADER_V1 || tail.length < TAG) return undefined
    return {
      version: 1,
      salt,
      nonce: head.subarray(MAGIC.length + 1 + SALT, HEADER_V1),
      tag: tail.subarray(tail.length - TAG)
    }
  }
  if (head[MAGIC.length] === 2 && head.length >= HEADER) {
    return {
      version: 2,
      salt,
      prefix: head.subarray(MAGIC.length + 1 + SALT, HEADER),
      header: head.subarray(0, HEADER)
    }
  }
  return undefined
}

/**
 * Whether the secret opens a format-2 file's first chunk (`sealed`; `only` when it is also the
 * last): proof, by GCM, that it is the key the file was written with. Derives the file's key off
 * the main thread; the fingerprint's derivation is then not needed.
 */
export const opensFirstChunk = async (
  secret: Redacted.Redacted<string>,
  env: Extract<Envelope, { readonly version: 2 }>,
  sealed: Buffer,
  only: boolean
): Promise<boolean> => {
  if (sealed.length < TAG) return false
  const decipher = createDecipheriv(
    "aes-256-gcm",
    await deriveKeyAsync(secret, env.salt),
    chunkNonce(env.prefix, 0, only)
  )
  decipher.setAAD(env.header)
  decipher.setAuthTag(sealed.subarray(sealed.length - TAG))
  decipher.update(sealed.subarray(0, sealed.length - TAG))
  try {
    decipher.final()
    return true
  } catch {
    return false
  }
}

const AUTH_FAILED = "authentication failed: wrong key, or the file was altered"
const authFailedAt = (where: string) => `authentication failed ${where}: wrong key, or the file was altered`

/**
 * A Transform that decrypts the ciphertext (the bytes bodyRange gives).
 *
 * Format 2: each chunk's bytes are emitted only after its tag checked; it errors at the first
 * chunk that fails (saying where), or at the end if the last chunk is missing, so what it emitted
 * before an error is authentic but incomplete.
 *
 * Format 1: it errors at the end when the key is wrong or the bytes were altered; nothing it
 * emitted may be used until it has finished without error.
 */
export const decryptStream = (secret: Redacted.Redacted<string>, env: Envelope): Transform => {
  const key = deriveKey(secret, env.salt)
  if (env.version === 2) {
    let index = 0
    return chunker(SEALED, (sealed, last) => {
      if (sealed.length < TAG) throw new Error(authFailedAt(`at chunk ${index}, where the file ends`))
      const decipher = createDecipheriv("aes-256-gcm", key, chunkNonce(env.prefix, index, last))
      decipher.setAAD(env.header)
      decipher.setAuthTag(sealed.subarray(sealed.length - TAG))
      const body = decipher.update(sealed.subarray(0, sealed.length - TAG))
      try {
        const final = decipher.final()
        index++
        return final.length > 0 ? Buffer.concat([body, final]) : body
      } catch {
        throw new Error(authFailedAt(`at chunk ${index} (byte ${HEADER + index * SEALED})`))
      }
    })
  }
  const decipher = createDecipheriv("aes-256-gcm", key, env.nonce)
  decipher.setAuthTag(env.tag)
  return new Transform({
    transform(chunk: Buffer, _encoding, callback: TransformCallback) {
      callback(null, decipher.update(chunk))
    },
    flush(callback: TransformCallback) {
      try {
        callback(null, decipher.final())
      } catch {
        callback(new Error(AUTH_FAILED))
      }
    }
  })
}
