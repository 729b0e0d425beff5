// Restore on the embedded database: over it in one transaction (guarded, exact, all or nothing),
// from its own backups and from a server's, refusals before anything is touched, and
// `verify --restore-test` into a fresh in-memory PGlite.
import * as SqlClient from "@effect/sql/SqlClient"
import { describe, expect, layer } from "@effect/vitest"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Effect from "effect/Effect"
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"
import { gunzipSync, gzipSync } from "node:zlib"
import { sign, signingKey } from "../src/backup/signature.js"
import { withBackupServices } from "./support/backup.js"
import { EmbeddedLive, serverAvailable, ServerLive, tempDir } from "./support/databases.js"
import { withMigrator } from "./support/migrations.js"
import { NonInteractiveGuard } from "./support/terminal.js"

const server = await serverAvailable()
const referenceMigrations = path.resolve(import.meta.dirname, "../migrations")

const withServices = <A, E, R>(
  f: Parameters<typeof withBackupServices<A, E, R>>[0],
  backupDir = tempDir("dbkit-restore-embedded-")
) => withBackupServices(f, backupDir)
const keyed = (key: string) => <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.withConfigProvider(effect, ConfigProvider.fromMap(new Map([["DB_BACKUP_KEY", key]])))

/**
 * Everything a restore must bring back: every application table's row count and a hash of its
 * rows (byte order, UTC ISO dates, so a server and PGlite print them alike), the schemas, the
 * policies and the grants to dbkit_app.
 */
const fingerprint = Effect.flatMap(SqlClient.SqlClient, (sql) =>
  sql.withTransaction(
    Effect.gen(function*() {
      yield* sql.unsafe("SET LOCAL TimeZone = 'UTC'; SET LOCAL DateStyle = 'ISO, YMD'")
      const tables = yield* sql.unsafe<{ name: string; label: string }>(
        `SELECT format('%I.%I', n.nspname, c.relname) AS name, n.nspname || '.' || c.relname AS label
           FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'
          ORDER BY 2`
      )
      const rows: Record<string, string> = {}
      for (const table of tables) {
        const [row] = yield* sql.unsafe<{ n: number; hash: string }>(
          `SELECT count(*)::int AS n, md5(coalesce(string_agg(t::text, E'\\n' ORDER BY t::text COLLATE "C"), '')) AS hash FROM ${table.name} t`
        )
        rows[table.label] = `${row!.n} ${row!.hash}`
      }
      const [access] = yield* sql.unsafe<{ schemas: string; policies: string; grants: string }>(
        `SELECT (SELECT string_agg(nspname, ',' ORDER BY nspname) FROM pg_namespace
                  WHERE nspname NOT IN ('pg_catalog', 'information_schema') AND nspname NOT LIKE 'pg\\_%') AS schemas,
                (SELECT string_agg(tablename || ':' || policyname || ':' || array_to_string(roles, '+'), ',' ORDER BY tablename, policyname) FROM pg_policies) AS policies,
                (SELECT string_agg(table_name || ':' || privilege_type, ',' ORDER BY table_name, privilege_type)
                   FROM information_schema.role_table_grants WHERE grantee = 'dbkit_app') AS grants`
      )
      return { rows, ...access! }
    })
  ))

const count = (table: string) =>
  Effect.flatMap(
    SqlClient.SqlClient,
    (sql) => Effect.map(sql.unsafe<{ n: number }>(`SELECT count(*)::int AS n FROM ${table}`), (r) => r[0]!.n)
  )

/** The session as a later statement finds it: no transaction, default settings. */
const sessionSettings = Effect.flatMap(SqlClient.SqlClient, (sql) =>
  sql<{ searchPath: string; rowSecurity: string }>`
    SELECT current_setting('search_path') AS "searchPath", current_setting('row_security') AS "rowSecurity"`)

/** Reference schema, migrated, with rows in tables that reference each other and an identity. */
const populate = Effect.gen(function*() {
  yield* withMigrator(referenceMigrations, undefined, (m) => m.migrate())
  const sql = yield* SqlClient.SqlClient
  yield* sql.unsafe(`
    INSERT INTO organizations (slug, name) SELECT 'org' || i, 'Org ' || i || E' — it''s; "quoted"' FROM generate_series(1, 1200) i;
    INSERT INTO customers (tenant_id, name, email) SELECT id, 'Customer of ' || name, slug || '@example.com' FROM organizations;
    INSERT INTO audit_log (tenant_id, actor, action, table_name, row_key, changed_columns)
      SELECT id, 'seed', 'insert', 'organizations', slug, ARRAY['slug', 'name'] FROM organizations LIMIT 50`)
})

/** A well-formed, checksummed backup of hand-written SQL, with the row counts it claims. */
const handmade = (sql: string, tables: Record<string, number>) => {
  const dir = tempDir("dbkit-restore-embedded-")
  const file = path.join(dir, "handmade_backup_2026-01-01_00-00-00.sql.gz")
  const bytes = gzipSync(Buffer.from(sql))
  fs.writeFileSync(file, bytes)
  fs.writeFileSync(
    `${file}.json`,
    JSON.stringify({
      format: "plain",
      encryption: null,
      sha256: createHash("sha256").update(bytes).digest("hex"),
      sizes: { dump: Buffer.byteLength(sql), file: bytes.length },
      tables
    })
  )
  return file
}

describe("Restore on the embedded database", () => {
  layer(EmbeddedLive, { excludeTestServices: true })("in memory", (it) => {
    it.effect("over: refused without confirmation or in production, then gives back exactly what the backup held, migrations and access rules included", () =>
      Effect.gen(function*() {
        yield* populate
        const original = yield* fingerprint
        const settings = yield* sessionSettings
        const out = tempDir("dbkit-restore-embedded-")
        const made = yield* withServices(({ backup }) => backup.backup({ out }), out)
        expect(made.manifest.tables["public.organizations"]).toBe(1200)
        // 1,200 customer inserts recorded by the audit triggers (migration 0004), then the 50 written by hand
        expect(made.manifest.tables["public.audit_log"]).toBe(1250)
        // PGlite's pg_dump writes INSERTs: 1,000 rows a statement, not one.
        const script = gunzipSync(fs.readFileSync(made.file)).toString()
        expect(script.match(/^INSERT INTO public\.organizations VALUES$/gm)).toHaveLength(2)

        const sql = yield* SqlClient.SqlClient
        yield* sql.unsafe(`DELETE FROM audit_log WHERE id % 2 = 0;
          UPDATE organizations SET name = 'renamed' WHERE slug = 'org7';
          INSERT INTO organizations (slug, name) VALUES ('late', 'Late');
          DELETE FROM dbkit.migrations WHERE name = '0002_rls_force_and_grants';
          CREATE TABLE public.junk (x int); CREATE SCHEMA extra; CREATE TABLE extra.t (x int)`)
        const changed = yield* fingerprint
        expect(changed).not.toEqual(original)

        const refused = yield* Effect.flip(
          withServices(({ restore }) => restore.over(made.file), out).pipe(Effect.provide(NonInteractiveGuard()))
        )
        expect(refused._tag).toBe("ConfirmationRequired")
        expect(refused.message).toContain("DB_RESTORE_CONFIRM=1")
        const production = yield* Effect.flip(
          withServices(({ restore }) => restore.over(made.file, { yes: true }), out).pipe(
            Effect.provide(NonInteractiveGuard("production"))
          )
        )
        expect(production._tag).toBe("ProductionRefused")
        expect(production.message).toContain("DB_RESTORE_ALLOW_PRODUCTION=1")
        expect(yield* fingerprint).toEqual(changed)
        expect(fs.readdirSync(out)).toHaveLength(2) // the backup and its manifest: no safety backup yet

        let last: { fileBytes: number; fileSize: number; dumpBytes: number } | undefined
        const result = yield* withServices(
          ({ restore }) => restore.over(made.file, { yes: true, onProgress: (p) => (last = p) }),
          out
        ).pipe(
          Effect.provide(NonInteractiveGuard())
        )
        expect(result).toMatchObject({
          database: "postgres",
          previous: null,
          rolesCreated: [],
          tables: Object.keys(made.manifest.tables).length
        })
        expect(last).toEqual({
          fileBytes: made.manifest.sizes.file,
          fileSize: made.manifest.sizes.file,
          dumpBytes: made.manifest.sizes.dump
        })
        expect(yield* fingerprint).toEqual(original)
        expect(yield* sessionSettings).toEqual(settings)
        const safety = JSON.parse(fs.readFileSync(`${result.safetyBackup}.json`, "utf8"))
        expect(path.dirname(result.safetyBackup!)).toBe(out)
        expect(safety.tables["public.organizations"]).toBe(1201) // the state it replaced
        expect(safety.tables["public.junk"]).toBe(0)
        // The restored database keeps working: identities go on, migrations are up to date.
        yield* sql.unsafe(
          `INSERT INTO audit_log (tenant_id, actor, action, table_name, row_key) SELECT id, 'a', 'b', 'c', 'd' FROM organizations LIMIT 1`
        )
        expect((yield* sql<{ id: number }>`SELECT max(id)::int AS id FROM audit_log`)[0]!.id).toBe(1251) // after the backup's 1,250
        const status = yield* withMigrator(referenceMigrations, undefined, (m) => m.migrate())
        expect(status.applied).toEqual([])
      }))

    it.effect("a backup whose SQL fails halfway, or whose counts differ from its manifest, or that breaks off in its gzip, leaves the database exactly as it was", () =>
      Effect.gen(function*() {
        const before = yield* fingerprint
        const settings = yield* sessionSettings
        // Hand-made and rewritten manifests are unsigned: trusted here, to reach the checks below.
        const over = (file: string) =>
          Effect.flip(
            withServices(({ restore }) => restore.over(file, { yes: true, safetyBackup: false, trustUnsigned: true }))
              .pipe(Effect.provide(NonInteractiveGuard()))
          )
        const role = (name: string) =>
          Effect.flatMap(
            SqlClient.SqlClient,
            (sql) =>
              Effect.map(sql<{ n: number }>`SELECT count(*)::int AS n FROM pg_roles WHERE rolname = ${name}`, (r) =>
                r[0]!.n)
          )

        // The grant makes the load create a role, which must go with the rest.
        const failing = handmade(
          [
            "CREATE TABLE public.half (x int);",
            "INSERT INTO public.half VALUES (1);",
            "GRANT SELECT ON public.half TO dbkit_restore_probe;",
            "INSERT INTO public.no_such_table VALUES (1);",
            "CREATE TABLE public.never (x int);"
          ].join("\n") + "\n",
          { "public.half": 1 }
        )
        const failed = yield* over(failing)
        expect(failed._tag).toBe("PlainDumpFailed")
        expect(failed.message).toMatch(
          /^line 4: INSERT INTO public\.no_such_table VALUES \(1\);: relation "public\.no_such_table" does not exist/
        )
        expect(yield* fingerprint).toEqual(before)
        expect(yield* role("dbkit_restore_probe")).toBe(0)
        expect(yield* sessionSettings).toEqual(settings)

        const miscounted = yield* over(
          handmade("CREATE TABLE public.half (x int);\nINSERT INTO public.half VALUES (1), (2);\n", {
            "public.half": 3
          })
        )
        expect(miscounted._tag).toBe("RestoreTestMismatch")
        expect(miscounted.message).toContain("public.half: 2 rows, expected 3")
        expect(yield* fingerprint).toEqual(before)

        // A plain backup cut short, its manifest "fixed" to match: gzip fails on the way in.
        const made = yield* withServices(({ backup }) => backup.backup())
        const cut = fs.readFileSync(made.file).subarray(0, Math.floor(fs.statSync(made.file).size * 0.6))
        fs.writeFileSync(made.file, cut)
        const { signature: _dropped, ...manifest } = JSON.parse(fs.readFileSync(`${made.file}.json`, "utf8"))
        fs.writeFileSync(
          `${made.file}.json`,
          JSON.stringify({ ...manifest, sha256: createHash("sha256").update(cut).digest("hex") })
        )
        const truncated = yield* over(made.file)
        expect(truncated._tag).toBe("BackupCorrupt")
        expect(yield* fingerprint).toEqual(before)
        expect(yield* sessionSettings).toEqual(settings)
      }))

    it.effect("a tampered file, a wrong key, a custom-format file or --into are refused before anything is touched", () =>
      Effect.gen(function*() {
        const before = yield* fingerprint
        const out = tempDir("dbkit-restore-embedded-")
        const over = (file: string) =>
          Effect.flip(
            withServices(({ restore }) => restore.over(file, { yes: true }), out).pipe(
              Effect.provide(NonInteractiveGuard())
            )
          )

        const plain = yield* withServices(({ backup }) => backup.backup({ out }), out)
        const flipped = fs.readFileSync(plain.file)
        flipped[flipped.length >> 1] = flipped[flipped.length >> 1]! ^ 1
        fs.writeFileSync(plain.file, flipped)
        expect((yield* over(plain.file))._tag).toBe("BackupChecksumMismatch")

        const encrypted = yield* keyed("the right key")(withServices(({ backup }) => backup.backup({ out }), out))
        const wrongKey = yield* keyed("another key")(over(encrypted.file))
        expect(wrongKey._tag).toBe("BackupKeyInvalid")
        expect(wrongKey.message).toContain("not the key this backup was written with")

        // Signed as dbkit signs its own (the format is what is refused here, not the origin).
        const custom = handmade("not read", { "public.t": 1 })
        const manifest = JSON.parse(fs.readFileSync(`${custom}.json`, "utf8"))
        fs.writeFileSync(
          `${custom}.json`,
          JSON.stringify(sign({ ...manifest, format: "custom" }, yield* signingKey(undefined)))
        )
        const unconfirmed = yield* Effect.flip(
          withServices(({ restore }) => restore.over(custom)).pipe(Effect.provide(NonInteractiveGuard()))
        )
        expect(unconfirmed._tag).toBe("NotSupportedOnEmbedded")
        expect(unconfirmed.message).toContain("custom-format backup (pg_restore) needs a PostgreSQL server")
        expect(unconfirmed.message).toContain("dbkit backup --format plain")

        const into = yield* Effect.flip(withServices(({ restore }) => restore.into(encrypted.file, "somewhere_else")))
        expect(into._tag).toBe("NotSupportedOnEmbedded")
        expect(into.message).toBe(
          "restore --into needs a PostgreSQL server; set DATABASE_URL to run it, or leave out --into to restore over the embedded database (it holds a single database)"
        )
        expect(yield* fingerprint).toEqual(before)
        expect(fs.readdirSync(out).filter((name) => !name.endsWith(".json"))).toHaveLength(2) // no safety backup
      }))

    // (One fresh PGlite means one initdb, ~3 s alone and far more on a busy machine: one case only;
    // a count that differs from the manifest is the same check as in `over` above.)
    it.effect("verify --restore-test loads the backup into a fresh in-memory PGlite (roles made as needed) and matches the manifest's counts", () =>
      Effect.gen(function*() {
        const made = yield* withServices(({ backup }) => backup.backup())
        const verified = yield* withServices(({ backup }) => backup.verify(made.file, { restoreTest: true }))
        const manifestRows = Object.values(made.manifest.tables).reduce((sum, n) => sum + n, 0)
        expect(verified.restoreTest).toEqual({
          tables: Object.keys(made.manifest.tables).length,
          rows: manifestRows,
          countsChecked: true
        })
        expect(JSON.parse(fs.readFileSync(`${made.file}.verified.json`, "utf8")).restoreTest).toBe(true)
        expect(yield* count("organizations")).toBe(1200) // the configured database was not touched
      }))
  })
})

describe.skipIf(!server)("Restore of a server backup on the embedded database", () => {
  layer(EmbeddedLive, { excludeTestServices: true })("a fresh, never migrated embedded database", (it) => {
    it.effect("takes the server's rows, migrations, policies and grants; creates the dbkit_app role the grants need; leaves the server's owners out", () =>
      Effect.gen(function*() {
        const out = tempDir("dbkit-restore-embedded-")
        const { made, expected } = yield* Effect.gen(function*() {
          yield* populate
          const made = yield* withServices(({ backup }) => backup.backup({ out }), out)
          return { made, expected: yield* fingerprint }
        }).pipe(Effect.provide(ServerLive))
        expect(expected.grants).toContain("organizations:SELECT")

        const result = yield* withServices(
          ({ restore }) => restore.over(made.file, { yes: true, safetyBackup: false }),
          out
        ).pipe(
          Effect.provide(NonInteractiveGuard())
        )
        expect(result.rolesCreated).toEqual(["dbkit_app"])
        expect(yield* fingerprint).toEqual(expected)
        const sql = yield* SqlClient.SqlClient
        const owners = yield* sql<{ owner: string }>`
          SELECT DISTINCT pg_get_userbyid(c.relowner) AS owner FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname IN ('public', 'dbkit')`
        expect(owners).toEqual([{ owner: "postgres" }])
        // Restored twice: the role is there now, and the result is the same.
        const again = yield* withServices(
          ({ restore }) => restore.over(made.file, { yes: true, safetyBackup: false }),
          out
        ).pipe(
          Effect.provide(NonInteractiveGuard())
        )
        expect(again.rolesCreated).toEqual([])
        expect(yield* fingerprint).toEqual(expected)
      }))
  })
})
