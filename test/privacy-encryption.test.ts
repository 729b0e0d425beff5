// Field-level encryption keys: verify-encryption counts every kind of stored value exactly; rotate-key moves every
// readable value to the active key (plaintext too), leaves values under unknown keys and altered ones alone and says
// so, carries on after an interruption, never overwrites what the application wrote meanwhile, and never prints a
// key — on the server, through the CLI, and on the embedded database.
import * as SqlClient from "@effect/sql/SqlClient"
import { describe, expect, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"
import * as crypto from "node:crypto"
import * as path from "node:path"
import pg from "pg"
import { afterAll, beforeAll, it as vitestIt } from "vitest"
import { ExitCode, exitCodeByTag } from "../src/cli/exitCodes.js"
import referenceMap from "../src/example/schema/privacy.js"
import type { PrivacyMap } from "../src/privacy/declare.js"
import { requireEncrypted, rotateKey, type RotateReport, verifyEncryption } from "../src/privacy/encryption.js"
import { type Keyring, makeKeyring, parseEnvelope } from "../src/privacy/fieldCrypto.js"
import { runCli } from "./support/cli.js"
import {
  createScratchDatabase,
  dropScratchDatabase,
  EmbeddedLive,
  queryAt,
  ScratchDatabase,
  serverAvailable,
  ServerLive
} from "./support/databases.js"
import { withMigrator } from "./support/migrations.js"

const server = await serverAvailable()
const referenceMigrations = path.resolve(import.meta.dirname, "../migrations")
const map: PrivacyMap = referenceMap

const key = () => crypto.randomBytes(32)
const keys = { k1: key(), k2: key(), k9: key() }
const only1 = makeKeyring([["k1", keys.k1]])
const rotating = makeKeyring([["k2", keys.k2], ["k1", keys.k1]]) // k2 active, k1 still decrypts
const stranger = makeKeyring([["k9", keys.k9]]) // a key nobody configured
/** Every spelling of the key material that must never be printed. */
const secrets = Object.values(keys).flatMap((k) => [k.toString("base64"), k.toString("base64url"), k.toString("hex")])
const envKeys = `k2:${keys.k2.toString("base64")},k1:${keys.k1.toString("base64")}`

type Kind = "good" | "null" | "plaintext" | "unknown" | "tampered"

interface Seeded {
  /** Customer ids in key order, with what each row holds. */
  readonly rows: ReadonlyArray<{ id: string; kind: Kind; plain: string | null; stored: string | null }>
  readonly byKind: (kind: Kind) => ReadonlyArray<string>
}

/** A ciphertext under k1 with one character of its body changed: it parses, but fails authentication. */
const tamper = (value: string) => {
  const at = value.length - 10
  return value.slice(0, at) + (value[at] === "A" ? "B" : "A") + value.slice(at + 1)
}

/** The plan of rows: `good` under k1 across two tenants, plus the odd ones. */
const plan = (counts: Partial<Record<Kind, number>>) =>
  (Object.entries(counts) as Array<[Kind, number]>).flatMap(([kind, n]) => Array.from({ length: n }, () => kind))
    .map((kind, i) => {
      const plain = kind === "null" ? null : `DE${String(100_000_000 + i * 7919).slice(0, 9)}`
      const stored = kind === "null" || plain === null
        ? null
        : kind === "plaintext"
        ? plain
        : kind === "unknown"
        ? stranger.encrypt(plain)
        : kind === "tampered"
        ? tamper(only1.encrypt(plain))
        : only1.encrypt(plain)
      return { id: crypto.randomUUID(), kind, plain, stored, tenant: i % 2 }
    })
    .sort((a, b) => (a.id < b.id ? -1 : 1))

const seedRows = (
  run: (text: string, params: Array<unknown>) => Effect.Effect<unknown, unknown>,
  counts: Partial<Record<Kind, number>>
) =>
  Effect.gen(function*() {
    const rows = plan(counts)
    yield* run("TRUNCATE organizations CASCADE", [])
    yield* run(
      `INSERT INTO organizations (id, slug, name) VALUES ('00000000-0000-4000-8000-000000000001', 'acme', 'Acme'),
              ('00000000-0000-4000-8000-000000000002', 'globex', 'Globex')`,
      []
    )
    yield* run(
      `INSERT INTO customers (id, tenant_id, name, tax_id)
       SELECT id, ('00000000-0000-4000-8000-00000000000' || (t + 1))::uuid, 'customer ' || id, tax
         FROM unnest($1::uuid[], $2::int[], $3::text[]) AS s(id, t, tax)`,
      [rows.map((r) => r.id), rows.map((r) => r.tenant), rows.map((r) => r.stored)]
    )
    return { rows, byKind: (kind: Kind) => rows.filter((r) => r.kind === kind).map((r) => r.id) } satisfies Seeded
  })

const seed = (counts: Partial<Record<Kind, number>>) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) => seedRows((text, params) => sql.unsafe(text, params), counts))

const storedValues = Effect.flatMap(SqlClient.SqlClient, (sql) =>
  Effect.map(
    sql.unsafe<{ id: string; tax_id: string | null }>("SELECT id::text AS id, tax_id FROM customers ORDER BY id"),
    (rows) => new Map(rows.map((r) => [r.id, r.tax_id]))
  ))

/** Every good and formerly plaintext row is under k2 and decrypts to its original; the odd ones are byte for byte as seeded. */
const expectRotated = (seeded: Seeded, stored: ReadonlyMap<string, string | null>, ring: Keyring) => {
  for (const row of seeded.rows) {
    const now = stored.get(row.id)
    if (row.kind === "good" || row.kind === "plaintext") {
      expect(parseEnvelope(now!)?.keyId, `${row.kind} row ${row.id}`).toBe("k2")
      expect(ring.decrypt(now!)).toBe(row.plain)
    } else {
      expect(now, `${row.kind} row ${row.id}`).toBe(row.stored)
    }
  }
}

const sorted = (xs: ReadonlyArray<string>) => [...xs].sort()

/** Nothing the user sees holds key material or a stored tax id. */
const expectNoSecrets = (text: string, seeded?: Seeded) => {
  for (const secret of secrets) expect(text).not.toContain(secret)
  for (const row of seeded?.rows ?? []) if (row.plain) expect(text).not.toContain(row.plain)
}

describe.skipIf(!server)("field encryption on the server", () => {
  layer(ServerLive, { excludeTestServices: true })("verify and rotate", (it) => {
    it.effect("verify-encryption counts active, old-key, plaintext, unknown-key and undecryptable values exactly, with sample keys of the bad rows", () =>
      Effect.gen(function*() {
        yield* withMigrator(referenceMigrations, undefined, (m) => m.migrate())
        const seeded = yield* seed({ good: 14, null: 3, plaintext: 2, unknown: 1, tampered: 1 })
        const report = yield* verifyEncryption(map, rotating, { batchSize: 4 })
        expect(report.activeKey).toBe("k2")
        expect(report.keys).toEqual(["k2", "k1"])
        expect(report.columns).toHaveLength(1)
        const [column] = report.columns
        expect(column).toMatchObject({
          schema: "public",
          table: "customers",
          column: "tax_id",
          values: 18,
          nulls: 3,
          active: 0,
          oldKey: 14,
          plaintext: { count: 2 },
          unknownKey: { count: 1, sample: seeded.byKind("unknown") },
          undecryptable: { count: 1, sample: seeded.byKind("tampered") },
          byKey: { k1: 15, k9: 1 },
          ok: false
        })
        expect(sorted(column!.plaintext.sample)).toEqual(sorted(seeded.byKind("plaintext")))
        expect(report.ok).toBe(false)
        const failed = yield* Effect.flip(requireEncrypted(report))
        expect(failed._tag).toBe("EncryptionProblems")
        expect(failed.columns).toEqual([
          expect.objectContaining({
            column: "public.customers.tax_id",
            plaintext: 2,
            unknownKey: 1,
            undecryptable: 1,
            unknownKeyIds: ["k9"]
          })
        ])
        expect(failed.message).toContain(
          "public.customers.tax_id: 2 plaintext, 1 under an unknown key (k9), 1 undecryptable"
        )
        expectNoSecrets(failed.message, seeded)
        // Under k1 alone the same values are all under the active key; the other ring does not know k1 at all.
        const byK1 = (yield* verifyEncryption(map, only1)).columns[0]!
        expect([byK1.active, byK1.oldKey, byK1.unknownKey.count, byK1.undecryptable.count]).toEqual([14, 0, 1, 1])
        const byK9 = (yield* verifyEncryption(map, stranger)).columns[0]!
        expect([byK9.active, byK9.unknownKey.count, byK9.undecryptable.count]).toEqual([1, 15, 0])
        // Only one table of the map, by name; a name matching nothing is refused.
        expect((yield* verifyEncryption(map, rotating, { tables: ["customers.tax_id"] })).columns).toHaveLength(1)
        const unknownTable = yield* Effect.flip(verifyEncryption(map, rotating, { tables: ["invoices"] }))
        expect(unknownTable._tag).toBe("InvalidEncryptionOptions")
        expect(unknownTable.message).toContain("public.customers.tax_id")
      }))

    it.effect("rotate-key moves every readable value to the active key (plaintext too), leaves unknown-key and altered values alone, and says which", () =>
      Effect.gen(function*() {
        yield* withMigrator(referenceMigrations, undefined, (m) => m.migrate())
        const seeded = yield* seed({ good: 14, null: 3, plaintext: 2, unknown: 1, tampered: 1 })
        const progress: Array<number> = []
        const failed = yield* Effect.flip(rotateKey(map, rotating, {
          batchSize: 4,
          onProgress: (p) => Effect.sync(() => void progress.push(p.done))
        }))
        expect(failed._tag).toBe("EncryptionProblems")
        const problems = failed as Extract<typeof failed, { _tag: "EncryptionProblems" }>
        expect(problems.columns).toEqual([
          {
            column: "public.customers.tax_id",
            plaintext: 0,
            unknownKey: 1,
            undecryptable: 1,
            unknownKeyIds: ["k9"],
            sample: expect.any(Array)
          }
        ])
        expect(sorted(problems.columns[0]!.sample)).toEqual(
          sorted([...seeded.byKind("unknown"), ...seeded.byKind("tampered")])
        )
        expectNoSecrets(problems.message, seeded)
        const report = problems.report as RotateReport
        expect(report).toMatchObject({ activeKey: "k2", rotated: 14, encrypted: 2, skipped: 0, problems: 2 })
        expect(report.columns[0]).toMatchObject({
          pending: 18,
          scanned: 18,
          batches: 5,
          unknownKey: { count: 1, sample: seeded.byKind("unknown"), keyIds: ["k9"] },
          undecryptable: { count: 1, sample: seeded.byKind("tampered") }
        })
        expect(progress).toEqual([4, 8, 12, 16, 18])
        expectRotated(seeded, yield* storedValues, rotating)
        const after = (yield* verifyEncryption(map, rotating)).columns[0]!
        expect([after.active, after.oldKey, after.plaintext.count, after.nulls]).toEqual([16, 0, 0, 3])
        // Again: nothing left to rotate, the same two values still reported.
        const again = yield* Effect.flip(rotateKey(map, rotating, { batchSize: 4 }))
        expect(again._tag === "EncryptionProblems" && again.report).toMatchObject({
          rotated: 0,
          encrypted: 0,
          problems: 2
        })
        // Repaired by hand (cleared): the next run succeeds, and the key can go.
        const sql = yield* SqlClient.SqlClient
        yield* sql.unsafe("UPDATE customers SET tax_id = NULL WHERE id = ANY($1::uuid[])", [[
          ...seeded.byKind("unknown"),
          ...seeded.byKind("tampered")
        ]])
        const clean = yield* rotateKey(map, rotating, { batchSize: 4 })
        expect(clean).toMatchObject({ rotated: 0, encrypted: 0, skipped: 0, problems: 0 })
        const withoutK1 = yield* verifyEncryption(map, makeKeyring([["k2", keys.k2]]))
        expect(withoutK1.ok).toBe(true)
        expect(withoutK1.columns[0]).toMatchObject({ active: 16, oldKey: 0, nulls: 5 })
      }))

    it.effect("an interrupted rotation keeps what it committed, and the next run finishes the rest without revisiting it", () =>
      Effect.gen(function*() {
        yield* withMigrator(referenceMigrations, undefined, (m) => m.migrate())
        const seeded = yield* seed({ good: 40, null: 2 })
        const exit = yield* Effect.exit(rotateKey(map, rotating, {
          batchSize: 5,
          onProgress: (p) => (p.batches === 3 ? Effect.interrupt : Effect.void)
        }))
        expect(Exit.isInterrupted(exit)).toBe(true)
        const halfway = [...(yield* storedValues).values()].filter((v) => v !== null)
        expect(halfway.filter((v) => parseEnvelope(v)?.keyId === "k2")).toHaveLength(15)
        expect(halfway.filter((v) => parseEnvelope(v)?.keyId === "k1")).toHaveLength(25)
        const resumed = yield* rotateKey(map, rotating, { batchSize: 5 })
        expect(resumed.columns[0]).toMatchObject({
          pending: 25,
          scanned: 25,
          rotated: 25,
          encrypted: 0,
          skipped: 0,
          batches: 5
        })
        expectRotated(seeded, yield* storedValues, rotating)
      }))

    it.effect("values the application writes during a rotation are never overwritten: a row changed between read and write is skipped", () =>
      Effect.gen(function*() {
        yield* withMigrator(referenceMigrations, undefined, (m) => m.migrate())
        const url = Redacted.value((yield* ScratchDatabase).url)
        const seeded = yield* seed({ good: 20 })
        const ids = seeded.rows.map((r) => r.id)
        // Batches of 5 in key order: Z is in the first batch, X in the second, Y in the third.
        const [z, x, y] = [ids[2]!, ids[7]!, ids[12]!]
        const app = new pg.Client({ connectionString: url })
        yield* Effect.promise(() => app.connect())
        yield* Effect.addFinalizer(() => Effect.promise(() => app.end()))
        const zValue = rotating.encrypt("Z-NEW") // an application already on the new keys
        const xValue = only1.encrypt("X-NEW") // one still on the old keys
        const yValue = only1.encrypt("Y-NEW")
        // Once the rotation's UPDATE waits for X's row lock, the application commits X's new value.
        const commitWhenRotationWaits = Effect.promise(() =>
          queryAt<{ n: number }>(
            url,
            `SELECT count(*)::int AS n FROM pg_stat_activity
              WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%WITH written AS%'`
          )
        ).pipe(
          Effect.repeat({ until: (rows) => rows[0]!.n > 0, schedule: Schedule.spaced("20 millis") }),
          Effect.zipRight(Effect.promise(() => app.query("COMMIT")))
        )
        const report = yield* rotateKey(map, rotating, {
          batchSize: 5,
          onProgress: (p) =>
            p.batches !== 1 ? Effect.void : Effect.gen(function*() {
              yield* Effect.promise(() => queryAt(url, "UPDATE customers SET tax_id = $1 WHERE id = $2", [zValue, z]))
              yield* Effect.promise(() => queryAt(url, "UPDATE customers SET tax_id = $1 WHERE id = $2", [yValue, y]))
              yield* Effect.promise(() => app.query("BEGIN"))
              yield* Effect.promise(() => app.query("UPDATE customers SET tax_id = $1 WHERE id = $2", [xValue, x]))
              yield* Effect.forkDaemon(commitWhenRotationWaits)
            })
        })
        expect(report).toMatchObject({ rotated: 19, skipped: 1, problems: 0 })
        const stored = yield* storedValues
        expect(stored.get(z)).toBe(zValue)
        expect(stored.get(x)).toBe(xValue)
        expect(rotating.decrypt(stored.get(y)!)).toBe("Y-NEW")
        expect(parseEnvelope(stored.get(y)!)?.keyId).toBe("k2")
        for (const row of seeded.rows.filter((r) => ![x, y, z].includes(r.id))) {
          expect(parseEnvelope(stored.get(row.id)!)?.keyId).toBe("k2")
          expect(rotating.decrypt(stored.get(row.id)!)).toBe(row.plain)
        }
        // The next run moves the skipped value, as the application wrote it, to k2.
        const next = yield* rotateKey(map, rotating, { batchSize: 5 })
        expect(next).toMatchObject({ rotated: 1, skipped: 0 })
        const final = yield* storedValues
        expect(parseEnvelope(final.get(x)!)?.keyId).toBe("k2")
        expect(rotating.decrypt(final.get(x)!)).toBe("X-NEW")
        expect(final.get(z)).toBe(zValue)
      }).pipe(Effect.scoped))
  })
})

describe.skipIf(!server)("dbkit privacy rotate-key / verify-encryption as a process", () => {
  let db: { name: string; url: string }
  beforeAll(async () => {
    db = await createScratchDatabase("dbkit_cli_privacy")
  })
  afterAll(() => dropScratchDatabase(db.name))

  vitestIt(
    "reports problems with exit 19, rotates with progress and a banner, and never prints a key or a value",
    async () => {
      const cli = (args: Array<string>, env: Record<string, string> = {}) =>
        runCli(args, { DATABASE_URL: db.url, DBKIT_FIELD_KEYS: envKeys, ...env })
      expect((await cli(["migrate"])).code).toBe(0)
      const seeded = await Effect.runPromise(seedRows(
        (text, params) => Effect.promise(() => queryAt(db.url, text, params)),
        { good: 25, null: 2, plaintext: 1, unknown: 1, tampered: 1 }
      ))
      const problemsExit = exitCodeByTag.EncryptionProblems ?? ExitCode.unexpected

      const verified = await cli(["privacy", "verify-encryption", "--json"])
      expect(verified.code).toBe(problemsExit)
      expect(verified.code).not.toBe(0)
      const report = JSON.parse(verified.stdout)
      expect(report.columns[0]).toMatchObject({
        values: 28,
        nulls: 2,
        active: 0,
        oldKey: 25,
        plaintext: { count: 1 },
        unknownKey: { count: 1 },
        undecryptable: { count: 1 }
      })
      expect(verified.stderr).toContain(
        "error: public.customers.tax_id: 1 plaintext, 1 under an unknown key (k9), 1 undecryptable"
      )

      const rotated = await cli(["privacy", "rotate-key", "--batch-size", "4", "--verbose"])
      expect(rotated.code).toBe(problemsExit)
      expect(rotated.stderr).toMatch(
        new RegExp(`^dbkit privacy rotate-key · development · root@127\\.0\\.0\\.1:5432/${db.name}$`, "m")
      )
      expect(rotated.stderr).toMatch(/public\.customers\.tax_id {2}28\/28 {2}[\d,]+ rows\/s/)
      expect(rotated.stdout).toMatch(/public\.customers\.tax_id +25 +1 +0 +1 +1 /)
      expect(rotated.stdout).toContain("26 value(s) now under key k2 (25 re-encrypted, 1 were plaintext)")
      expect(rotated.stdout).toContain(`under an unknown key (k9): rows ${seeded.byKind("unknown")[0]}`)
      expect(rotated.stderr).toContain("error: public.customers.tax_id: 1 under an unknown key (k9), 1 undecryptable")
      const stored = new Map(
        (await queryAt<{ id: string; tax_id: string | null }>(db.url, "SELECT id::text AS id, tax_id FROM customers"))
          .map((r) => [r.id, r.tax_id])
      )
      expectRotated(seeded, stored, rotating)

      // Keys that cannot be used: exit 2, the bad text not echoed.
      const shortKey = crypto.randomBytes(31).toString("base64")
      const badKeys = await cli(["privacy", "rotate-key"], { DBKIT_FIELD_KEYS: `k2:${shortKey}` })
      expect(badKeys.code).toBe(exitCodeByTag.FieldKeysInvalid ?? ExitCode.unexpected)
      expect(badKeys.stderr).toContain(`key "k2" is not 32 bytes`)
      expect(badKeys.stderr).not.toContain(shortKey)

      // Repaired: verification passes (exit 0), with the human table.
      await queryAt(db.url, "UPDATE customers SET tax_id = NULL WHERE id = ANY($1::uuid[])", [[
        ...seeded.byKind("unknown"),
        ...seeded.byKind("tampered")
      ]])
      const ok = await cli(["privacy", "verify-encryption"])
      expect(ok.code).toBe(0)
      expect(ok.stdout).toMatch(/public\.customers\.tax_id +26 +26 +0 +0 +0 +0 +4/)
      expect(ok.stdout).toContain("ok: every value is encrypted under a configured key")

      for (const run of [verified, rotated, badKeys, ok]) expectNoSecrets(run.stdout + run.stderr, seeded)
    }
  )
})

describe("field encryption on the embedded database", () => {
  layer(EmbeddedLive, { excludeTestServices: true })("in memory", (it) => {
    it.effect("verifies, rotates to the new key and verifies clean", () =>
      Effect.gen(function*() {
        yield* withMigrator(referenceMigrations, undefined, (m) => m.migrate())
        const seeded = yield* seed({ good: 11, null: 2, plaintext: 1 })
        const before = yield* verifyEncryption(map, rotating, { batchSize: 3 })
        expect(before.columns[0]).toMatchObject({
          values: 12,
          nulls: 2,
          oldKey: 11,
          plaintext: { count: 1, sample: seeded.byKind("plaintext") },
          ok: false
        })
        const report = yield* rotateKey(map, rotating, { batchSize: 3 })
        expect(report).toMatchObject({ rotated: 11, encrypted: 1, skipped: 0, problems: 0 })
        expect(report.columns[0]).toMatchObject({ scanned: 12, batches: 4 })
        expectRotated(seeded, yield* storedValues, rotating)
        const after = yield* verifyEncryption(map, makeKeyring([["k2", keys.k2]]))
        expect(after.ok).toBe(true)
        expect(after.columns[0]).toMatchObject({ values: 12, active: 12, oldKey: 0 })
      }))
  })
})
