/**
 * Signed manifests. A manifest's checksum and sizes hold a backup file to what dbkit wrote, but
 * anyone who can change the file can rewrite them too; the signature is what they cannot redo.
 *
 * The tag is an HMAC-SHA256 over the manifest's canonical JSON (every field but `signature`,
 * keys sorted at every level) under a signing key derived with HKDF-SHA256 ("dbkit manifest v1"):
 * from DB_BACKUP_KEY when it is set — from its scrypt-derived fingerprint secret, so a manifest
 * gives no cheaper way to guess the key than an encrypted file does — else from a random local
 * key dbkit creates on first use (`.dbkit/backup-signing.key`, 0600; DB_BACKUP_SIGNING_KEY_FILE
 * moves it). The manifest names the key by an id (8 hex digits of its sha256), never the key.
 *
 * A file's origin is then "signed" (its tag verifies under a key held here), "unverified" (no
 * manifest, no tag, or a tag under a key not held here) or forged (a tag under a key held here
 * that does not verify: BackupManifestForged).
 */
import * as Config from "effect/Config"
import * as Effect from "effect/Effect"
import type * as Redacted from "effect/Redacted"
import { createHash, createHmac, hkdfSync, randomBytes, timingSafeEqual } from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"
import { makeDirectories } from "../Directories.js"
import { fingerprintSecret } from "./crypto.js"
import { durable } from "./durable.js"
import { BackupKeyInvalid, BackupManifestForged } from "./errors.js"
import type { Manifest, ManifestSignature } from "./manifest.js"

export type { ManifestSignature } from "./manifest.js"

/** Where a backup file comes from, as far as this machine can tell. */
export interface Origin {
  readonly status: "signed" | "unverified"
  /** Why it is unverified (for messages); empty when signed. */
  readonly reason: string
}

/** A derived signing key; its bytes never leave this module's HMACs. */
interface SigningKey {
  readonly id: string
  readonly bytes: Buffer
}

/** Where the local signing key lives when DB_BACKUP_SIGNING_KEY_FILE does not say. */
export const DEFAULT_KEY_FILE = path.join(".dbkit", "backup-signing.key")

/** JSON with object keys sorted at every level (arrays keep their order); undefined fields are left out, as JSON does. */
export const canonicalJson = (value: unknown): string => JSON.stringify(sorted(value))

const sorted = (value: unknown): unknown => {
  if (Array.isArray(value)) return value.map(sorted)
  if (value === null || typeof value !== "object") return value
  const out: Record<string, unknown> = {}
  for (const key of Object.keys(value).sort()) {
    const field = (value as Record<string, unknown>)[key]
    if (field !== undefined) out[key] = sorted(field)
  }
  return out
}

const derive = (material: Buffer): SigningKey => {
  const bytes = Buffer.from(hkdfSync("sha256", material, Buffer.alloc(0), "dbkit manifest v1", 32))
  return { id: createHash("sha256").update(bytes).digest("hex").slice(0, 8), bytes }
}

const macOf = (manifest: Manifest, key: SigningKey): Buffer => {
  const { signature: _ignored, ...signed } = manifest
  return createHmac("sha256", key.bytes).update(canonicalJson(signed)).digest()
}

/** The manifest with its signature (any earlier one replaced). */
export const sign = (manifest: Manifest, key: SigningKey): Manifest => ({
  ...manifest,
  signature: { alg: "hmac-sha256", key: key.id, mac: macOf(manifest, key).toString("hex") }
})

/** DB_BACKUP_SIGNING_KEY_FILE, else `.dbkit/backup-signing.key`, resolved against the working directory. */
export const keyFile = Config.string("DB_BACKUP_SIGNING_KEY_FILE").pipe(
  Config.withDefault(""),
  Effect.orElseSucceed(() => ""),
  Effect.map((file) => path.resolve(file.trim() === "" ? DEFAULT_KEY_FILE : file.trim()))
)

const HEX_KEY = /^[0-9a-f]{64}$/

/** The local key in `file`, if there is one; a file that holds no key is an error, never silently replaced. */
const readLocalKey = (file: string): Effect.Effect<SigningKey | undefined, BackupKeyInvalid> =>
  Effect.suspend(() => {
    let text: string
    try {
      text = fs.readFileSync(file, "utf8").trim()
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return Effect.succeed(undefined)
      return Effect.fail(
        new BackupKeyInvalid({
          file,
          reason: `cannot read the backup signing key: ${(error as NodeJS.ErrnoException).code ?? "error"}`
        })
      )
    }
    if (!HEX_KEY.test(text)) {
      return Effect.fail(
        new BackupKeyInvalid({
          file,
          reason:
            "is not a dbkit backup signing key (64 hex digits); restore it from where you keep it, or point DB_BACKUP_SIGNING_KEY_FILE elsewhere"
        })
      )
    }
    return Effect.succeed(derive(Buffer.from(text, "hex")))
  })

/**
 * Creates the local key in `file` unless one is there: 32 random bytes in hex, 0600, written
 * beside it and linked into place, so two processes starting at once end up with the same key.
 */
const createLocalKey = (file: string) =>
  Effect.try({
    try: () => {
      makeDirectories(path.dirname(file), 0o700)
      const temp = `${file}.${process.pid}.${randomBytes(6).toString("hex")}.partial`
      try {
        fs.writeFileSync(temp, randomBytes(32).toString("hex") + "\n", { mode: 0o600, flag: "wx" })
        durable(temp)
        try {
          fs.linkSync(temp, file)
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error
        }
      } finally {
        fs.rmSync(temp, { force: true })
      }
      durable(path.dirname(file))
    },
    catch: (error) =>
      new BackupKeyInvalid({
        file,
        reason: `cannot create the backup signing key (${
          (error as NodeJS.ErrnoException).code ?? "error"
        }); set DB_BACKUP_SIGNING_KEY_FILE to a writable place, or DB_BACKUP_KEY`
      })
  })

/** The key a new manifest is signed with: DB_BACKUP_KEY's when set, else the local one (created on first use). */
export const signingKey = (
  secret: Redacted.Redacted<string> | undefined
): Effect.Effect<SigningKey, BackupKeyInvalid> =>
  secret !== undefined
    ? Effect.map(Effect.promise(() => fingerprintSecret(secret)), derive)
    : Effect.gen(function*() {
      const file = yield* keyFile
      const existing = yield* readLocalKey(file)
      if (existing !== undefined) return existing
      yield* createLocalKey(file)
      const created = yield* readLocalKey(file)
      if (created === undefined) {
        return yield* new BackupKeyInvalid({ file, reason: "the backup signing key vanished as it was created" })
      }
      return created
    })

/**
 * Where the manifest comes from: signed when its tag verifies under a key this machine holds
 * (the local key, or DB_BACKUP_KEY's); forged when it carries a tag under such a key that does
 * not verify; otherwise unverified. `manifest` is undefined for a file without one. Creates nothing.
 */
export const originOf = (
  file: string,
  manifest: Manifest | undefined,
  secret: Redacted.Redacted<string> | undefined
): Effect.Effect<Origin, BackupManifestForged | BackupKeyInvalid> =>
  Effect.gen(function*() {
    if (manifest === undefined) return { status: "unverified", reason: "no manifest: not written by dbkit" } as const
    const tag = manifest.signature
    if (tag === undefined || tag === null) {
      return { status: "unverified", reason: "its manifest is not signed" } as const
    }
    if (tag.alg !== "hmac-sha256" || typeof tag.key !== "string" || typeof tag.mac !== "string") {
      return {
        status: "unverified",
        reason: `its manifest is signed with ${String(tag.alg)}, which dbkit does not know`
      } as const
    }
    const local = yield* readLocalKey(yield* keyFile)
    const key = local?.id === tag.key
      ? local
      : secret !== undefined
      ? yield* Effect.map(Effect.promise(() => fingerprintSecret(secret)), derive)
      : undefined
    if (key === undefined || key.id !== tag.key) {
      return {
        status: "unverified",
        reason: `its manifest is signed under key ${tag.key}, which this machine does not hold`
      } as const
    }
    const given = Buffer.from(/^[0-9a-f]{64}$/.test(tag.mac) ? tag.mac : "", "hex")
    const expected = macOf(manifest, key)
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      return yield* new BackupManifestForged({ file, keyId: tag.key })
    }
    return { status: "signed", reason: "" } as const
  })
