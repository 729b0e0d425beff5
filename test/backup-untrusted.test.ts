// A backup file is untrusted input: a corpus of hostile files, each through `verify`,
// `restore --into` and `restore` over, on the server and on the embedded database. Every one is
// refused (even with --trust-unsigned, which only vouches for where a file came from), no file
// appears outside the backups folder, a bystander database is unchanged to the byte, and so is
// the target.
import * as SqlClient from "@effect/sql/SqlClient"
import { describe, expect, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { execFileSync } from "node:child_process"
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"
import { gunzipSync, gzipSync } from "node:zlib"
import { stagingPrefix } from "../src/backup/leftovers.js"
import { withBackupServices } from "./support/backup.js"
import { runCli } from "./support/cli.js"
import {
  admin,
  EmbeddedLive,
  queryAt,
  ScratchDatabase,
  serverAvailable,
  ServerLive,
  tempDir,
  uniqueName,
  urlFor
} from "./support/databases.js"
import { NonInteractiveGuard } from "./support/terminal.js"

const server = await serverAvailable()

/** Where a hostile command would leave its mark: each case names a file of its own here. */
const marks = tempDir("dbkit-pwned-")
/** The role the hostile dump tries to create: roles are server-wide, so this process's own name. */
const hostileRole = `dbkit_hostile_role_${process.pid}`
const mark = (name: string) => path.join(marks, name)

const header = [
  "--",
  "-- PostgreSQL database dump",
  "--",
  "",
  "SET statement_timeout = 0;",
  "SET client_encoding = 'UTF8';",
  "SET standard_conforming_strings = on;",
  "SELECT pg_catalog.set_config('search_path', '', false);",
  "",
  "CREATE TABLE public.innocent (id integer);", // line 10
  ""
]
/** The line a hostile body's first line lands on. */
const FIRST = header.length + 1

/** Plain SQL bodies, each refused at its first line (`at`, relative to FIRST). */
const hostile = (
  bystander: string
): ReadonlyArray<{ readonly name: string; readonly body: ReadonlyArray<string>; readonly at?: number }> => [
  { name: "shell", body: [`\\! touch ${mark("shell")}`] },
  { name: "connect-elsewhere", body: [`\\connect ${bystander}`, "DROP TABLE public.b;"] },
  { name: "connect-short", body: [`\\c ${bystander}`, "DROP TABLE public.b;"] },
  { name: "output", body: [`\\o ${mark("output")}`, "SELECT 1;"] },
  { name: "include", body: ["\\i /etc/passwd"] },
  { name: "client-copy-program", body: [`\\copy public.innocent to program 'touch ${mark("client-copy")}'`] },
  { name: "setenv", body: ["\\setenv PAGER 'touch /tmp/x'"] },
  { name: "gexec-pipe", body: ["SELECT 1", `\\g |touch ${mark("gpipe")}`], at: 1 },
  { name: "meta-inside-statement", body: [`SELECT 1 \\! touch ${mark("inside")}`, ";"] },
  { name: "copy-to-program", body: [`COPY (SELECT 1) TO PROGRAM 'touch ${mark("copy-program")}';`] },
  { name: "copy-to-server-file", body: [`COPY public.innocent TO '${mark("copy-file")}';`] },
  {
    name: "function-body-program",
    body: [
      "CREATE FUNCTION public.f() RETURNS integer LANGUAGE plpgsql IMMUTABLE AS $$",
      `BEGIN EXECUTE 'COPY (SELECT 1) TO PROGRAM ''touch ${mark("function")}'''; RETURN 1; END $$;`,
      "CREATE INDEX ON public.innocent ((public.f()));"
    ]
  },
  { name: "alter-role", body: ["ALTER ROLE root NOSUPERUSER;"] },
  { name: "create-role", body: [`CREATE ROLE ${hostileRole} SUPERUSER LOGIN;`] },
  { name: "grant-role", body: ["GRANT pg_execute_server_program TO PUBLIC;"] },
  { name: "do-block", body: [`DO $$ BEGIN PERFORM pg_catalog.pg_sleep(0); END $$;`] },
  { name: "dblink", body: [`SELECT dblink_exec('dbname=${bystander}', 'DROP TABLE public.b');`] },
  { name: "load-library", body: ["LOAD 'plpgsql';"] },
  { name: "rollback", body: ["ROLLBACK;", "DROP TABLE public.innocent;"] },
  { name: "prepare-transaction", body: ["PREPARE TRANSACTION 'dbkit_hostile';"] }
]

/** md5 of every table of a database on the server, by name. */
const digest = (database: string) =>
  Effect.promise(async () => {
    const tables = await queryAt<{ name: string }>(
      urlFor(database),
      `SELECT format('%I.%I', n.nspname, c.relname) AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%' ORDER BY 1`
    )
    const out: Record<string, string> = {}
    for (const { name } of tables) {
      const [row] = await queryAt<{ h: string }>(
        urlFor(database),
        `SELECT md5(coalesce(string_agg(t::text, ',' ORDER BY t::text), '')) AS h FROM ${name} t`
      )
      out[name] = row!.h
    }
    return out
  })

const databaseExists = (name: string) =>
  Effect.promise(() =>
    admin<{ e: boolean }>("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1) AS e", [name])
  ).pipe(
    Effect.map((rows) => rows[0]!.e)
  )

/** Every application table's rows, hashed, in the current database (server or PGlite). */
const fingerprint = Effect.flatMap(SqlClient.SqlClient, (sql) =>
  Effect.gen(function*() {
    const tables = yield* sql<{ name: string }>`
      SELECT format('%I.%I', n.nspname, c.relname) AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%' ORDER BY 1`
    const out: Record<string, string> = {}
    for (const { name } of tables) {
      const [row] = yield* sql.unsafe<{ h: string }>(
        `SELECT md5(coalesce(string_agg(t::text, ',' ORDER BY t::text), '')) AS h FROM ${name} t`
      )
      out[name] = row!.h
    }
    return out
  }))

/** Writes the corpus into a fresh backups folder: plain files, and one gzipped. */
const writeCorpus = (bystander: string) => {
  const dir = tempDir("dbkit-hostile-")
  const files: Array<{ file: string; line: number; name: string }> = []
  for (const entry of hostile(bystander)) {
    const file = path.join(dir, `${entry.name}.sql`)
    fs.writeFileSync(file, [...header, ...entry.body, "CREATE TABLE public.after (id integer);", ""].join("\n"))
    files.push({ file, line: FIRST + (entry.at ?? 0), name: entry.name })
  }
  const gz = path.join(dir, "shell-gzipped.sql.gz")
  fs.writeFileSync(gz, gzipSync(Buffer.from([...header, `\\! touch ${mark("gzipped")}`, ""].join("\n"))))
  files.push({ file: gz, line: FIRST, name: "shell-gzipped" })
  return { dir, files }
}

const noMarks = () => expect(fs.readdirSync(marks)).toEqual([])

describe.skipIf(!server)("hostile backup files on the server", () => {
  layer(ServerLive, { excludeTestServices: true })("each refused, nothing run", (it) => {
    it.scoped("verify, restore --into and restore over refuse every file of the corpus; the bystander and the target are unchanged", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const scratch = yield* ScratchDatabase
        yield* sql.unsafe(
          "CREATE TABLE keep (id int PRIMARY KEY, note text); INSERT INTO keep SELECT g, md5(g::text) FROM generate_series(1, 500) g"
        )
        const bystander = uniqueName("dbkit_bystander")
        yield* Effect.promise(() => admin(`CREATE DATABASE "${bystander}"`))
        yield* Effect.addFinalizer(() =>
          Effect.promise(() => admin(`DROP DATABASE IF EXISTS "${bystander}" WITH (FORCE)`))
        )
        yield* Effect.promise(() =>
          queryAt(
            urlFor(bystander),
            "CREATE TABLE public.b (id int, v text); INSERT INTO public.b SELECT g, md5(g::text) FROM generate_series(1, 100) g"
          )
        )
        const bystanderBefore = yield* digest(bystander)
        const targetBefore = yield* digest(scratch.name)
        const { dir, files } = writeCorpus(bystander)

        for (const { file, line, name } of files) {
          const verified = yield* Effect.flip(withBackupServices(({ backup }) => backup.verify(file), dir))
          expect([name, verified._tag]).toEqual([name, "BackupUntrusted"])
          expect(verified.message).toContain(`line ${line}`)

          const into = uniqueName("dbkit_hostile")
          const refusedInto = yield* Effect.flip(
            withBackupServices(({ restore }) => restore.into(file, into, { trustUnsigned: true }), dir)
          )
          expect([name, refusedInto._tag]).toEqual([name, "BackupUntrusted"])
          expect(yield* databaseExists(into)).toBe(false)

          const refusedOver = yield* Effect.flip(
            withBackupServices(
              ({ restore }) => restore.over(file, { yes: true, trustUnsigned: true, safetyBackup: false }),
              dir
            ).pipe(
              Effect.provide(NonInteractiveGuard())
            )
          )
          expect([name, refusedOver._tag]).toEqual([name, "BackupUntrusted"])
        }
        noMarks()
        expect(yield* digest(bystander)).toEqual(bystanderBefore)
        expect(yield* digest(scratch.name)).toEqual(targetBefore)
        const roles = yield* Effect.promise(() =>
          admin("SELECT rolname FROM pg_roles WHERE rolname = $1", [hostileRole])
        )
        expect(roles).toEqual([])
        const superuser = yield* Effect.promise(() =>
          admin<{ s: boolean }>("SELECT rolsuper AS s FROM pg_roles WHERE rolname = current_user")
        )
        expect(superuser[0]!.s).toBe(true)
        // Staging copies of restores over this file's database only (other files' run beside it).
        const staging = yield* Effect.promise(() =>
          admin(`SELECT datname FROM pg_database WHERE datname LIKE $1 OR datname LIKE $2`, [
            `${stagingPrefix(scratch.name)}\\_restore\\_%`,
            `${stagingPrefix(scratch.name)}\\_previous\\_%`
          ])
        )
        expect(staging).toEqual([])
        // Only the backups folder was written to (nothing else beside the corpus).
        expect(fs.readdirSync(dir).filter((f) => !/\.(sql|sql\.gz|json)$/.test(f))).toEqual([])
      }))

    it.effect("a custom-format archive whose TOC carries a \\! line is refused, before pg_restore's script reaches the server", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const scratch = yield* ScratchDatabase
        // A comment of exactly the length of what replaces it in the archive's (uncompressed) TOC.
        const payload = `';\n\\! touch ${mark("custom")}\n--`
        const filler = "z".repeat(payload.length)
        yield* sql.unsafe(`CREATE TABLE IF NOT EXISTS carrier (id int); COMMENT ON TABLE carrier IS '${filler}'`)
        const dir = tempDir("dbkit-hostile-custom-")
        const file = path.join(dir, "custom.dump")
        const archive = execFileSync("pg_dump", ["-h", "127.0.0.1", "-U", "root", "--format=c", scratch.name])
        const at = archive.indexOf(`${filler}'`)
        expect(at).toBeGreaterThan(0)
        const patched = Buffer.concat([
          archive.subarray(0, at),
          Buffer.from(`${payload}'`),
          archive.subarray(at + filler.length + 1)
        ])
        fs.writeFileSync(file, patched)
        // pg_restore itself writes the line out as it is.
        expect(execFileSync("pg_restore", ["-f", "-", file]).toString()).toContain(`\n\\! touch ${mark("custom")}\n`)

        const verified = yield* Effect.flip(withBackupServices(({ backup }) => backup.verify(file), dir))
        expect(verified._tag).toBe("BackupUntrusted")
        const into = uniqueName("dbkit_hostile_custom")
        const refused = yield* Effect.flip(
          withBackupServices(({ restore }) => restore.into(file, into, { trustUnsigned: true }), dir)
        )
        expect(refused._tag).toBe("BackupUntrusted")
        expect(refused.message).toContain("\\!")
        expect(yield* databaseExists(into)).toBe(false)
        noMarks()
      }))

    it.effect("a dbkit backup with a hostile line added and its manifest's sha256 and sizes recomputed is refused", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const scratch = yield* ScratchDatabase
        yield* sql.unsafe("CREATE TABLE IF NOT EXISTS keep2 (id int); INSERT INTO keep2 VALUES (1)")
        const dir = tempDir("dbkit-hostile-rewritten-")
        const made = yield* withBackupServices(({ backup }) => backup.backup({ out: dir }), dir)
        const dump = gunzipSync(fs.readFileSync(made.file)).toString()
        const hostileDump = Buffer.from(`${dump}\n\\! touch ${mark("rewritten")}\n`)
        const bytes = gzipSync(hostileDump)
        fs.writeFileSync(made.file, bytes)
        const manifest = JSON.parse(fs.readFileSync(`${made.file}.json`, "utf8"))
        fs.writeFileSync(
          `${made.file}.json`,
          JSON.stringify({
            ...manifest,
            sha256: createHash("sha256").update(bytes).digest("hex"),
            sizes: { dump: hostileDump.length, file: bytes.length }
          })
        )
        const before = yield* digest(scratch.name)
        const verified = yield* Effect.flip(withBackupServices(({ backup }) => backup.verify(made.file), dir))
        expect(["BackupManifestForged", "BackupUntrusted"]).toContain(verified._tag)
        const into = uniqueName("dbkit_hostile_rewritten")
        const refusedInto = yield* Effect.flip(
          withBackupServices(({ restore }) => restore.into(made.file, into, { trustUnsigned: true }), dir)
        )
        expect(["BackupManifestForged", "BackupUntrusted"]).toContain(refusedInto._tag)
        expect(yield* databaseExists(into)).toBe(false)
        // Without its signature the manifest is of unverified origin; trusted, the reader still refuses the line.
        const { signature: _signature, ...unsigned } = JSON.parse(fs.readFileSync(`${made.file}.json`, "utf8"))
        fs.writeFileSync(`${made.file}.json`, JSON.stringify(unsigned))
        const refusedOver = yield* Effect.flip(
          withBackupServices(
            ({ restore }) => restore.over(made.file, { yes: true, trustUnsigned: true, safetyBackup: false }),
            dir
          ).pipe(
            Effect.provide(NonInteractiveGuard())
          )
        )
        expect(refusedOver._tag).toBe("BackupUntrusted")
        expect(yield* digest(scratch.name)).toEqual(before)
        noMarks()
      }))
  })
})

describe.skipIf(!server)("hostile backup files through the CLI", () => {
  layer(ServerLive, { excludeTestServices: true })("dbkit", (it) => {
    it.effect("backups verify and restore --into --trust-unsigned exit 14 naming the line; nothing runs, nothing is created", () =>
      Effect.gen(function*() {
        const scratch = yield* ScratchDatabase
        const { files } = writeCorpus("postgres")
        const shell = files.find((f) => f.name === "shell")!
        const env = { DATABASE_URL: urlFor(scratch.name) }
        const verified = yield* Effect.promise(() => runCli(["backups", "verify", shell.file], env))
        expect(verified.code).toBe(14)
        expect(verified.stderr).toContain(`line ${shell.line}: refused "\\! touch`)
        const into = uniqueName("dbkit_hostile_cli")
        const restored = yield* Effect.promise(() =>
          runCli(["restore", shell.file, "--into", into, "--trust-unsigned", "--json"], env)
        )
        expect(restored.code).toBe(14)
        expect(restored.stderr).toContain("the psql meta-command \\! is not something pg_dump writes")
        expect(yield* databaseExists(into)).toBe(false)
        noMarks()
      }))
  })
})

describe.skipIf(!server)("dbkit reads the dump itself", () => {
  layer(ServerLive, { excludeTestServices: true })("no psql", (it) => {
    it.effect("an embedded (PostgreSQL 18) backup restores onto this server with no newer psql; transaction_timeout is left out knowingly", () =>
      Effect.gen(function*() {
        const dir = tempDir("dbkit-embedded-to-server-")
        const made = yield* withBackupServices(({ backup }) =>
          Effect.gen(function*() {
            const sql = yield* SqlClient.SqlClient
            yield* sql.unsafe(
              "CREATE TABLE public.from_embedded (id int PRIMARY KEY, note text); INSERT INTO public.from_embedded SELECT g, 'n' || g FROM generate_series(1, 50) g"
            )
            return yield* backup.backup({ out: dir })
          }), dir).pipe(Effect.provide(EmbeddedLive))
        const script = gunzipSync(fs.readFileSync(made.file)).toString()
        expect(script).toMatch(/^SET transaction_timeout = 0;$/m)
        const name = uniqueName("dbkit_from_embedded")
        const restored = yield* withBackupServices(({ restore }) => restore.into(made.file, name), dir)
        try {
          const serverMajor = Number(
            (yield* Effect.promise(() => admin<{ v: string }>("SELECT current_setting('server_version_num') AS v")))[0]!
              .v
          ) / 10000
          expect(restored.skippedSettings).toEqual(serverMajor < 17 ? ["transaction_timeout"] : [])
          const rows = yield* Effect.promise(() =>
            queryAt<{ n: number }>(urlFor(name), "SELECT count(*)::int AS n FROM public.from_embedded")
          )
          expect(rows[0]!.n).toBe(50)
        } finally {
          yield* Effect.promise(() => admin(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`))
        }
      }))
  })
})

describe("hostile backup files on the embedded database", () => {
  layer(EmbeddedLive)("each refused, nothing run", (it) => {
    it.effect("verify and restore over refuse every file of the corpus; the database is unchanged", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        yield* sql.unsafe(
          "CREATE TABLE keep (id int PRIMARY KEY, note text); INSERT INTO keep SELECT g, md5(g::text) FROM generate_series(1, 200) g"
        )
        const before = yield* fingerprint
        const { dir, files } = writeCorpus("postgres")
        for (const { file, line, name } of files) {
          const verified = yield* Effect.flip(withBackupServices(({ backup }) => backup.verify(file), dir))
          expect([name, verified._tag]).toEqual([name, "BackupUntrusted"])
          expect(verified.message).toContain(`line ${line}`)
          const refused = yield* Effect.flip(
            withBackupServices(
              ({ restore }) => restore.over(file, { yes: true, trustUnsigned: true, safetyBackup: false }),
              dir
            ).pipe(
              Effect.provide(NonInteractiveGuard())
            )
          )
          expect([name, refused._tag]).toEqual([name, "BackupUntrusted"])
        }
        noMarks()
        expect(yield* fingerprint).toEqual(before)
      }))
  })
})
