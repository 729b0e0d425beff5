// Restore into a new database: verified first, all or nothing.
import { describe, expect, layer } from "@effect/vitest"
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { execFileSync } from "node:child_process"
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"
import { gzipSync } from "node:zlib"
import { Backup, layer as backupLayer } from "../src/backup/Backup.js"
import { layer as restoreLayer, Restore } from "../src/backup/Restore.js"
import * as Config from "../src/Config.js"
import pg from "pg"
import * as Redacted from "effect/Redacted"
import { admin, ScratchDatabase, ServerLive, serverAvailable, tempDir, urlFor } from "./support/databases.js"
import { NonInteractiveGuard } from "./support/terminal.js"
import { withMigrator } from "./support/migrations.js"

const server = await serverAvailable()
const referenceMigrations = path.resolve(import.meta.dirname, "../migrations")

const services = (backupDir: string) =>
  restoreLayer.pipe(
    Layer.provideMerge(backupLayer),
    Layer.provide(Layer.merge(Config.layerFrom({ environment: "development", backupDir }), NodeContext.layer))
  )
const withServices = <A, E, R>(
  f: (s: { backup: Backup["Type"]; restore: Restore["Type"] }) => Effect.Effect<A, E, R>,
  backupDir = tempDir("dbkit-restore-")
) => Effect.flatMap(Effect.all({ backup: Backup, restore: Restore }), f).pipe(Effect.provide(services(backupDir)))

const databaseExists = (name: string) =>
  Effect.promise(() => admin<{ e: boolean }>("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1) AS e", [name])).pipe(
    Effect.map((rows) => rows[0]!.e)
  )
/** Rows in `organizations` of another database on the server. */
const organizationsIn = (database: string) =>
  Effect.promise(async () => {
    const client = new pg.Client({ connectionString: urlFor(database) })
    await client.connect()
    try {
      return (await client.query("SELECT count(*)::int AS n FROM organizations")).rows[0].n as number
    } finally {
      await client.end()
    }
  })

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
          const orgs = yield* organizationsIn(name)
          expect(orgs).toBe(25)
        } finally {
          yield* Effect.promise(() => admin(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`))
        }
      }))

    it.effect("files made by plain pg_dump — plain SQL, gzipped, custom format — restore with dbkit", () =>
      Effect.gen(function*() {
        const scratch = yield* ScratchDatabase
        const dir = tempDir("dbkit-pgdump-")
        const dump = (args: Array<string>) => execFileSync("pg_dump", ["-h", "127.0.0.1", "-U", "root", ...args, scratch.name])
        fs.writeFileSync(path.join(dir, "plain.sql"), dump(["--format=p"]))
        fs.writeFileSync(path.join(dir, "plain.sql.gz"), gzipSync(dump(["--format=p"])))
        fs.writeFileSync(path.join(dir, "custom.dump"), dump(["--format=c"]))
        for (const file of ["plain.sql", "plain.sql.gz", "custom.dump"]) {
          const name = unique("dbkit_from_pgdump")
          const result = yield* withServices(({ restore }) => restore.into(path.join(dir, file), name))
          try {
            expect(result.database).toBe(name)
            const orgs = yield* organizationsIn(name)
            expect(orgs).toBe(25)
          } finally {
            yield* Effect.promise(() => admin(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`))
          }
        }
        // A foreign file that is not what it claims is refused before a database is created.
        fs.writeFileSync(path.join(dir, "broken.sql.gz"), Buffer.concat([Buffer.from([0x1f, 0x8b]), Buffer.from("not really gzip")]))
        const name = unique("dbkit_from_broken")
        const broken = yield* Effect.flip(withServices(({ restore }) => restore.into(path.join(dir, "broken.sql.gz"), name)))
        expect(broken._tag).toBe("BackupCorrupt")
        expect(yield* databaseExists(name)).toBe(false)
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

describe.skipIf(!server)("Restore over the configured database", () => {
  layer(ServerLive, { timeout: 120_000, excludeTestServices: true })("replaced in place", (it) => {
    const orgCount = Effect.flatMap(SqlClient.SqlClient, (sql) =>
      Effect.map(sql<{ n: number }>`SELECT count(*)::int AS n FROM organizations`, (r) => r[0]!.n)).pipe(
        Effect.retry({ times: 3 }) // the pool's connections were cut by the swap; the next one is new
      )

    it.effect("is refused without confirmation, then replaces the content exactly, keeping a safety backup", () =>
      Effect.gen(function*() {
        yield* withMigrator(referenceMigrations, undefined, (m) => m.migrate())
        const sql = yield* SqlClient.SqlClient
        yield* sql.unsafe(`INSERT INTO organizations (slug, name) SELECT 'r' || i, 'Org ' || i FROM generate_series(1, 10) i`)
        const out = tempDir("dbkit-restore-")
        const made = yield* withServices(({ backup }) => backup.backup({ out }))
        yield* sql.unsafe(`INSERT INTO organizations (slug, name) SELECT 'late' || i, 'Late ' || i FROM generate_series(1, 5) i;
          CREATE TABLE junk (x int)`)
        const refused = yield* Effect.flip(
          withServices(({ restore }) => restore.over(made.file)).pipe(Effect.provide(NonInteractiveGuard()))
        )
        expect(refused._tag).toBe("ConfirmationRequired")
        expect(yield* orgCount).toBe(15)
        const production = yield* Effect.flip(
          withServices(({ restore }) => restore.over(made.file, { yes: true })).pipe(Effect.provide(NonInteractiveGuard("production")))
        )
        expect(production._tag).toBe("ProductionRefused")
        const result = yield* withServices(({ restore }) => restore.over(made.file, { yes: true }), out).pipe(
          Effect.provide(NonInteractiveGuard())
        )
        expect(path.dirname(result.safetyBackup!)).toBe(out)
        expect(result.safetyBackup).not.toBeNull()
        expect(yield* orgCount).toBe(10)
        const junk = yield* Effect.retry(sql<{ e: boolean }>`SELECT to_regclass('public.junk') IS NOT NULL AS e`, { times: 3 })
        expect(junk[0]!.e).toBe(false)
        const safety = JSON.parse(fs.readFileSync(`${result.safetyBackup}.json`, "utf8"))
        expect(safety.tables["public.organizations"]).toBe(15) // the state it replaced
        const leftovers = yield* Effect.promise(() => admin(`SELECT datname FROM pg_database WHERE datname LIKE '%\\_restore\\_%' OR datname LIKE '%\\_previous\\_%'`))
        expect(leftovers).toEqual([])
      }))

    it.effect("another session on the database stops it (or --terminate-connections disconnects it); a failed load changes nothing", () =>
      Effect.gen(function*() {
        const out = tempDir("dbkit-restore-")
        const made = yield* withServices(({ backup }) => backup.backup({ out }))
        const before = yield* orgCount
        const scratch = yield* ScratchDatabase
        const other = new pg.Client({ connectionString: Redacted.value(scratch.url), application_name: "someone-else" })
        yield* Effect.promise(() => other.connect())
        other.on("error", () => {})
        const inUse = yield* Effect.flip(
          withServices(({ restore }) => restore.over(made.file, { yes: true, safetyBackup: false })).pipe(Effect.provide(NonInteractiveGuard()))
        )
        expect(inUse._tag).toBe("RestoreTargetInUse")
        expect(inUse.message).toContain("someone-else")
        expect(yield* orgCount).toBe(before)
        // A well-formed backup whose SQL fails halfway: the target is left exactly as it was.
        const dump = Buffer.from("CREATE TABLE half (x int);\nSELECT no_such_function();\n")
        const bad = path.join(out, "bad_backup_2026-01-01_00-00-00.sql.gz")
        const bytes = gzipSync(dump)
        fs.writeFileSync(bad, bytes)
        fs.writeFileSync(`${bad}.json`, JSON.stringify({ format: "plain", encryption: null, sha256: createHash("sha256").update(bytes).digest("hex"), sizes: { dump: dump.length, file: bytes.length }, tables: {} }))
        const failed = yield* Effect.flip(
          withServices(({ restore }) => restore.over(bad, { yes: true, terminateConnections: true, safetyBackup: false })).pipe(Effect.provide(NonInteractiveGuard()))
        )
        expect(failed._tag).toBe("PgToolFailed")
        expect(yield* orgCount).toBe(before)
        const forced = yield* withServices(({ restore }) => restore.over(made.file, { yes: true, terminateConnections: true, safetyBackup: false })).pipe(
          Effect.provide(NonInteractiveGuard())
        )
        expect(forced.previous).not.toBeNull() // no safety backup: the replaced database is kept
        expect(yield* orgCount).toBe(before)
        yield* Effect.promise(() => other.end().catch(() => undefined))
        yield* Effect.promise(() => admin(`DROP DATABASE IF EXISTS "${forced.previous}" WITH (FORCE)`))
      }))
  })
})
