/**
 * Backup encryption: AES-256-GCM over a stream, with the key derived from DB_BACKUP_KEY by
 * scrypt and a random salt and nonce per file.
 *
 * File layout: "DBKITENC" · version (1 byte) · salt (16) · nonce (12) · ciphertext · tag (16).
 * The tag sits at the end so encryption streams; decryption reads it first (files allow that),
 * and a wrong key or any altered byte fails authentication before a single byte is trusted by a
 * restore (restores verify first).
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes, scryptSync } from "node:crypto"
import * as Redacted from "effect/Redacted"
import { Transform, type TransformCallback } from "node:stream"

export const MAGIC = Buffer.from("DBKITENC")
export const VERSION = 1
const SALT = 16
const NONCE = 12
export const TAG = 16
export const HEADER = MAGIC.length + 1 + SALT + NONCE

const deriveKey = (secret: Redacted.Redacted<string>, salt: Buffer) =>
  scryptSync(Redacted.value(secret), salt, 32, { N: 1 << 15, r: 8, p: 1, maxmem: 64 * 1024 * 1024 })

/**
 * A short public fingerprint of the key, for manifests: which key a backup needs, without
 * revealing it (scrypt with a fixed, dbkit-specific salt, so guessing is as slow as for files).
 */
export const fingerprint = (secret: Redacted.Redacted<string>): string =>
  createHash("sha256").update(deriveKey(secret, Buffer.from("dbkit-key-fingerprint-v1"))).digest("hex").slice(0, 16)

/** A Transform that writes the header, then ciphertext, then the tag. */
export const encryptStream = (secret: Redacted.Redacted<string>): Transform => {
  const salt = randomBytes(SALT)
  const nonce = randomBytes(NONCE)
  const cipher = createCipheriv("aes-256-gcm", deriveKey(secret, salt), nonce)
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
