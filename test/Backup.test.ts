// Backups on the real server: the file, its manifest, its permissions, encryption, and that
// a plain backup restores with plain psql.
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as SqlClient from "@effect/sql/SqlClient"
import { describe, expect, layer } from "@effect/vitest"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import { execFileSync, spawnSync } from "node:child_process"
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"
import { gunzipSync } from "node:zlib"
import { Backup, layer as backupLayer } from "../src/backup/Backup.js"
import * as Config from "../src/Config.js"
import {
  createScratchDatabase,
  dropScratchDatabase,
  EmbeddedLive,
  ScratchDatabase,
  serverAvailable,
  ServerLive,
  tempDir
} from "./support/databases.js"
import { withMigrator } from "./support/migrations.js"

const server = await serverAvailable()
const referenceMigrations = path.resolve(import.meta.dirname, "../migrations")

const withBackup = <A, E>(f: (b: Backup["Type"]) => Effect.Effect<A, E>, env: Record<string, string> = {}) =>
  Effect.flatMap(Backup, f).pipe(
    Effect.provide(
      backupLayer.pipe(Layer.provide(Layer.merge(Config.layerFrom({ environment: "development" }), NodeContext.layer)))
    ),
    Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env))))
  )

describe.skipIf(!server)("Backup on the server", () => {
  layer(ServerLive, { excludeTestServices: true })("of a migrated, populated database", (it) => {
    it.effect("writes a 0600 gzip file and a manifest whose checksum and row counts match; plain psql restores it", () =>
      Effect.gen(function*() {
        yield* withMigrator(referenceMigrations, undefined, (m) => m.migrate())
        const sql = yield* SqlClient.SqlClient
        yield* sql.unsafe(`INSERT INTO organizations (slug, name) VALUES ('acme', 'Acme'), ('globex', 'Globex');
          INSERT INTO customers (tenant_id, name) SELECT id, 'Customer of ' || name FROM organizations`)
        const out = tempDir("dbkit-backups-")
        const result = yield* withBackup((b) => b.backup({ out }))
        const scratch = yield* ScratchDatabase
        expect(path.basename(result.file)).toMatch(
          new RegExp(`^${scratch.name}_backup_\\d{4}-\\d{2}-\\d{2}_\\d{2}-\\d{2}-\\d{2}\\.sql\\.gz$`)
        )
        expect(fs.statSync(result.file).mode & 0o777).toBe(0o600)
        expect(fs.statSync(result.manifestFile).mode & 0o777).toBe(0o600)
        expect(fs.readdirSync(out).filter((f) => f.endsWith(".partial"))).toEqual([])
        const bytes = fs.readFileSync(result.file)
        const manifest = JSON.parse(fs.readFileSync(result.manifestFile, "utf8"))
        expect(manifest.sha256).toBe(createHash("sha256").update(bytes).digest("hex"))
        expect(manifest.sizes.file).toBe(bytes.length)
        expect(manifest.tables["public.customers"]).toBe(2)
        expect(manifest.tables["public.organizations"]).toBe(2)
        // the two customer inserts, recorded by the audit triggers (migration 0004)
        expect(manifest.tables["public.audit_log"]).toBe(2)
        expect(manifest.migrationHead).toBe("0007_tenant_transaction_stamp")
        expect(manifest.encryption).toBeNull()
        const dump = gunzipSync(bytes).toString("utf8")
        expect(dump).toContain("PostgreSQL database dump")
        expect(manifest.sizes.dump).toBe(Buffer.byteLength(dump))
        // dbkit's plain backups restore with plain psql.
        const target = yield* Effect.promise(() => createScratchDatabase("dbkit_restored"))
        try {
          const psql = (args: Array<string>, input?: Buffer) =>
            execFileSync("psql", [
              "-X",
              "-q",
              "-v",
              "ON_ERROR_STOP=1",
              "-h",
              "127.0.0.1",
              "-U",
              "root",
              "-d",
              target.name,
              ...args
            ], { input })
          psql([], gunzipSync(bytes))
          expect(psql(["-At", "-c", "SELECT count(*) FROM customers"]).toString().trim()).toBe("2")
          // the dump creates the triggers after loading the data: restoring records nothing new
          expect(psql(["-At", "-c", "SELECT count(*) FROM audit_log"]).toString().trim()).toBe("2")
        } finally {
          yield* Effect.promise(() => dropScratchDatabase(target.name))
        }
      }))

    it.effect("with DB_BACKUP_KEY the file is encrypted; the key is nowhere in the file or manifest", () =>
      Effect.gen(function*() {
        const out = tempDir("dbkit-backups-")
        const key = "a-very-secret-backup-key-123"
        const result = yield* withBackup((b) => b.backup({ out }), { DB_BACKUP_KEY: key })
        expect(result.file.endsWith(".sql.gz.enc")).toBe(true)
        const bytes = fs.readFileSync(result.file)
        expect(bytes.subarray(0, 8).toString()).toBe("DBKITENC")
        expect(() => gunzipSync(bytes)).toThrow()
        const manifestText = fs.readFileSync(result.manifestFile, "utf8")
        expect(JSON.parse(manifestText).encryption).toMatchObject({
          algorithm: "aes-256-gcm",
          keyFingerprint: expect.stringMatching(/^[0-9a-f]{16}$/)
        })
        expect(manifestText).not.toContain(key)
        expect(bytes.includes(Buffer.from(key))).toBe(false)
      }))

    it.effect("custom format, schema-only and excluded tables are honoured; contradictory options are refused", () =>
      Effect.gen(function*() {
        const out = tempDir("dbkit-backups-")
        const custom = yield* withBackup((b) => b.backup({ out, format: "custom", excludeTable: ["customers"] }))
        expect(custom.file.endsWith(".dump")).toBe(true)
        expect(fs.readFileSync(custom.file).subarray(0, 5).toString()).toBe("PGDMP")
        expect(custom.manifest.tables["public.customers"]).toBeUndefined()
        const schemaOnly = yield* withBackup((b) => b.backup({ out, schemaOnly: true }))
        expect(schemaOnly.manifest.tables).toEqual({})
        expect(gunzipSync(fs.readFileSync(schemaOnly.file)).toString()).not.toContain("COPY public.customers")
        // Two backups within one second get distinct names: nothing is overwritten.
        const again = yield* withBackup((b) => b.backup({ out, schemaOnly: true }))
        expect(again.file).not.toBe(schemaOnly.file)
        expect(fs.existsSync(schemaOnly.file)).toBe(true)
        const refused = yield* Effect.flip(withBackup((b) => b.backup({ out, schemaOnly: true, dataOnly: true })))
        expect(refused._tag).toBe("InvalidBackupOptions")
      }))
  })
})

describe.skipIf(!server)("Backup verify and list on the server", () => {
  layer(ServerLive, { excludeTestServices: true })("of a migrated, populated database", (it) => {
    it.effect("verify passes a good backup, and --restore-test restores it into a scratch database with matching counts", () =>
      Effect.gen(function*() {
        yield* withMigrator(referenceMigrations, undefined, (m) => m.migrate())
        const sql = yield* SqlClient.SqlClient
        yield* sql.unsafe(
          `INSERT INTO organizations (slug, name) SELECT 'org' || i, 'Org ' || i FROM generate_series(1, 40) i`
        )
        const out = tempDir("dbkit-backups-")
        const plain = yield* withBackup((b) => b.backup({ out }))
        const quick = yield* withBackup((b) => b.verify(plain.file))
        expect(quick).toMatchObject({ checksum: "ok", origin: "signed", decrypted: false, restoreTest: null })
        const full = yield* withBackup((b) => b.verify(plain.file, { restoreTest: true }))
        expect(full.restoreTest?.tables).toBe(Object.keys(plain.manifest.tables).length)
        expect(full.restoreTest?.rows).toBeGreaterThanOrEqual(40)
        const custom = yield* withBackup((b) => b.backup({ out, format: "custom" }))
        const customTest = yield* withBackup((b) => b.verify(custom.file, { restoreTest: true }))
        expect(customTest.restoreTest?.rows).toBe(full.restoreTest?.rows)
        const listed = yield* withBackup((b) => b.list(out))
        expect(listed.map((l) => l.file)).toEqual([custom.file, plain.file]) // newest first
        expect(listed.find((l) => l.file === plain.file)?.verified?.restoreTest).toBe(true)
        // This process's restore-test scratch databases (named with its pid: other files' run beside it).
        const leftovers = yield* sql<
          { n: number }
        >`SELECT count(*)::int AS n FROM pg_database WHERE starts_with(datname, ${`dbkit_restore_test_${process.pid}_`})`
        expect(leftovers[0]!.n).toBe(0) // scratch databases are dropped
      }))

    it.effect("prune keeps the newest N and always the newest verified backup; --dry-run deletes nothing", () =>
      Effect.gen(function*() {
        const out = tempDir("dbkit-backups-")
        const made: Array<string> = []
        for (let i = 0; i < 4; i++) made.push((yield* withBackup((b) => b.backup({ out, schemaOnly: true }))).file)
        yield* withBackup((b) => b.verify(made[0]!)) // the oldest is the only verified one
        const dry = yield* withBackup((b) => b.prune({ keepLast: 1, directory: out, dryRun: true }))
        expect(dry.pruned.map((b) => b.file).sort()).toEqual([made[1]!, made[2]!].sort())
        expect(made.every((f) => fs.existsSync(f))).toBe(true)
        const done = yield* withBackup((b) => b.prune({ keepLast: 1, directory: out }))
        expect(done.kept.map((b) => b.file)).toEqual([made[3]!, made[0]!])
        expect(fs.readdirSync(out).sort()).toEqual(
          [made[0]!, `${made[0]}.json`, `${made[0]}.verified.json`, made[3]!, `${made[3]}.json`].map((f) =>
            path.basename(f)
          ).sort()
        )
        const unsure = yield* Effect.flip(withBackup((b) => b.prune({ directory: out })))
        expect(unsure._tag).toBe("InvalidBackupOptions")
      }))

    it.effect("a backup interrupted midway leaves no file behind, complete-looking or partial", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        yield* sql.unsafe(`CREATE TABLE bulky AS SELECT i, md5(i::text) AS h FROM generate_series(1, 400000) i`)
        const out = tempDir("dbkit-backups-")
        const running = yield* Effect.fork(withBackup((b) => b.backup({ out, compress: 9 })))
        // Midway: its .partial file has bytes in it (a fixed delay is too early on a loaded machine).
        const writing = yield* Effect.promise(async () => {
          for (const deadline = Date.now() + 120_000; Date.now() < deadline;) {
            if (
              fs.readdirSync(out).some((f) =>
                f.endsWith(".partial") && (fs.statSync(path.join(out, f), { throwIfNoEntry: false })?.size ?? 0) > 0
              )
            ) return true
            await new Promise((resolve) => setTimeout(resolve, 10))
          }
          return false
        })
        expect(writing).toBe(true)
        const interrupted = yield* Fiber.interrupt(running)
        expect(Exit.isInterrupted(interrupted)).toBe(true)
        expect(fs.readdirSync(out)).toEqual([])
        yield* sql.unsafe(`DROP TABLE bulky`)
      }))

    it.effect("a changed, truncated, or wrongly keyed backup is refused with a typed error", () =>
      Effect.gen(function*() {
        const out = tempDir("dbkit-backups-")
        const key = { DB_BACKUP_KEY: "the right key" }
        const encrypted = yield* withBackup((b) => b.backup({ out }), key)
        const noKey = yield* Effect.flip(withBackup((b) => b.verify(encrypted.file)))
        expect(noKey._tag).toBe("BackupKeyInvalid")
        const wrongKey = yield* Effect.flip(
          withBackup((b) => b.verify(encrypted.file), { DB_BACKUP_KEY: "another key" })
        )
        expect(wrongKey._tag).toBe("BackupKeyInvalid")
        expect((yield* withBackup((b) => b.verify(encrypted.file), key)).decrypted).toBe(true)
        // One flipped byte: the checksum catches it.
        const bytes = fs.readFileSync(encrypted.file)
        const flipped = Buffer.from(bytes)
        flipped[Math.floor(bytes.length / 2)] = flipped[Math.floor(bytes.length / 2)]! ^ 1
        fs.writeFileSync(encrypted.file, flipped)
        expect((yield* Effect.flip(withBackup((b) => b.verify(encrypted.file), key)))._tag).toBe(
          "BackupChecksumMismatch"
        )
        // The same change with the manifest's checksum "fixed" too: its signature catches it; without
        // the signature (an unverified origin), authentication does.
        const { signature: _signed, ...manifest } = JSON.parse(fs.readFileSync(encrypted.manifestFile, "utf8"))
        fs.writeFileSync(
          encrypted.manifestFile,
          JSON.stringify({
            ...manifest,
            signature: _signed,
            sha256: createHash("sha256").update(flipped).digest("hex")
          })
        )
        expect((yield* Effect.flip(withBackup((b) => b.verify(encrypted.file), key)))._tag).toBe("BackupManifestForged")
        fs.writeFileSync(
          encrypted.manifestFile,
          JSON.stringify({ ...manifest, sha256: createHash("sha256").update(flipped).digest("hex") })
        )
        expect((yield* Effect.flip(withBackup((b) => b.verify(encrypted.file), key)))._tag).toBe("BackupCorrupt")
        // A truncated plain backup whose manifest was rewritten to match (its signature dropped): decompression catches it.
        const plain = yield* withBackup((b) => b.backup({ out }))
        const cut = fs.readFileSync(plain.file).subarray(0, 200)
        fs.writeFileSync(plain.file, cut)
        const { signature: _plainSigned, ...plainManifest } = JSON.parse(fs.readFileSync(plain.manifestFile, "utf8"))
        fs.writeFileSync(
          plain.manifestFile,
          JSON.stringify({ ...plainManifest, sha256: createHash("sha256").update(cut).digest("hex") })
        )
        expect((yield* Effect.flip(withBackup((b) => b.verify(plain.file))))._tag).toBe("BackupCorrupt")
        // Without its manifest it is read as a plain pg_dump file: the truncation is still caught.
        fs.rmSync(plain.manifestFile)
        expect((yield* Effect.flip(withBackup((b) => b.verify(plain.file))))._tag).toBe("BackupCorrupt")
        // An encrypted file without its manifest cannot be vouched for at all.
        fs.rmSync(encrypted.manifestFile)
        expect((yield* Effect.flip(withBackup((b) => b.verify(encrypted.file), key)))._tag).toBe("BackupNotFound")
      }))
  })
})

describe("Backup on the embedded database", () => {
  layer(EmbeddedLive, { excludeTestServices: true })("in memory", (it) => {
    it.effect("writes the same kind of file through PGlite's pg_dump, which plain psql restores on a server", () =>
      Effect.gen(function*() {
        yield* withMigrator(referenceMigrations, undefined, (m) => m.migrate())
        const sql = yield* SqlClient.SqlClient
        yield* sql.unsafe(
          `INSERT INTO organizations (slug, name) VALUES ('acme', 'Acme'), ('globex', 'Globex'), ('initech', 'Initech')`
        )
        const out = tempDir("dbkit-backups-")
        const result = yield* withBackup((b) => b.backup({ out }))
        expect(path.basename(result.file)).toMatch(/^postgres_backup_.*\.sql\.gz$/)
        expect(fs.statSync(result.file).mode & 0o777).toBe(0o600)
        expect(result.manifest.tables["public.organizations"]).toBe(3)
        expect(result.manifest.migrationHead).toBe("0007_tenant_transaction_stamp")
        const bytes = fs.readFileSync(result.file)
        expect(result.manifest.sha256).toBe(createHash("sha256").update(bytes).digest("hex"))
        // the embedded database keeps working after its dump, writes included
        yield* sql`INSERT INTO organizations (slug, name) VALUES ('after', 'After the dump')`
        expect((yield* sql<{ n: number }>`SELECT count(*)::int AS n FROM organizations`)[0]!.n).toBe(4)
        expect((yield* sql<{ p: string }>`SELECT current_setting('search_path') AS p`)[0]!.p).toContain("public")
        const refused = yield* Effect.flip(withBackup((b) => b.backup({ out, format: "custom" })))
        expect(refused._tag).toBe("InvalidBackupOptions")
        if (!server) return
        const target = yield* Effect.promise(() => createScratchDatabase("dbkit_from_embedded"))
        try {
          // A PostgreSQL 18 dump sets transaction_timeout, which servers before 17 do not know:
          // plain psql reports that one SET and restores everything else.
          const restore = spawnSync("psql", ["-X", "-q", "-h", "127.0.0.1", "-U", "root", "-d", target.name], {
            input: gunzipSync(bytes)
          })
          const errors = restore.stderr.toString().split("\n").filter((line) => line.includes("ERROR"))
          /** One value from psql on the restored database. */
          const valueOf = (query: string) =>
            execFileSync("psql", ["-X", "-At", "-h", "127.0.0.1", "-U", "root", "-d", target.name, "-c", query])
              .toString()
              .trim()
          const serverMajor = Number(valueOf("SHOW server_version_num")) / 10000
          expect(errors.filter((line) => !(serverMajor < 17 && line.includes("transaction_timeout")))).toEqual([])
          expect(valueOf("SELECT count(*) FROM organizations")).toBe("3")
        } finally {
          yield* Effect.promise(() => dropScratchDatabase(target.name))
        }
      }))
  })
})
