// Restore into a new database: verified first, all or nothing.
import { describe, expect, layer } from "@effect/vitest"
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"
import { gzipSync } from "node:zlib"
import { Backup, layer as backupLayer } from "../src/backup/Backup.js"
import { layer as restoreLayer, Restore } from "../src/backup/Restore.js"
import * as Config from "../src/Config.js"
import pg from "pg"
import { admin, ServerLive, serverAvailable, tempDir, urlFor } from "./support/databases.js"
import { withMigrator } from "./support/migrations.js"

const server = await serverAvailable()
const referenceMigrations = path.resolve(import.meta.dirname, "../migrations")

const Services = restoreLayer.pipe(
  Layer.provideMerge(backupLayer),
  Layer.provide(Layer.merge(Config.layerFrom({ environment: "development" }), NodeContext.layer))
)
const withServices = <A, E>(f: (s: { backup: Backup["Type"]; restore: Restore["Type"] }) => Effect.Effect<A, E>) =>
  Effect.flatMap(Effect.all({ backup: Backup, restore: Restore }), f).pipe(Effect.provide(Services))

const databaseExists = (name: string) =>
  Effect.promise(() => admin<{ e: boolean }>("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1) AS e", [name])).pipe(
    Effect.map((rows) => rows[0]!.e)
  )
const unique = (prefix: string) => `${prefix}_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 7)}`

describe.skipIf(!server)("Restore on the server", () => {
  layer(ServerLive, { timeout: 120_000, excludeTestServices: true })("from a migrated, populated database", (it) => {
    it.effect("restores a backup into a new database with every row; --validate-only touches no database", () =>
      Effect.gen(function*() {
        yield* withMigrator(referenceMigrations, undefined, (m) => m.migrate())
        const sql = yield* SqlClient.SqlClient
        yield* sql.unsafe(`INSERT INTO organizations (slug, name) SELECT 'o' || i, 'Org ' || i FROM generate_series(1, 25) i`)
        const made = yield* withServices(({ backup }) => backup.backup({ out: tempDir("dbkit-restore-") }))
        const validated = yield* withServices(({ restore }) => restore.validate(made.file))
        expect(validated.checksum).toBe("ok")
        const name = unique("dbkit_restored")
        const result = yield* withServices(({ restore }) => restore.into(made.file, name))
        try {
          expect(result.database).toBe(name)
          expect(result.rows).toBeGreaterThanOrEqual(25)
          const orgs = yield* Effect.promise(async () => {
            const client = new pg.Client({ connectionString: urlFor(name) })
            await client.connect()
            try {
              return (await client.query("SELECT count(*)::int AS n FROM organizations")).rows[0].n as number
            } finally {
              await client.end()
            }
          })
          expect(orgs).toBe(25)
        } finally {
          yield* Effect.promise(() => admin(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`))
        }
      }))

    it.effect("an existing target or a bad name is refused before anything is created", () =>
      Effect.gen(function*() {
        const made = yield* withServices(({ backup }) => backup.backup({ out: tempDir("dbkit-restore-"), schemaOnly: true }))
        const existing = yield* Effect.flip(withServices(({ restore }) => restore.into(made.file, "postgres")))
        expect(existing._tag).toBe("RestoreTargetExists")
        const bad = yield* Effect.flip(withServices(({ restore }) => restore.into(made.file, "x; DROP DATABASE postgres")))
        expect(bad._tag).toBe("InvalidDatabaseName")
      }))

    it.effect("a backup whose SQL fails halfway leaves no database behind", () =>
      Effect.gen(function*() {
        // A well-formed, checksummed backup whose third statement fails on this server.
        const dir = tempDir("dbkit-restore-")
        const dump = Buffer.from("CREATE TABLE half (x int);\nINSERT INTO half VALUES (1);\nSELECT no_such_function();\nCREATE TABLE never (x int);\n")
        const file = path.join(dir, "handmade_backup_2026-01-01_00-00-00.sql.gz")
        const bytes = gzipSync(dump)
        fs.writeFileSync(file, bytes)
        fs.writeFileSync(`${file}.json`, JSON.stringify({
          format: "plain",
          encryption: null,
          sha256: createHash("sha256").update(bytes).digest("hex"),
          sizes: { dump: dump.length, file: bytes.length },
          tables: { "public.half": 1 }
        }))
        const name = unique("dbkit_failed_restore")
        const error = yield* Effect.flip(withServices(({ restore }) => restore.into(file, name)))
        expect(error._tag).toBe("PgToolFailed")
        expect(error.message).toContain("no_such_function")
        expect(yield* databaseExists(name)).toBe(false)
      }))

    it.effect("a tampered backup is refused by verification before any database is created", () =>
      Effect.gen(function*() {
        const made = yield* withServices(({ backup }) => backup.backup({ out: tempDir("dbkit-restore-") }))
        const bytes = fs.readFileSync(made.file)
        bytes[bytes.length >> 1] = bytes[bytes.length >> 1]! ^ 1
        fs.writeFileSync(made.file, bytes)
        const name = unique("dbkit_tampered")
        const error = yield* Effect.flip(withServices(({ restore }) => restore.into(made.file, name)))
        expect(error._tag).toBe("BackupChecksumMismatch")
        expect(yield* databaseExists(name)).toBe(false)
      }))
  })
})
