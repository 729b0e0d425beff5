// The key rotation a user writes without dbkit (scripts/bench/rows/08-privacy-rotation.mjs): node + pg, SELECT every
// value under the old key at once, re-encrypt each with node:crypto (AES-256-GCM, the enc:v1:<key id>:<base64url(iv ‖
// ciphertext ‖ tag)> format of src/privacy/fieldCrypto.ts), UPDATE … FROM unnest in batches (autocommit, one statement
// each), with the audit triggers switched off for its session as dbkit switches them off for its batches (a
// re-encryption is not an audit event; the bench's role is a superuser, for whom the triggers honour it). Prints
// { "rotated": N } on stdout.
//   DATABASE_URL       the database
//   DBKIT_FIELD_KEYS   "new:<base64>,old:<base64>" (the first is the key to rotate to)
//   BENCH_BATCH        values per UPDATE (default 2000)
import * as crypto from "node:crypto"
import pg from "pg"

const [[newId, newKey], [oldId, oldKey]] = process.env.DBKIT_FIELD_KEYS.split(",").map((part) => {
  const colon = part.indexOf(":")
  return [part.slice(0, colon), Buffer.from(part.slice(colon + 1), "base64")]
})
const batch = Number(process.env.BENCH_BATCH ?? 2000)
const oldPrefix = `enc:v1:${oldId}:`
const newPrefix = `enc:v1:${newId}:`

const decrypt = (value) => {
  const body = Buffer.from(value.slice(oldPrefix.length), "base64url")
  const decipher = crypto.createDecipheriv("aes-256-gcm", oldKey, body.subarray(0, 12))
  decipher.setAuthTag(body.subarray(body.length - 16))
  return Buffer.concat([decipher.update(body.subarray(12, body.length - 16)), decipher.final()]).toString("utf8")
}

const encrypt = (plaintext) => {
  const iv = crypto.randomBytes(12)
  const cipher = crypto.createCipheriv("aes-256-gcm", newKey, iv)
  return newPrefix + Buffer.concat([iv, cipher.update(plaintext, "utf8"), cipher.final(), cipher.getAuthTag()]).toString("base64url")
}

const client = new pg.Client({ connectionString: process.env.DATABASE_URL })
await client.connect()
await client.query("SET dbkit.audit = 'off'")
try {
  const { rows } = await client.query("SELECT id, tax_id FROM customers WHERE tax_id LIKE $1", [`${oldPrefix}%`])
  let rotated = 0
  for (let i = 0; i < rows.length; i += batch) {
    const slice = rows.slice(i, i + batch)
    const result = await client.query(
      "UPDATE customers SET tax_id = v.tax_id FROM unnest($1::uuid[], $2::text[]) AS v(id, tax_id) WHERE customers.id = v.id",
      [slice.map((r) => r.id), slice.map((r) => encrypt(decrypt(r.tax_id)))]
    )
    rotated += result.rowCount
  }
  console.log(JSON.stringify({ rotated }))
} finally {
  await client.end()
}
