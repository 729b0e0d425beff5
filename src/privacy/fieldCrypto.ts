/**
 * Field-level encryption: AES-256-GCM in the application, one random 96-bit IV per value, the
 * key's id stored with each value so keys can rotate while old values stay readable:
 *
 *   enc:v1:<key id>:<base64url(iv ‖ ciphertext ‖ tag)>
 *
 * Keys come from the environment, never from the database:
 * - `DBKIT_FIELD_KEYS="k2:<base64 32 bytes>,k1:<base64 32 bytes>"`: the first is the active key
 *   (new values and rotation use it), the others only decrypt;
 * - or `DBKIT_FIELD_KEYS_FILE=path` to a JSON file `{ "active": "k2", "keys": { "k2": "…", "k1": "…" } }`.
 * Keys may also be 64 hex digits. Key material never appears in errors, logs or output; only ids do.
 *
 * `encryptedText(keyring)` is a drizzle column type that encrypts on write and decrypts on read.
 */
import { customType } from "drizzle-orm/pg-core"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as crypto from "node:crypto"
import * as fs from "node:fs"

export const PREFIX = "enc:v1:"
const KEY_ID = /^[A-Za-z0-9_-]{1,32}$/

/** The keys could not be read: which variable or file, and why (never the key itself). */
export class FieldKeysInvalid extends Data.TaggedError("FieldKeysInvalid")<{
  readonly source: string
  readonly reason: string
}> {
  override get message() {
    return `field encryption keys from ${this.source}: ${this.reason}`
  }
}

/** A value names a key that is not configured. */
export class FieldKeyMissing extends Data.TaggedError("FieldKeyMissing")<{
  readonly keyId: string
  readonly where: string
}> {
  override get message() {
    return `${this.where} is encrypted with key "${this.keyId}", which is not among the configured keys (DBKIT_FIELD_KEYS / DBKIT_FIELD_KEYS_FILE)`
  }
}

/** A value could not be decrypted: altered, truncated, or not under the key its id names. */
export class FieldDecryptFailed extends Data.TaggedError("FieldDecryptFailed")<{
  readonly where: string
  readonly reason: string
}> {
  override get message() {
    return `${this.where} cannot be decrypted: ${this.reason}`
  }
}

export interface Keyring {
  readonly active: string
  /** Key ids, the active one first. */
  readonly ids: ReadonlyArray<string>
  readonly has: (id: string) => boolean
  /** Encrypts under the active key. */
  readonly encrypt: (plaintext: string) => string
  /** Decrypts any value under a known key; throws (a plain Error) otherwise — see `tryDecrypt`. */
  readonly decrypt: (value: string) => string
}

const parseKey = (source: string, id: string, text: string): Buffer => {
  const trimmed = text.trim()
  const bytes = /^[0-9a-fA-F]{64}$/.test(trimmed) ? Buffer.from(trimmed, "hex") : Buffer.from(trimmed, "base64")
  if (bytes.length !== 32) {
    throw new FieldKeysInvalid({ source, reason: `key "${id}" is not 32 bytes of base64 or 64 hex digits` })
  }
  return bytes
}

/** Builds a keyring from key ids and their bytes; the first id is active unless `active` says otherwise. */
export const makeKeyring = (keys: ReadonlyArray<readonly [string, Buffer]>, active = keys[0]?.[0]): Keyring => {
  const byId = new Map(keys)
  if (active === undefined || !byId.has(active)) throw new Error("makeKeyring: no active key")
  const activeKey = byId.get(active)!
  const head = `${PREFIX}${active}:`
  return {
    active,
    ids: [active, ...keys.map(([id]) => id).filter((id) => id !== active)],
    has: (id) => byId.has(id),
    encrypt: (plaintext) => {
      const iv = crypto.randomBytes(12)
      const cipher = crypto.createCipheriv("aes-256-gcm", activeKey, iv)
      const body = Buffer.concat([iv, cipher.update(plaintext, "utf8"), cipher.final(), cipher.getAuthTag()])
      return head + body.toString("base64url")
    },
    decrypt: (value) => {
      const parsed = parseEnvelope(value)
      if (parsed === undefined) throw new Error("not an encrypted value")
      const key = byId.get(parsed.keyId)
      if (key === undefined) throw new Error(`unknown key "${parsed.keyId}"`)
      const body = Buffer.from(parsed.body, "base64url")
      if (body.length < 28) throw new Error("too short")
      const decipher = crypto.createDecipheriv("aes-256-gcm", key, body.subarray(0, 12))
      decipher.setAuthTag(body.subarray(body.length - 16))
      return Buffer.concat([decipher.update(body.subarray(12, body.length - 16)), decipher.final()]).toString("utf8")
    }
  }
}

/** `enc:v1:<id>:<body>` → its parts; undefined for anything else (plaintext). */
export const parseEnvelope = (value: string): { keyId: string; body: string } | undefined => {
  if (!value.startsWith(PREFIX)) return undefined
  const rest = value.slice(PREFIX.length)
  const colon = rest.indexOf(":")
  if (colon <= 0) return undefined
  const keyId = rest.slice(0, colon)
  const body = rest.slice(colon + 1)
  return KEY_ID.test(keyId) && /^[A-Za-z0-9_-]+$/.test(body) ? { keyId, body } : undefined
}

export type Classified = "active" | "old-key" | "plaintext" | "unknown-key" | "undecryptable"

/** What a stored value is, with respect to the keyring. */
export const classify = (keyring: Keyring, value: string): Classified => {
  const parsed = parseEnvelope(value)
  // A value that claims to be encrypted but does not parse is damaged, not plaintext: encrypting
  // it again (rotation) would hide the damage.
  if (parsed === undefined) return value.startsWith(PREFIX) ? "undecryptable" : "plaintext"
  if (!keyring.has(parsed.keyId)) return "unknown-key"
  try {
    keyring.decrypt(value)
  } catch {
    return "undecryptable"
  }
  return parsed.keyId === keyring.active ? "active" : "old-key"
}

/** Decrypts, as an Effect with typed errors; `where` names the value for messages (table.column, key). */
export const tryDecrypt = (
  keyring: Keyring,
  value: string,
  where: string
): Effect.Effect<string, FieldKeyMissing | FieldDecryptFailed> =>
  Effect.suspend((): Effect.Effect<string, FieldKeyMissing | FieldDecryptFailed> => {
    const parsed = parseEnvelope(value)
    if (parsed === undefined) {
      return Effect.fail(new FieldDecryptFailed({ where, reason: "it is not an encrypted value (plaintext?)" }))
    }
    if (!keyring.has(parsed.keyId)) return Effect.fail(new FieldKeyMissing({ keyId: parsed.keyId, where }))
    return Effect.try({
      try: () => keyring.decrypt(value),
      catch: () =>
        new FieldDecryptFailed({ where, reason: "authentication failed (altered, truncated or under another key)" })
    })
  })

/** Reads the keyring from `DBKIT_FIELD_KEYS` or `DBKIT_FIELD_KEYS_FILE`; undefined when neither is set. */
export const keyringFromEnv = (env: NodeJS.ProcessEnv = process.env): Keyring | undefined => {
  const inline = env.DBKIT_FIELD_KEYS?.trim()
  const file = env.DBKIT_FIELD_KEYS_FILE?.trim()
  if (inline) {
    const source = "DBKIT_FIELD_KEYS"
    const entries = inline.split(",").map((part, index) => {
      const colon = part.indexOf(":")
      const id = colon > 0 ? part.slice(0, colon).trim() : ""
      if (!KEY_ID.test(id)) {
        throw new FieldKeysInvalid({
          source,
          reason: `entry ${index + 1} is not <id>:<key> with an id of letters, digits, _ or -`
        })
      }
      return [id, parseKey(source, id, part.slice(colon + 1))] as const
    })
    if (new Set(entries.map(([id]) => id)).size !== entries.length) {
      throw new FieldKeysInvalid({ source, reason: "a key id appears twice" })
    }
    return makeKeyring(entries)
  }
  if (file) {
    const source = `DBKIT_FIELD_KEYS_FILE (${file})`
    let parsed: unknown
    try {
      parsed = JSON.parse(fs.readFileSync(file, "utf8"))
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code
      throw new FieldKeysInvalid({
        source,
        reason: code === "ENOENT" ? "no such file" : code ? `cannot be read (${code})` : "is not JSON"
      })
    }
    const { active, keys } = (parsed ?? {}) as { active?: unknown; keys?: unknown }
    if (typeof keys !== "object" || keys === null || Object.keys(keys).length === 0) {
      throw new FieldKeysInvalid({
        source,
        reason: `expected { "active": "<id>", "keys": { "<id>": "<base64 key>" } }`
      })
    }
    const entries = Object.entries(keys as Record<string, unknown>).map(([id, text]) => {
      if (!KEY_ID.test(id) || typeof text !== "string") {
        throw new FieldKeysInvalid({ source, reason: `key "${id.slice(0, 32)}" is malformed` })
      }
      return [id, parseKey(source, id, text)] as const
    })
    const activeId = typeof active === "string" ? active : entries[0]![0]
    if (!entries.some(([id]) => id === activeId)) {
      throw new FieldKeysInvalid({ source, reason: `the active key "${activeId}" is not in keys` })
    }
    return makeKeyring(entries, activeId)
  }
  return undefined
}

/** The keyring from the environment, if one is configured, as an Effect: a typed error when malformed. */
export const optionalKeyring = (
  env: NodeJS.ProcessEnv = process.env
): Effect.Effect<Keyring | undefined, FieldKeysInvalid> =>
  Effect.try({
    try: () => keyringFromEnv(env),
    catch: (error) => error
  }).pipe(Effect.catchAll((error) => (error instanceof FieldKeysInvalid ? Effect.fail(error) : Effect.die(error))))

/** The keyring from the environment, as an Effect: a typed error when malformed or missing. */
export const loadKeyring = (env: NodeJS.ProcessEnv = process.env): Effect.Effect<Keyring, FieldKeysInvalid> =>
  Effect.flatMap(optionalKeyring(env), (keyring) =>
    keyring === undefined
      ? Effect.fail(
        new FieldKeysInvalid({ source: "the environment", reason: "set DBKIT_FIELD_KEYS or DBKIT_FIELD_KEYS_FILE" })
      )
      : Effect.succeed(keyring))

/** A new random key, base64, for `DBKIT_FIELD_KEYS`. */
export const generateKey = (): string => crypto.randomBytes(32).toString("base64")

/**
 * A drizzle column type for an encrypted text column: `taxId: encryptedText(keyring)("tax_id")`.
 * Reads decrypt under any configured key; writes encrypt under the active one.
 */
export const encryptedText = (keyring: Keyring) =>
  customType<{ data: string; driverData: string }>({
    dataType: () => "text",
    toDriver: (value) => keyring.encrypt(value),
    fromDriver: (value) => keyring.decrypt(value)
  })
