// Restore's trust boundary: a backup file is untrusted input. Signed manifests, forged ones,
// files of unverified origin (restored only when trusted), files that are not dumps at all, and
// a restore that would leave a database without its tables — on the server and on PGlite.
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as SqlClient from "@effect/sql/SqlClient"
import { describe, expect, it, layer } from "@effect/vitest"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import { execFileSync } from "node:child_process"
import { createHash, randomBytes } from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"
import { gzipSync } from "node:zlib"
import { Backup, layer as backupLayer, type Manifest } from "../src/backup/Backup.js"
import { notADump } from "../src/backup/files.js"
import { layer as restoreLayer, Restore } from "../src/backup/Restore.js"
import { canonicalJson, originOf, sign, signingKey } from "../src/backup/signature.js"
import * as Config from "../src/Config.js"
import * as Guard from "../src/Guard.js"
import {
  admin,
  createScratchDatabase,
  dropScratchDatabase,
  EmbeddedLive,
  queryAt,
  ScratchDatabase,
  serverAvailable,
  ServerLive,
  tempDir,
  uniqueName,
  urlFor
} from "./support/databases.js"
import { NonInteractiveGuard, scriptedTerminal } from "./support/terminal.js"

const server = await serverAvailable()

/** This file's signing key (never the repository's .dbkit): made by the first backup. */
const keyFile = path.join(tempDir("dbkit-signing-"), "keys", "backup-signing.key")

const services = (backupDir: string, environment: Config.Environment) =>
  restoreLayer.pipe(
    Layer.provideMerge(backupLayer),
    Layer.provide(Layer.merge(Config.layerFrom({ environment, backupDir }), NodeContext.layer))
  )

/** Runs `f` with Backup and Restore, signing with this file's key (or `env`'s). */
const withServices = <A, E, R>(
  f: (s: { backup: Backup["Type"]; restore: Restore["Type"] }) => Effect.Effect<A, E, R>,
  options: { readonly out?: string; readonly environment?: Config.Environment; readonly env?: Record<string, string> } =
    {}
) =>
  Effect.flatMap(Effect.all({ backup: Backup, restore: Restore }), f).pipe(
    Effect.provide(services(options.out ?? tempDir("dbkit-origin-"), options.environment ?? "development")),
    Effect.withConfigProvider(
      ConfigProvider.fromMap(new Map(Object.entries({ DB_BACKUP_SIGNING_KEY_FILE: keyFile, ...options.env })))
    )
  )

/** A Guard whose terminal answers `answers` (a user typing), in `environment`. */
const TypingGuard = (answers: ReadonlyArray<string>, environment: Config.Environment = "development") =>
  Guard.layer.pipe(
    Layer.provide(scriptedTerminal(true, answers).layer),
    Layer.provide(Config.layerFrom({ environment }))
  )

const databaseExists = (name: string) =>
  Effect.promise(() =>
    admin<{ e: boolean }>("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1) AS e", [name])
  ).pipe(
    Effect.map((rows) => rows[0]!.e)
  )

const readManifest = (file: string) => JSON.parse(fs.readFileSync(`${file}.json`, "utf8")) as Manifest

/** The manifest beside `file` without its signature: what a manifest from before signing, or one stripped, looks like. */
const stripSignature = (file: string) => {
  const { signature: _dropped, ...unsigned } = readManifest(file)
  fs.writeFileSync(`${file}.json`, JSON.stringify(unsigned))
}

/** Files that are no dump at all, each with a name that says what it is. */
const notDumps = (dir: string) => {
  const files = {
    "empty.sql": Buffer.alloc(0),
    "random.bin": randomBytes(8192),
    "garbage.sql.gz": gzipSync(randomBytes(8192)),
    "fake-gzip.sql.gz": Buffer.concat([Buffer.from([0x1f, 0x8b]), Buffer.from("not really gzip")]),
    "nothing.sql.gz": gzipSync(Buffer.alloc(0)),
    "prose.sql": Buffer.from("Dear diary,\nthis is not SQL at all.\n"),
    "fake.dump": Buffer.from("PGDMX this only looks like an archive")
  }
  return Object.entries(files).map(([name, bytes]) => {
    fs.writeFileSync(path.join(dir, name), bytes)
    return path.join(dir, name)
  })
}

describe("Signed manifests and dump detection, without a database", () => {
  it("canonical JSON sorts keys at every level and keeps arrays in order", () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { z: 1, y: 2 }], c: null }, u: undefined })).toBe(
      "{\"a\":{\"c\":null,\"d\":[3,{\"y\":2,\"z\":1}]},\"b\":1}"
    )
    expect(canonicalJson({ a: 1, b: 2 })).toBe(canonicalJson({ b: 2, a: 1 }))
  })

  it.effect("a manifest signed here verifies; any change to it is forged; another key's or none is unverified; the key is in no signature", () =>
    Effect.gen(function*() {
      const localKeyFile = path.join(tempDir("dbkit-signing-unit-"), "k")
      const env = (map: Record<string, string>) => <A, E, R>(effect: Effect.Effect<A, E, R>) =>
        Effect.withConfigProvider(effect, ConfigProvider.fromMap(new Map(Object.entries(map))))
      const here = env({ DB_BACKUP_SIGNING_KEY_FILE: localKeyFile })
      const manifest = {
        file: "x.sql.gz",
        sha256: "ab".repeat(32),
        sizes: { dump: 10, file: 5 },
        tables: { "public.t": 3 }
      } as unknown as Manifest
      const key = yield* here(signingKey(undefined))
      const signed = sign(manifest, key)
      expect(signed.signature).toEqual({
        alg: "hmac-sha256",
        key: expect.stringMatching(/^[0-9a-f]{8}$/),
        mac: expect.stringMatching(/^[0-9a-f]{64}$/)
      })
      expect(fs.statSync(localKeyFile).mode & 0o777).toBe(0o600)
      expect(JSON.stringify(signed)).not.toContain(fs.readFileSync(localKeyFile, "utf8").trim())
      expect((yield* here(originOf("x", signed, undefined))).status).toBe("signed")
      // Field order does not matter: the tag is over the canonical form.
      const { tables, ...rest } = signed
      const reordered = JSON.parse(JSON.stringify({ tables, ...rest }))
      expect(Object.keys(reordered)[0]).toBe("tables")
      expect((yield* here(originOf("x", reordered, undefined))).status).toBe("signed")
      for (
        const changed of [
          { sha256: "cd".repeat(32) },
          { sizes: { dump: 11, file: 5 } },
          { tables: { "public.t": 4 } },
          { encryption: null }
        ]
      ) {
        const forged = yield* Effect.flip(here(originOf("x", { ...signed, ...changed } as Manifest, undefined)))
        expect(forged._tag).toBe("BackupManifestForged")
      }
      const garbledMac = yield* Effect.flip(
        here(originOf("x", { ...signed, signature: { ...signed.signature!, mac: "zz" } }, undefined))
      )
      expect(garbledMac._tag).toBe("BackupManifestForged")
      // Another machine's key, no key file at all, no signature, no manifest: unverified, and nothing is created.
      const elsewhere = path.join(tempDir("dbkit-signing-unit-"), "none")
      const unverified = yield* env({ DB_BACKUP_SIGNING_KEY_FILE: elsewhere })(originOf("x", signed, undefined))
      expect(unverified).toEqual({
        status: "unverified",
        reason: expect.stringContaining("which this machine does not hold")
      })
      expect(fs.existsSync(elsewhere)).toBe(false)
      expect((yield* here(originOf("x", manifest, undefined))).reason).toBe("its manifest is not signed")
      expect((yield* here(originOf("x", undefined, undefined))).reason).toContain("no manifest")
      // With DB_BACKUP_KEY, the key is derived from it: the same on any machine that has it.
      const withBackupKey = env({ DB_BACKUP_SIGNING_KEY_FILE: elsewhere, DB_BACKUP_KEY: "shared-backup-key" })
      const keyed = sign(manifest, yield* withBackupKey(signingKey(Redacted.make("shared-backup-key"))))
      expect(fs.existsSync(elsewhere)).toBe(false)
      expect((yield* withBackupKey(originOf("x", keyed, Redacted.make("shared-backup-key")))).status).toBe("signed")
      expect((yield* here(originOf("x", keyed, Redacted.make("another-key")))).status).toBe("unverified")
      expect(JSON.stringify(keyed)).not.toContain("shared-backup-key")
      // A key file that holds no key is an error, never replaced.
      fs.writeFileSync(localKeyFile, "not a key\n")
      const broken = yield* Effect.flip(here(signingKey(undefined)))
      expect(broken._tag).toBe("BackupKeyInvalid")
      expect(fs.readFileSync(localKeyFile, "utf8")).toBe("not a key\n")
    }))

  it("pg_dump scripts of 13 to 18 read as dumps; prose, binary and comments alone do not", () => {
    const header = "--\n-- PostgreSQL database dump\n--\n\n"
    const dumps = [
      `${header}-- Dumped from database version 13.16\n-- Dumped by pg_dump version 13.16\n\nSET statement_timeout = 0;\nSET lock_timeout = 0;\n`,
      `${header}\\restrict Jq2u0eXh9ePSkD8yPpC5cOdFFqnfpdy\n\n-- Dumped from database version 18.0\n-- Dumped by pg_dump version 18.0\n\nSET statement_timeout = 0;\n`,
      "SET statement_timeout = 0;\nSELECT pg_catalog.set_config('search_path', '', false);\n", // --no-comments
      "--\n-- PostgreSQL database cluster dump\n--\n\n\\restrict x\n\nSET default_transaction_read_only = off;\n",
      "\uFEFF-- hand-trimmed\nCREATE TABLE t (x int);\n"
    ]
    for (const dump of dumps) expect(notADump(Buffer.from(dump), true)).toBeUndefined()
    for (
      const prose of [
        "Dear diary,\nSET is not the first word here\n",
        "Do not restore this.\n",
        "Set up the database first\n",
        "SETTINGS=1\n"
      ]
    ) {
      expect(notADump(Buffer.from(prose), true)).toContain("does not read as a pg_dump script")
    }
    expect(notADump(Buffer.from(`${header}-- only comments\n`), true)).toBe("it holds only comments")
    expect(notADump(Buffer.concat([Buffer.from("SET x = 1;\n"), Buffer.from([0, 1, 2])]), true)).toContain("binary")
    expect(notADump(Buffer.alloc(0), true)).toContain("no SQL")
  })
})

describe.skipIf(!server)("Origin on the server", () => {
  layer(ServerLive, { excludeTestServices: true })("a populated database", (it) => {
    const itemsIn = (url: string) =>
      Effect.promise(() => queryAt<{ n: number }>(url, "SELECT count(*)::int AS n FROM items")).pipe(
        Effect.map((r) => r[0]!.n)
      )
    const scratchUrl = Effect.map(ScratchDatabase, (s) => Redacted.value(s.url))
    // Staging databases of restores over this file's database (other files' run beside it).
    const leftovers = Effect.flatMap(
      ScratchDatabase,
      (s) =>
        Effect.promise(() =>
          admin(`SELECT datname FROM pg_database WHERE starts_with(datname, $1)`, [`${s.name.slice(0, 40)}_restore_`])
        )
    )

    it.effect("a signed backup verifies as signed and restores without flags; its key file is 0600 and in no manifest", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        yield* sql.unsafe(
          `CREATE TABLE items (id int PRIMARY KEY, name text); INSERT INTO items SELECT g, 'item ' || g FROM generate_series(1, 30) g`
        )
        const made = yield* withServices(({ backup }) => backup.backup())
        expect(fs.statSync(keyFile).mode & 0o777).toBe(0o600)
        const key = fs.readFileSync(keyFile, "utf8").trim()
        expect(key).toMatch(/^[0-9a-f]{64}$/)
        const manifestText = fs.readFileSync(made.manifestFile, "utf8")
        expect(manifestText).not.toContain(key)
        expect(made.manifest.signature).toMatchObject({
          alg: "hmac-sha256",
          key: expect.stringMatching(/^[0-9a-f]{8}$/)
        })
        const verified = yield* withServices(({ backup }) => backup.verify(made.file))
        expect(verified).toMatchObject({ origin: "signed", originReason: "", checksum: "ok" })
        expect(JSON.stringify(verified)).not.toContain(key)
        const name = uniqueName("dbkit_signed")
        const restored = yield* withServices(({ restore }) => restore.into(made.file, name))
        try {
          expect(restored.rows).toBe(30)
        } finally {
          yield* Effect.promise(() => admin(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`))
        }
      }))

    it.effect("a manifest rewritten to match a changed file is forged: verify and every restore refuse it, even trusted; nothing is created", () =>
      Effect.gen(function*() {
        const out = tempDir("dbkit-origin-")
        const made = yield* withServices(({ backup }) => backup.backup({ out }), { out })
        const evil = Buffer.from(
          "--\n-- PostgreSQL database dump\n--\nSET client_encoding = 'UTF8';\nCREATE TABLE evil (x int);\n"
        )
        const bytes = gzipSync(evil)
        fs.writeFileSync(made.file, bytes)
        fs.writeFileSync(
          made.manifestFile,
          JSON.stringify({
            ...readManifest(made.file),
            sha256: createHash("sha256").update(bytes).digest("hex"),
            sizes: { dump: evil.length, file: bytes.length }
          })
        )
        const verified = yield* Effect.flip(withServices(({ backup }) => backup.verify(made.file)))
        expect(verified._tag).toBe("BackupManifestForged")
        expect(verified.message).toContain("its manifest was changed after it was written")
        const name = uniqueName("dbkit_forged")
        for (const trustUnsigned of [false, true]) {
          const into = yield* Effect.flip(
            withServices(({ restore }) => restore.into(made.file, name, { trustUnsigned }))
          )
          expect(into._tag).toBe("BackupManifestForged")
        }
        expect(yield* databaseExists(name)).toBe(false)
        const before = yield* itemsIn(yield* scratchUrl)
        const over = yield* Effect.flip(
          withServices(({ restore }) => restore.over(made.file, { yes: true, trustUnsigned: true }), { out }).pipe(
            Effect.provide(NonInteractiveGuard())
          )
        )
        expect(over._tag).toBe("BackupManifestForged")
        expect(yield* itemsIn(yield* scratchUrl)).toBe(before)
        expect(fs.readdirSync(out).sort()).toEqual([path.basename(made.file), path.basename(made.manifestFile)]) // no safety backup
        expect(yield* leftovers).toEqual([])
      }))

    it.effect("without its signature a backup is of unverified origin: restore --into needs trustUnsigned or the name typed, never in production without the flag", () =>
      Effect.gen(function*() {
        const made = yield* withServices(({ backup }) => backup.backup())
        stripSignature(made.file)
        const verified = yield* withServices(({ backup }) => backup.verify(made.file))
        expect(verified).toMatchObject({ origin: "unverified", originReason: "its manifest is not signed" })
        const name = uniqueName("dbkit_unsigned")
        const refused = yield* Effect.flip(withServices(({ restore }) => restore.into(made.file, name)))
        expect(refused._tag).toBe("BackupUntrustedOrigin")
        expect(refused.message).toContain("--trust-unsigned")
        expect(yield* databaseExists(name)).toBe(false)
        // No terminal to ask, or the wrong name typed: refused.
        const noTerminal = yield* Effect.flip(
          withServices(({ restore }) => restore.into(made.file, name)).pipe(Effect.provide(NonInteractiveGuard()))
        )
        expect(noTerminal._tag).toBe("BackupUntrustedOrigin")
        const mistyped = yield* Effect.flip(
          withServices(({ restore }) => restore.into(made.file, name)).pipe(Effect.provide(TypingGuard(["nope"])))
        )
        expect(mistyped.message).toContain("the name typed did not match")
        // Production: the flag or nothing, whatever a terminal user types.
        const production = yield* Effect.flip(
          withServices(({ restore }) => restore.into(made.file, name), { environment: "production" }).pipe(
            Effect.provide(TypingGuard([name], "production"))
          )
        )
        expect(production._tag).toBe("BackupUntrustedOrigin")
        expect(production.message).toContain("in production only --trust-unsigned")
        expect(yield* databaseExists(name)).toBe(false)
        // The name typed at a terminal, or the flag (in production too): restored.
        const typed = yield* withServices(({ restore }) => restore.into(made.file, name)).pipe(
          Effect.provide(TypingGuard([name]))
        )
        expect(typed.rows).toBe(30)
        yield* Effect.promise(() => admin(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`))
        const flagged = yield* withServices(({ restore }) => restore.into(made.file, name, { trustUnsigned: true }), {
          environment: "production"
        })
        expect(flagged.rows).toBe(30)
        yield* Effect.promise(() => admin(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`))
        // Signed under another machine's key: unverified as well.
        const elsewhere = yield* withServices(({ backup }) => backup.backup(), {
          env: { DB_BACKUP_SIGNING_KEY_FILE: path.join(tempDir("dbkit-other-key-"), "k") }
        })
        const foreignKey = yield* withServices(({ backup }) => backup.verify(elsewhere.file))
        expect(foreignKey.origin).toBe("unverified")
        expect(foreignKey.originReason).toContain(
          `signed under key ${elsewhere.manifest.signature!.key}, which this machine does not hold`
        )
        expect((yield* Effect.flip(withServices(({ restore }) => restore.into(elsewhere.file, name))))._tag).toBe(
          "BackupUntrustedOrigin"
        )
        expect(yield* databaseExists(name)).toBe(false)
      }))

    it.effect("a file made by plain pg_dump is of unverified origin: verified and test-restored, restored only when trusted", () =>
      Effect.gen(function*() {
        const scratch = yield* ScratchDatabase
        const file = path.join(tempDir("dbkit-origin-"), "plain.sql")
        fs.writeFileSync(file, execFileSync("pg_dump", ["-h", "127.0.0.1", "-U", "root", scratch.name]))
        const verified = yield* withServices(({ backup }) => backup.verify(file, { restoreTest: true }))
        expect(verified).toMatchObject({ origin: "unverified", originReason: expect.stringContaining("no manifest") })
        expect(verified.restoreTest).not.toBeNull()
        const name = uniqueName("dbkit_pgdump")
        expect((yield* Effect.flip(withServices(({ restore }) => restore.into(file, name))))._tag).toBe(
          "BackupUntrustedOrigin"
        )
        expect(yield* databaseExists(name)).toBe(false)
        yield* withServices(({ restore }) => restore.into(file, name, { trustUnsigned: true }))
        try {
          expect(yield* itemsIn(urlFor(name))).toBe(30)
        } finally {
          yield* Effect.promise(() => admin(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`))
        }
      }))

    it.effect("an empty file, random bytes, gzip of garbage, prose: BackupCorrupt in verify, restore --into and over, trusted or not; nothing touched", () =>
      Effect.gen(function*() {
        const url = yield* scratchUrl
        const before = yield* itemsIn(url)
        const out = tempDir("dbkit-origin-")
        for (const file of notDumps(tempDir("dbkit-not-dumps-"))) {
          const verified = yield* Effect.flip(withServices(({ backup }) => backup.verify(file)))
          expect([file, verified._tag]).toEqual([file, "BackupCorrupt"])
          const name = uniqueName("dbkit_not_a_dump")
          for (const trustUnsigned of [false, true]) {
            const into = yield* Effect.flip(withServices(({ restore }) => restore.into(file, name, { trustUnsigned })))
            expect([file, into._tag]).toEqual([file, "BackupCorrupt"])
          }
          expect(yield* databaseExists(name)).toBe(false)
          const over = yield* Effect.flip(
            withServices(({ restore }) => restore.over(file, { yes: true, trustUnsigned: true }), { out }).pipe(
              Effect.provide(NonInteractiveGuard())
            )
          )
          expect([file, over._tag]).toEqual([file, "BackupCorrupt"])
        }
        expect(yield* itemsIn(url)).toBe(before)
        expect(fs.readdirSync(out)).toEqual([]) // no safety backup was taken
        expect(yield* leftovers).toEqual([])
      }))

    // Last: it leaves the database without tables.
    it.effect("a backup without tables over a database with some is refused unless allowEmpty; a foreign one too", () =>
      Effect.gen(function*() {
        const url = yield* scratchUrl
        const out = tempDir("dbkit-origin-")
        const empty = yield* withServices(({ backup }) => backup.backup({ out, excludeTable: ["*"] }), { out })
        expect(empty.manifest.tables).toEqual({})
        const refused = yield* Effect.flip(
          withServices(({ restore }) => restore.over(empty.file, { yes: true }), { out }).pipe(
            Effect.provide(NonInteractiveGuard())
          )
        )
        expect(refused._tag).toBe("BackupCorrupt")
        expect(refused.message).toContain("--allow-empty")
        // A plain pg_dump of an empty database: its CREATE TABLE lines are counted (none).
        const blank = yield* Effect.promise(() => createScratchDatabase("dbkit_blank"))
        const foreign = path.join(tempDir("dbkit-origin-"), "blank.sql")
        fs.writeFileSync(foreign, execFileSync("pg_dump", ["-h", "127.0.0.1", "-U", "root", blank.name]))
        yield* Effect.promise(() => dropScratchDatabase(blank.name))
        const foreignRefused = yield* Effect.flip(
          withServices(({ restore }) => restore.over(foreign, { yes: true, trustUnsigned: true }), { out }).pipe(
            Effect.provide(NonInteractiveGuard())
          )
        )
        expect(foreignRefused._tag).toBe("BackupCorrupt")
        expect(foreignRefused.message).toContain("holds no tables")
        expect(yield* itemsIn(url)).toBe(30)
        expect(fs.readdirSync(out).sort()).toEqual([path.basename(empty.file), path.basename(empty.manifestFile)]) // no safety backup
        // Said so: done (with a safety backup of what it replaced).
        const done = yield* withServices(
          ({ restore }) => restore.over(empty.file, { yes: true, allowEmpty: true, terminateConnections: true }),
          { out }
        ).pipe(
          Effect.provide(NonInteractiveGuard())
        )
        expect(done.safetyBackup).not.toBeNull()
        const tables = yield* Effect.promise(() =>
          queryAt<{ n: number }>(url, "SELECT count(*)::int AS n FROM pg_tables WHERE schemaname = 'public'")
        )
        expect(tables[0]!.n).toBe(0)
        // Over a database without tables, nothing is emptied: no flag needed.
        yield* withServices(
          ({ restore }) => restore.over(empty.file, { yes: true, safetyBackup: false, terminateConnections: true }),
          { out }
        ).pipe(
          Effect.provide(NonInteractiveGuard()),
          Effect.tap((r) => Effect.promise(() => admin(`DROP DATABASE IF EXISTS "${r.previous}" WITH (FORCE)`)))
        )
        expect(yield* leftovers).toEqual([])
      }))
  })
})

describe("Origin on the embedded database", () => {
  layer(EmbeddedLive, { excludeTestServices: true })("in memory", (it) => {
    const items = Effect.flatMap(
      SqlClient.SqlClient,
      (sql) => Effect.map(sql<{ n: number }>`SELECT count(*)::int AS n FROM items`, (r) => r[0]!.n)
    )

    it.effect("signed: restored over without flags; unsigned: refused untrusted; not a dump or emptying: refused; the database unchanged", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        yield* sql.unsafe(`CREATE TABLE items (id int PRIMARY KEY); INSERT INTO items SELECT generate_series(1, 12)`)
        const out = tempDir("dbkit-origin-embedded-")
        const made = yield* withServices(({ backup }) => backup.backup({ out }), { out })
        expect(made.manifest.signature?.alg).toBe("hmac-sha256")
        yield* sql`INSERT INTO items VALUES (13)`
        const over = (file: string, options: { trustUnsigned?: boolean; allowEmpty?: boolean } = {}) =>
          withServices(({ restore }) => restore.over(file, { yes: true, safetyBackup: false, ...options }), { out })
            .pipe(Effect.provide(NonInteractiveGuard()))
        const restored = yield* over(made.file)
        expect(restored.rows).toBe(12)
        expect(yield* items).toBe(12)

        yield* sql`INSERT INTO items VALUES (13)`
        stripSignature(made.file)
        const untrusted = yield* Effect.flip(over(made.file))
        expect(untrusted._tag).toBe("BackupUntrustedOrigin")
        for (const file of notDumps(tempDir("dbkit-not-dumps-"))) {
          expect([file, (yield* Effect.flip(over(file, { trustUnsigned: true })))._tag]).toEqual([
            file,
            "BackupCorrupt"
          ])
        }
        const empty = yield* withServices(({ backup }) => backup.backup({ out, excludeTable: ["*"] }), { out })
        const emptying = yield* Effect.flip(over(empty.file))
        expect(emptying.message).toContain("--allow-empty")
        expect(yield* items).toBe(13)
        expect(fs.readdirSync(out).filter((f) => !f.endsWith(".json"))).toHaveLength(2) // the two backups: nothing else written
        yield* over(made.file, { trustUnsigned: true })
        expect(yield* items).toBe(12)
      }))
  })
})
