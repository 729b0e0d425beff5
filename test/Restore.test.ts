// Restore into a new database: verified first, all or nothing.
import * as SqlClient from "@effect/sql/SqlClient"
import { describe, expect, layer } from "@effect/vitest"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import { execFileSync } from "node:child_process"
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"
import { gzipSync } from "node:zlib"
import pg from "pg"
import { CHUNK, HEADER, TAG } from "../src/backup/crypto.js"
import { stagingPrefix } from "../src/backup/leftovers.js"
import type { RestoreProgress } from "../src/backup/Restore.js"
import { withBackupServices } from "./support/backup.js"
import {
  admin,
  ScratchDatabase,
  serverAvailable,
  ServerLive,
  tempDir,
  uniqueName,
  urlFor
} from "./support/databases.js"
import { withMigrator } from "./support/migrations.js"
import { NonInteractiveGuard } from "./support/terminal.js"

const server = await serverAvailable()
const referenceMigrations = path.resolve(import.meta.dirname, "../migrations")

const withServices = withBackupServices

const databaseExists = (name: string) =>
  Effect.promise(() =>
    admin<{ e: boolean }>("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1) AS e", [name])
  ).pipe(
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

/** Staging or replaced copies a restore over this file's scratch database left (only its own: the server is shared). */
const stagingLeftovers = Effect.flatMap(
  ScratchDatabase,
  (scratch) =>
    Effect.promise(() =>
      admin(`SELECT datname FROM pg_database WHERE datname LIKE $1 OR datname LIKE $2`, [
        `${stagingPrefix(scratch.name)}\\_restore\\_%`,
        `${stagingPrefix(scratch.name)}\\_previous\\_%`
      ])
    )
)

describe.skipIf(!server)("Restore on the server", () => {
  layer(ServerLive, { excludeTestServices: true })("from a migrated, populated database", (it) => {
    it.effect("restores a backup into a new database with every row; --validate-only touches no database", () =>
      Effect.gen(function*() {
        yield* withMigrator(referenceMigrations, undefined, (m) => m.migrate())
        const sql = yield* SqlClient.SqlClient
        yield* sql.unsafe(
          `INSERT INTO organizations (slug, name) SELECT 'o' || i, 'Org ' || i FROM generate_series(1, 25) i`
        )
        const made = yield* withServices(({ backup }) => backup.backup({ out: tempDir("dbkit-restore-") }))
        const validated = yield* withServices(({ restore }) => restore.validate(made.file))
        expect(validated.checksum).toBe("ok")
        const name = uniqueName("dbkit_restored")
        const progress: Array<RestoreProgress> = []
        const result = yield* withServices(({ restore }) =>
          restore.into(made.file, name, { onProgress: (p) => progress.push(p) })
        )
        try {
          // Progress as the dump streams in: monotonic, ending with the whole file and all its SQL.
          expect(progress.length).toBeGreaterThan(0)
          for (let i = 1; i < progress.length; i++) {
            expect(progress[i]!.dumpBytes).toBeGreaterThan(progress[i - 1]!.dumpBytes)
            expect(progress[i]!.fileBytes).toBeGreaterThanOrEqual(progress[i - 1]!.fileBytes)
          }
          expect(progress.at(-1)).toEqual({
            fileBytes: made.manifest.sizes.file,
            fileSize: made.manifest.sizes.file,
            dumpBytes: made.manifest.sizes.dump
          })
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
        const dump = (args: Array<string>) =>
          execFileSync("pg_dump", ["-h", "127.0.0.1", "-U", "root", ...args, scratch.name])
        fs.writeFileSync(path.join(dir, "plain.sql"), dump(["--format=p"]))
        fs.writeFileSync(path.join(dir, "plain.sql.gz"), gzipSync(dump(["--format=p"])))
        fs.writeFileSync(path.join(dir, "custom.dump"), dump(["--format=c"]))
        for (const file of ["plain.sql", "plain.sql.gz", "custom.dump"]) {
          const name = uniqueName("dbkit_from_pgdump")
          const result = yield* withServices(({ restore }) =>
            restore.into(path.join(dir, file), name, { trustUnsigned: true })
          )
          try {
            expect(result.database).toBe(name)
            const orgs = yield* organizationsIn(name)
            expect(orgs).toBe(25)
          } finally {
            yield* Effect.promise(() => admin(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`))
          }
        }
        // A foreign file that is not what it claims is refused before a database is created.
        fs.writeFileSync(
          path.join(dir, "broken.sql.gz"),
          Buffer.concat([Buffer.from([0x1f, 0x8b]), Buffer.from("not really gzip")])
        )
        const name = uniqueName("dbkit_from_broken")
        const broken = yield* Effect.flip(
          withServices(({ restore }) => restore.into(path.join(dir, "broken.sql.gz"), name))
        )
        expect(broken._tag).toBe("BackupCorrupt")
        expect(yield* databaseExists(name)).toBe(false)
      }))

    it.effect("a file altered with its manifest 'fixed' to match is caught on the way in (encrypted: its chunk's tag; plain: gzip), no database left", () =>
      Effect.gen(function*() {
        const keyed = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
          Effect.withConfigProvider(effect, ConfigProvider.fromMap(new Map([["DB_BACKUP_KEY", "restore-test-key"]])))
        // Rewritten, the manifest's signature would give it away (backup-origin.test.ts): it is
        // dropped, and the file restored as one of unverified origin, to reach the checks below.
        const rewriteManifest = (file: string, bytes: Buffer) => {
          const { signature: _dropped, ...manifest } = JSON.parse(fs.readFileSync(`${file}.json`, "utf8"))
          fs.writeFileSync(
            `${file}.json`,
            JSON.stringify({ ...manifest, sha256: createHash("sha256").update(bytes).digest("hex") })
          )
        }
        // Encrypted: the altered chunk fails authentication on the way in; its bytes never reach psql.
        const encrypted = yield* keyed(withServices(({ backup }) => backup.backup({ out: tempDir("dbkit-restore-") })))
        const flipped = fs.readFileSync(encrypted.file)
        flipped[flipped.length >> 1] = flipped[flipped.length >> 1]! ^ 1
        fs.writeFileSync(encrypted.file, flipped)
        rewriteManifest(encrypted.file, flipped)
        const name = uniqueName("dbkit_altered")
        const refused = yield* Effect.flip(
          keyed(withServices(({ restore }) => restore.into(encrypted.file, name, { trustUnsigned: true })))
        )
        expect(refused._tag).toBe("BackupCorrupt")
        expect(refused.message).toContain("authentication failed")
        expect(yield* databaseExists(name)).toBe(false)
        // Plain and truncated: gzip fails on the way into psql; the new database is dropped.
        const plain = yield* withServices(({ backup }) => backup.backup({ out: tempDir("dbkit-restore-") }))
        const cut = fs.readFileSync(plain.file).subarray(0, Math.floor(fs.statSync(plain.file).size * 0.6))
        fs.writeFileSync(plain.file, cut)
        rewriteManifest(plain.file, cut)
        const truncated = yield* Effect.flip(
          withServices(({ restore }) => restore.into(plain.file, name, { trustUnsigned: true }))
        )
        expect(truncated._tag).toBe("BackupCorrupt")
        expect(yield* databaseExists(name)).toBe(false)
      }))

    it.effect("an encrypted backup is checked as it streams: a bad chunk, or a file that is not its manifest's, stops the load before it commits; nothing is left, no safety backup is taken", () =>
      Effect.gen(function*() {
        const keyed = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
          Effect.withConfigProvider(
            effect,
            ConfigProvider.fromMap(new Map([["DB_BACKUP_KEY", "streamed-restore-key"]]))
          )
        const sql = yield* SqlClient.SqlClient
        yield* sql.unsafe(`CREATE TABLE IF NOT EXISTS streamed (id int PRIMARY KEY, payload text);
          INSERT INTO streamed SELECT g, md5(g::text) FROM generate_series(1, 20000) g ON CONFLICT DO NOTHING`)
        const out = tempDir("dbkit-restore-")
        const made = yield* keyed(withServices(({ backup }) => backup.backup({ out }), out))
        const bytes = fs.readFileSync(made.file)
        expect(bytes[8]).toBe(2) // encryption format 2: sealed chunks
        expect(bytes.length).toBeGreaterThan(HEADER + 4 * (CHUNK + TAG))
        const manifest = fs.readFileSync(`${made.file}.json`, "utf8")
        // Its signature dropped where the manifest is rewritten below, and the file trusted, to reach the streamed checks.
        const { signature: _dropped, ...unsigned } = JSON.parse(manifest)
        const leftovers = stagingLeftovers
        // The last chunk altered and the manifest's sha256 made to match: every chunk before it
        // went into psql; that one fails, and psql is killed before it could commit.
        const altered = Buffer.from(bytes)
        altered[altered.length - 20] = altered[altered.length - 20]! ^ 1
        fs.writeFileSync(made.file, altered)
        fs.writeFileSync(
          `${made.file}.json`,
          JSON.stringify({ ...unsigned, sha256: createHash("sha256").update(altered).digest("hex") })
        )
        const name = uniqueName("dbkit_streamed")
        const bad = yield* Effect.flip(
          keyed(withServices(({ restore }) => restore.into(made.file, name, { trustUnsigned: true }), out))
        )
        expect(bad._tag).toBe("BackupCorrupt")
        expect(bad.message).toMatch(/authentication failed at chunk \d+ \(byte \d+\)/)
        expect(yield* databaseExists(name)).toBe(false)
        // The file intact, its manifest's sha256 another's: every chunk authenticates, and the
        // checksum, taken as the file streams, refuses it before the end of input.
        fs.writeFileSync(made.file, bytes)
        fs.writeFileSync(`${made.file}.json`, JSON.stringify({ ...unsigned, sha256: "0".repeat(64) }))
        const mismatched = yield* Effect.flip(
          keyed(withServices(({ restore }) => restore.into(made.file, name, { trustUnsigned: true }), out))
        )
        expect(mismatched._tag).toBe("BackupChecksumMismatch")
        expect(yield* databaseExists(name)).toBe(false)
        // Over the configured database: the staging load fails first, so the target is untouched
        // and no safety backup was taken for a file that could not be restored.
        const before = (yield* sql<{ n: number }>`SELECT count(*)::int AS n FROM streamed`)[0]!.n
        const over = yield* Effect.flip(
          keyed(withServices(({ restore }) => restore.over(made.file, { yes: true, trustUnsigned: true }), out)).pipe(
            Effect.provide(NonInteractiveGuard())
          )
        )
        expect(over._tag).toBe("BackupChecksumMismatch")
        expect((yield* sql<{ n: number }>`SELECT count(*)::int AS n FROM streamed`)[0]!.n).toBe(before)
        expect(fs.readdirSync(out).sort()).toEqual([path.basename(made.file), `${path.basename(made.file)}.json`])
        expect(yield* leftovers).toEqual([])
        // Put right, it restores.
        fs.writeFileSync(`${made.file}.json`, manifest)
        const restored = yield* keyed(withServices(({ restore }) => restore.into(made.file, name), out))
        try {
          expect(restored.rows).toBeGreaterThanOrEqual(20000)
        } finally {
          yield* Effect.promise(() => admin(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`))
        }
      }))

    it.effect("an existing target or a bad name is refused before anything is created", () =>
      Effect.gen(function*() {
        const made = yield* withServices(({ backup }) =>
          backup.backup({ out: tempDir("dbkit-restore-"), schemaOnly: true })
        )
        const existing = yield* Effect.flip(withServices(({ restore }) => restore.into(made.file, "postgres")))
        expect(existing._tag).toBe("RestoreTargetExists")
        const bad = yield* Effect.flip(
          withServices(({ restore }) => restore.into(made.file, "x; DROP DATABASE postgres"))
        )
        expect(bad._tag).toBe("InvalidDatabaseName")
      }))

    it.effect("a backup whose SQL fails halfway leaves no database behind", () =>
      Effect.gen(function*() {
        // A well-formed, checksummed backup whose third statement fails on this server.
        const dir = tempDir("dbkit-restore-")
        const dump = Buffer.from(
          "CREATE TABLE half (x int);\nINSERT INTO half VALUES (1);\nINSERT INTO no_such_table VALUES (1);\nCREATE TABLE never (x int);\n"
        )
        const file = path.join(dir, "handmade_backup_2026-01-01_00-00-00.sql.gz")
        const bytes = gzipSync(dump)
        fs.writeFileSync(file, bytes)
        fs.writeFileSync(
          `${file}.json`,
          JSON.stringify({
            format: "plain",
            encryption: null,
            sha256: createHash("sha256").update(bytes).digest("hex"),
            sizes: { dump: dump.length, file: bytes.length },
            tables: { "public.half": 1 }
          })
        )
        const name = uniqueName("dbkit_failed_restore")
        const error = yield* Effect.flip(
          withServices(({ restore }) => restore.into(file, name, { trustUnsigned: true }))
        )
        expect(error._tag).toBe("PlainDumpFailed")
        expect(error.message).toMatch(
          /^line 3: INSERT INTO no_such_table VALUES \(1\);: relation "no_such_table" does not exist/
        )
        expect(yield* databaseExists(name)).toBe(false)
      }))

    it.effect("a tampered backup is refused by verification before any database is created", () =>
      Effect.gen(function*() {
        const made = yield* withServices(({ backup }) => backup.backup({ out: tempDir("dbkit-restore-") }))
        const bytes = fs.readFileSync(made.file)
        bytes[bytes.length >> 1] = bytes[bytes.length >> 1]! ^ 1
        fs.writeFileSync(made.file, bytes)
        const name = uniqueName("dbkit_tampered")
        const error = yield* Effect.flip(withServices(({ restore }) => restore.into(made.file, name)))
        expect(error._tag).toBe("BackupChecksumMismatch")
        expect(yield* databaseExists(name)).toBe(false)
      }))
  })
})

describe.skipIf(!server)("Restore over the configured database", () => {
  layer(ServerLive, { excludeTestServices: true })("replaced in place", (it) => {
    const orgCount = Effect.flatMap(
      SqlClient.SqlClient,
      (sql) => Effect.map(sql<{ n: number }>`SELECT count(*)::int AS n FROM organizations`, (r) => r[0]!.n)
    ).pipe(
      Effect.retry({ times: 3 }) // the pool's connections were cut by the swap; the next one is new
    )

    it.effect("is refused without confirmation, then replaces the content exactly, keeping a safety backup", () =>
      Effect.gen(function*() {
        yield* withMigrator(referenceMigrations, undefined, (m) => m.migrate())
        const sql = yield* SqlClient.SqlClient
        yield* sql.unsafe(
          `INSERT INTO organizations (slug, name) SELECT 'r' || i, 'Org ' || i FROM generate_series(1, 10) i`
        )
        const out = tempDir("dbkit-restore-")
        const made = yield* withServices(({ backup }) => backup.backup({ out }))
        yield* sql.unsafe(
          `INSERT INTO organizations (slug, name) SELECT 'late' || i, 'Late ' || i FROM generate_series(1, 5) i;
          CREATE TABLE junk (x int)`
        )
        const refused = yield* Effect.flip(
          withServices(({ restore }) => restore.over(made.file)).pipe(Effect.provide(NonInteractiveGuard()))
        )
        expect(refused._tag).toBe("ConfirmationRequired")
        expect(yield* orgCount).toBe(15)
        const production = yield* Effect.flip(
          withServices(({ restore }) => restore.over(made.file, { yes: true })).pipe(
            Effect.provide(NonInteractiveGuard("production"))
          )
        )
        expect(production._tag).toBe("ProductionRefused")
        const result = yield* withServices(({ restore }) => restore.over(made.file, { yes: true }), out).pipe(
          Effect.provide(NonInteractiveGuard())
        )
        expect(path.dirname(result.safetyBackup!)).toBe(out)
        expect(result.safetyBackup).not.toBeNull()
        expect(yield* orgCount).toBe(10)
        const junk = yield* Effect.retry(sql<{ e: boolean }>`SELECT to_regclass('public.junk') IS NOT NULL AS e`, {
          times: 3
        })
        expect(junk[0]!.e).toBe(false)
        const safety = JSON.parse(fs.readFileSync(`${result.safetyBackup}.json`, "utf8"))
        expect(safety.tables["public.organizations"]).toBe(15) // the state it replaced
        const leftovers = yield* stagingLeftovers
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
          withServices(({ restore }) => restore.over(made.file, { yes: true, safetyBackup: false })).pipe(
            Effect.provide(NonInteractiveGuard())
          )
        )
        expect(inUse._tag).toBe("RestoreTargetInUse")
        expect(inUse.message).toContain("someone-else")
        expect(yield* orgCount).toBe(before)
        // A well-formed backup whose SQL fails halfway: the target is left exactly as it was.
        const dump = Buffer.from("CREATE TABLE half (x int);\nINSERT INTO no_such_table VALUES (1);\n")
        const bad = path.join(out, "bad_backup_2026-01-01_00-00-00.sql.gz")
        const bytes = gzipSync(dump)
        fs.writeFileSync(bad, bytes)
        fs.writeFileSync(
          `${bad}.json`,
          JSON.stringify({
            format: "plain",
            encryption: null,
            sha256: createHash("sha256").update(bytes).digest("hex"),
            sizes: { dump: dump.length, file: bytes.length },
            tables: {}
          })
        )
        const failed = yield* Effect.flip(
          withServices(({ restore }) =>
            restore.over(bad, {
              yes: true,
              terminateConnections: true,
              safetyBackup: false,
              trustUnsigned: true,
              allowEmpty: true
            })
          ).pipe(Effect.provide(NonInteractiveGuard()))
        )
        expect(failed._tag).toBe("PlainDumpFailed")
        expect(failed.message).toContain("relation \"no_such_table\" does not exist")
        expect(yield* orgCount).toBe(before)
        const forced = yield* withServices(({ restore }) =>
          restore.over(made.file, { yes: true, terminateConnections: true, safetyBackup: false })
        ).pipe(
          Effect.provide(NonInteractiveGuard())
        )
        expect(forced.previous).not.toBeNull() // no safety backup: the replaced database is kept
        expect(yield* orgCount).toBe(before)
        yield* Effect.promise(() => other.end().catch(() => undefined))
        yield* Effect.promise(() => admin(`DROP DATABASE IF EXISTS "${forced.previous}" WITH (FORCE)`))
      }))

    it.effect("the connection lost halfway through the load leaves the target as it was and no staging database", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        yield* sql.unsafe(`CREATE TABLE IF NOT EXISTS bulk (id int PRIMARY KEY, payload text);
          INSERT INTO bulk SELECT g, repeat(md5(g::text), 8) FROM generate_series(1, 150000) g ON CONFLICT DO NOTHING`)
        const made = yield* withServices(({ backup }) => backup.backup({ out: tempDir("dbkit-restore-") }))
        yield* sql.unsafe(`INSERT INTO organizations (slug, name) VALUES ('after-backup', 'Changed since')`)
        const before = yield* orgCount
        // Cut the loading connection as soon as it is loading: the server's side of a lost network.
        // Only this restore's (into this file's staging database): other files restore beside it.
        const staging = `${stagingPrefix((yield* ScratchDatabase).name)}_restore_`
        const cutter = Effect.promise(async () => {
          for (let i = 0; i < 600; i++) {
            const cut = await admin<{ ok: boolean }>(
              `SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity
                WHERE application_name = 'dbkit-load' AND state <> 'idle' AND starts_with(datname, $1)`,
              [staging]
            )
            if (cut.length > 0) return true
            await new Promise((resolve) => setTimeout(resolve, 20))
          }
          return false
        })
        const [failed, cut] = yield* Effect.all([
          Effect.flip(
            withServices(({ restore }) =>
              restore.over(made.file, { yes: true, terminateConnections: true, safetyBackup: false })
            ).pipe(
              Effect.provide(NonInteractiveGuard())
            )
          ),
          cutter
        ], { concurrency: 2 })
        expect(cut).toBe(true)
        expect(["PlainDumpFailed", "DatabaseUnavailable"]).toContain(failed._tag)
        expect(failed.message).toMatch(/terminat|connection/i)
        const after = yield* Effect.retry(orgCount, { times: 3 })
        expect(after).toBe(before)
        const leftovers = yield* stagingLeftovers
        expect(leftovers).toEqual([])
      }))
  })
})

describe.skipIf(!server)("Restore reads dumps itself: psql is never run, pg_restore only for custom archives", () => {
  layer(ServerLive, { excludeTestServices: true })("client tools", (it) => {
    /** Runs `effect` with PATH set to `dirs` (restored afterwards). */
    const withPath = <A, E, R>(dirs: ReadonlyArray<string>, effect: Effect.Effect<A, E, R>) =>
      Effect.acquireUseRelease(
        Effect.sync(() => {
          const saved = process.env.PATH
          process.env.PATH = dirs.join(path.delimiter)
          return saved
        }),
        () => effect,
        (saved) => Effect.sync(() => void (process.env.PATH = saved))
      )
    /** A directory with an executable `tool` that only says which version it is. */
    const fakeTool = (tool: string, version: string) => {
      const dir = tempDir("dbkit-fake-tool-")
      fs.writeFileSync(path.join(dir, tool), `#!/bin/sh\necho "${tool} (PostgreSQL) ${version}"\n`, { mode: 0o755 })
      return dir
    }

    it.effect("a plain backup restores with no PostgreSQL client tool on PATH; a dump with \\q halfway is refused, nothing created", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        yield* sql.unsafe(`CREATE TABLE IF NOT EXISTS wide (id int PRIMARY KEY, payload text);
          INSERT INTO wide SELECT g, md5(g::text) FROM generate_series(1, 20000) g ON CONFLICT DO NOTHING`)
        const made = yield* withServices(({ backup }) => backup.backup({ out: tempDir("dbkit-restore-") }))
        const name = uniqueName("dbkit_no_tools")
        const restored = yield* withPath(
          [tempDir("dbkit-empty-path-")],
          withServices(({ restore }) => restore.into(made.file, name))
        )
        try {
          expect(restored.rows).toBeGreaterThanOrEqual(20000)
        } finally {
          yield* Effect.promise(() => admin(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`))
        }
        // psql would stop at \q with exit code 0 and commit what came before; dbkit refuses the file.
        const dir = tempDir("dbkit-restore-")
        fs.writeFileSync(path.join(dir, "quits.sql"), "CREATE TABLE first (x int);\n\\q\nCREATE TABLE never (x int);\n")
        const stopped = yield* Effect.flip(
          withServices(({ restore }) => restore.into(path.join(dir, "quits.sql"), name, { trustUnsigned: true }))
        )
        expect(stopped._tag).toBe("BackupUntrusted")
        expect(stopped.message).toContain("line 2")
        expect(yield* databaseExists(name)).toBe(false)
      }))

    it.effect("a custom archive needs a pg_restore as new as the pg_dump that wrote it: typed errors, nothing created", () =>
      Effect.gen(function*() {
        const made = yield* withServices(({ backup }) =>
          backup.backup({ out: tempDir("dbkit-restore-"), schemaOnly: true, format: "custom" })
        )
        const realPath = process.env.PATH!.split(path.delimiter)
        const name = uniqueName("dbkit_old_restore")
        const old = yield* Effect.flip(
          withPath(
            [fakeTool("pg_restore", "12.4"), ...realPath],
            withServices(({ restore }) => restore.into(made.file, name))
          )
        )
        expect(old._tag).toBe("PgToolTooOld")
        expect(old.message).toMatch(/pg_restore 12 is too old for a backup written by pg_dump 1\d/)
        const missing = yield* Effect.flip(
          withPath([tempDir("dbkit-empty-path-")], withServices(({ restore }) => restore.into(made.file, name)))
        )
        expect(missing._tag).toBe("PgToolMissing")
        expect(missing.message).toContain("pg_restore was not found")
        expect(yield* databaseExists(name)).toBe(false)
        const restored = yield* withServices(({ restore }) => restore.into(made.file, name))
        yield* Effect.promise(() => admin(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`))
        expect(restored.database).toBe(name)
      }))
  })
})
