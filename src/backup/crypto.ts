/**
 * Backup encryption: AES-256-GCM over a stream, with the key derived from DB_BACKUP_KEY by
 * scrypt and a random salt and nonce per file.
 *
 * File layout: "DBKITENC" · version (1 byte) · salt (16) · nonce (12) · ciphertext · tag (16).
 * The tag sits at the end so encryption streams; decryption reads it first (files allow that),
 * and a wrong key or any altered byte fails authentication before a single byte is trusted by a
 * restore (restores verify first).
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes, scrypt, scryptSync } from "node:crypto"
import * as Redacted from "effect/Redacted"
import { Transform, type TransformCallback } from "node:stream"

export const MAGIC = Buffer.from("DBKITENC")
export const VERSION = 1
const SALT = 16
const NONCE = 12
export const TAG = 16
export const HEADER = MAGIC.length + 1 + SALT + NONCE

const SCRYPT = { N: 1 << 15, r: 8, p: 1, maxmem: 64 * 1024 * 1024 } as const
const FINGERPRINT_SALT = Buffer.from("dbkit-key-fingerprint-v1")

/**
 * Derived keys, per secret and salt, for this process: a restore checks the fingerprint and
 * decrypts the same file twice (verify, then load), and scrypt is deliberately slow (~0.1 s).
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
    scrypt(Redacted.value(secret), salt, 32, SCRYPT, (error, value) => (error ? reject(error) : resolve(remember(key, value))))
  )
}

const fingerprintOf = (derivedKey: Buffer) => createHash("sha256").update(derivedKey).digest("hex").slice(0, 16)

/**
 * A short public fingerprint of the key, for manifests: which key a backup needs, without
 * revealing it (scrypt with a fixed, dbkit-specific salt, so guessing is as slow as for files).
 */
export const fingerprint = (secret: Redacted.Redacted<string>): string => fingerprintOf(deriveKey(secret, FINGERPRINT_SALT))

/**
 * Derives, concurrently and off the main thread, the keys a file will need (the fingerprint's
 * and the file's own), so the synchronous calls that follow find them ready.
 */
export const warmKeys = (secret: Redacted.Redacted<string>, fileSalt: Buffer | undefined): Promise<void> =>
  Promise.all([deriveKeyAsync(secret, FINGERPRINT_SALT), ...(fileSalt ? [deriveKeyAsync(secret, fileSalt)] : [])]).then(() => undefined)

/** A new file's encryption parameters: random salt and nonce, the derived key, the fingerprint. */
export interface Encryption {
  readonly salt: Buffer
  readonly nonce: Buffer
  readonly key: Buffer
  readonly fingerprint: string
}

/** Derives a new file's key and the fingerprint concurrently, off the main thread. */
export const prepareEncryption = async (secret: Redacted.Redacted<string>): Promise<Encryption> => {
  const salt = randomBytes(SALT)
  const [key, fingerprintKey] = await Promise.all([deriveKeyAsync(secret, salt), deriveKeyAsync(secret, FINGERPRINT_SALT)])
  return { salt, nonce: randomBytes(NONCE), key, fingerprint: fingerprintOf(fingerprintKey) }
}

/** A Transform that writes the header, then ciphertext, then the tag. */
export const encryptStream = (encryption: Encryption): Transform => {
  const { nonce, salt } = encryption
  const cipher = createCipheriv("aes-256-gcm", encryption.key, nonce)
  let headerSent = false
  return new Transform({
    transform(chunk: Buffer, _encoding, callback: TransformCallback) {
      if (!headerSent) {
        this.push(Buffer.concat([MAGIC, Buffer.from([VERSION]), salt, nonce]))
        headerSent = true
      }
      callback(null, cipher.update(chunk))
    },
    flush(callback: TransformCallback) {
      if (!headerSent) this.push(Buffer.concat([MAGIC, Buffer.from([VERSION]), salt, nonce]))
      const final = cipher.final()
      if (final.length > 0) this.push(final)
      callback(null, cipher.getAuthTag())
    }
  })
}

/** Whether a file's first bytes are dbkit's encryption header. */
export const isEncrypted = (head: Buffer): boolean => head.subarray(0, MAGIC.length).equals(MAGIC)

/** What decryption needs from a file's head and tail. */
export interface Envelope {
  readonly salt: Buffer
  readonly nonce: Buffer
  readonly tag: Buffer
}

/** Parses the header (first HEADER bytes) and tag (last TAG bytes); undefined if not dbkit's format. */
export const envelope = (head: Buffer, tail: Buffer): Envelope | undefined => {
  if (head.length < HEADER || tail.length < TAG || !isEncrypted(head) || head[MAGIC.length] !== VERSION) return undefined
  const salt = head.subarray(MAGIC.length + 1, MAGIC.length + 1 + SALT)
  const nonce = head.subarray(MAGIC.length + 1 + SALT, HEADER)
  return { salt, nonce, tag: tail.subarray(tail.length - TAG) }
}

/**
 * A Transform that decrypts the ciphertext (the bytes between header and tag). It errors at the
 * end when the key is wrong or the bytes were altered: nothing it emitted may be used until it
 * has finished without error.
 */
export const decryptStream = (secret: Redacted.Redacted<string>, env: Envelope): Transform => {
  const decipher = createDecipheriv("aes-256-gcm", deriveKey(secret, env.salt), env.nonce)
  decipher.setAuthTag(env.tag)
  return new Transform({
    transform(chunk: Buffer, _encoding, callback: TransformCallback) {
      callback(null, decipher.update(chunk))
    },
    flush(callback: TransformCallback) {
      try {
        callback(null, decipher.final())
      } catch {
        callback(new Error("authentication failed: wrong key, or the file was altered"))
      }
    }
  })
}
