// The migrator's first-hour surprises, each pinned down: transaction control inside a
// transactional migration, a file that is not UTF-8, `migrate new` numbering, a drizzle-migrated
// database (adopted or not), and a dry run that judged migrations unlike `migrate` runs them.
import * as NodeContext from "@effect/platform-node/NodeContext"
import { PgClient } from "@effect/sql-pg"
import * as PgMigrator from "@effect/sql-pg/PgMigrator"
import * as EffectMigrator from "@effect/sql/Migrator"
import * as SqlClient from "@effect/sql/SqlClient"
import { describe, expect, it, layer } from "@effect/vitest"
import { PGlite } from "@electric-sql/pglite"
import { drizzle as drizzleNodePg } from "drizzle-orm/node-postgres"
import { migrate as drizzleMigrateNodePg } from "drizzle-orm/node-postgres/migrator"
import { drizzle as drizzlePglite } from "drizzle-orm/pglite"
import { migrate as drizzleMigratePglite } from "drizzle-orm/pglite/migrator"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as fs from "node:fs"
import * as path from "node:path"
import pg from "pg"
import { ExitCode, exitCodeOfTag } from "../src/cli/exitCodes.js"
import { PgliteLive, PgLive } from "../src/Database.js"
import { lintMigrations } from "../src/migrator/lint.js"
import { fromDirectory, fromSql } from "../src/migrator/source.js"
import { checksum } from "../src/migrator/sql.js"
import { runCli } from "./support/cli.js"
import {
  backends,
  createScratchDatabase,
  dropScratchDatabase,
  pgliteTemplate,
  ScratchFromTemplate,
  serverAvailable,
  tempDir
} from "./support/databases.js"
import { freshSchema, referenceMigrationsThrough, withMigrator, writeFolder } from "./support/migrations.js"
import { NonInteractiveGuard } from "./support/terminal.js"

const server = await serverAvailable()
const referenceMigrations = path.resolve(import.meta.dirname, "../migrations")
const exitFor = (tag: string) => exitCodeOfTag(tag)

const exists = (qualified: string) =>
  Effect.flatMap(
    SqlClient.SqlClient,
    (sql) => Effect.map(sql<{ e: boolean }>`SELECT to_regclass(${qualified}) IS NOT NULL AS e`, (rows) => rows[0]!.e)
  )

const enumValues = (type: string) =>
  Effect.flatMap(
    SqlClient.SqlClient,
    (sql) =>
      Effect.map(sql.unsafe<{ v: string }>(`SELECT unnest(enum_range(NULL::${type}))::text AS v`), (rows) =>
        rows.map((r) => r.v))
  )

describe("transaction control in a migration, found before anything runs", () => {
  it("the linter flags BEGIN, START TRANSACTION, COMMIT, END, ROLLBACK and ABORT in a transactional migration", () => {
    const texts = [
      "BEGIN;",
      "begin transaction;",
      "START TRANSACTION ISOLATION LEVEL SERIALIZABLE;",
      "COMMIT;",
      "END;",
      "ROLLBACK;",
      "abort;",
      "COMMIT AND CHAIN;"
    ]
    for (const text of texts) {
      const findings = lintMigrations([fromSql("0001_m", "0001_m.sql", `CREATE TABLE t (x int);\n${text}\nSELECT 1;`)])
      expect(findings.map((f) => [f.statement, f.rule]), text).toEqual([[2, "transaction-control"]])
    }
  })

  it("the linter leaves savepoints, BEGIN inside function bodies and files marked no-transaction alone", () => {
    const fine = [
      "SAVEPOINT a; ROLLBACK TO SAVEPOINT a; ROLLBACK TO a; RELEASE SAVEPOINT a;",
      "DO $$ BEGIN PERFORM 1; END $$;",
      "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; END;",
      "COMMENT ON TABLE t IS 'BEGIN; COMMIT;';"
    ]
    for (const text of fine) expect(lintMigrations([fromSql("0001_m", "0001_m.sql", text)]), text).toEqual([])
    const marked = fromSql(
      "0001_m",
      "0001_m.sql",
      "-- dbkit:no-transaction\nBEGIN;\nCREATE TABLE t (x int);\nCOMMIT;\n"
    )
    expect(lintMigrations([marked]).map((f) => f.rule)).not.toContain("transaction-control")
  })
})

describe("a migration file that is not valid UTF-8", () => {
  it.effect("is refused with the byte offset (and line) of its first bad byte", () =>
    Effect.gen(function*() {
      const dir = writeFolder({ "0001_ok.sql": "CREATE TABLE ok (x int);" })
      // "café" in Latin-1: the é is the single byte 0xE9, at offset 41 on line 2.
      const bytes = Buffer.concat([
        Buffer.from("-- the menu\nINSERT INTO menu VALUES ('caf"),
        Buffer.from([0xe9]),
        Buffer.from("');\n")
      ])
      fs.writeFileSync(path.join(dir, "0002_latin1.sql"), bytes)
      const error = yield* Effect.flip(fromDirectory(dir))
      expect(error._tag).toBe("MigrationSourceError")
      expect(error.path).toBe(path.join(dir, "0002_latin1.sql"))
      expect(error.message).toContain("not valid UTF-8")
      expect(error.message).toContain("byte offset 41 (line 2)")
      expect(error.message).toContain("0xE9")
      // A U+FFFD written in the file is text; the stray byte after it is what is reported.
      fs.writeFileSync(
        path.join(dir, "0002_latin1.sql"),
        Buffer.concat([Buffer.from("-- \uFFFD x\n"), Buffer.from([0xc3, 0x28])])
      )
      const after = yield* Effect.flip(fromDirectory(dir))
      expect(after.message).toContain("byte offset 9 (line 2) is 0xC3")
    }))

  it.effect("valid UTF-8, a byte order mark and a literal U+FFFD are still read as they were", () =>
    Effect.gen(function*() {
      const text = "\uFEFFSELECT 'café ✓ \uFFFD';"
      const dir = writeFolder({ "0001_ok.sql": text })
      const [migration] = yield* fromDirectory(dir)
      expect(migration!.checksum).toBe(checksum(text))
      expect(migration!.up._tag === "Sql" && migration!.up.statements[0]!.text).toBe("SELECT 'café ✓ \uFFFD'")
    }))
})

for (const backend of await backends()) {
  layer(backend.layer, { excludeTestServices: true })(`migrator surprises on the ${backend.name} database`, (it) => {
    it.effect("a transactional migration with BEGIN/COMMIT is refused before anything runs, naming its file and line", () =>
      Effect.gen(function*() {
        const schema = freshSchema()
        const dir = writeFolder({
          "001_first.sql": "CREATE TABLE first (x int);",
          "002_tx.sql":
            "CREATE TABLE part_one (x int);\n\n-- wrap the rest\nBEGIN;\nCREATE TABLE part_two (x int);\nCOMMIT;\n"
        })
        const error = yield* Effect.flip(withMigrator(dir, schema, (m) => m.migrate()))
        expect(error._tag).toBe("TransactionControlRefused")
        if (error._tag !== "TransactionControlRefused") return
        expect(error.migration).toBe("002_tx")
        expect(error.file).toBe(path.join(dir, "002_tx.sql"))
        expect(error.line).toBe(4)
        expect(error.keyword).toBe("BEGIN")
        expect(error.message).toContain(`${path.join(dir, "002_tx.sql")}:4`)
        expect(error.message).toContain("-- dbkit:no-transaction")
        // Nothing ran: not the migration before it, not the part before BEGIN, not the part after.
        expect(yield* exists(`${schema}.first`)).toBe(false)
        expect(yield* exists(`${schema}.part_one`)).toBe(false)
        expect(yield* exists(`${schema}.part_two`)).toBe(false)
        expect((yield* withMigrator(dir, schema, (m) => m.status)).applied).toEqual([])
        // The dry run refuses it as well (before, its COMMIT committed on the target).
        const dry = yield* Effect.flip(withMigrator(dir, schema, (m) => m.migrate({ dryRun: true })))
        expect(dry._tag).toBe("TransactionControlRefused")
        expect(yield* exists(`${schema}.part_one`)).toBe(false)
        for (const statement of ["START TRANSACTION;", "END;", "ROLLBACK;", "COMMIT;"]) {
          writeFolder({ "002_tx.sql": `CREATE TABLE part_one (x int);\n${statement}\n` }, dir)
          const refused = yield* Effect.flip(withMigrator(dir, schema, (m) => m.migrate()))
          expect(refused._tag, statement).toBe("TransactionControlRefused")
          expect(yield* exists(`${schema}.part_one`)).toBe(false)
        }
      }))

    it.effect("a down file with COMMIT is refused before any rollback runs", () =>
      Effect.gen(function*() {
        const schema = freshSchema()
        const dir = writeFolder({
          "001_a.sql": "CREATE TABLE down_a (x int);",
          "001_a.down.sql": "DROP TABLE down_a;",
          "002_b.sql": "CREATE TABLE down_b (x int);",
          "002_b.down.sql": "DROP TABLE down_b;\nCOMMIT;\n"
        })
        yield* withMigrator(dir, schema, (m) => m.migrate())
        const error = yield* Effect.flip(
          withMigrator(dir, schema, (m) => m.rollback({ steps: 2, yes: true })).pipe(
            Effect.provide(NonInteractiveGuard())
          )
        )
        expect(error._tag).toBe("TransactionControlRefused")
        if (error._tag !== "TransactionControlRefused") return
        expect(error.file).toBe(path.join(dir, "002_b.down.sql"))
        expect(error.line).toBe(2)
        expect(yield* exists(`${schema}.down_b`)).toBe(true)
        expect((yield* withMigrator(dir, schema, (m) => m.status)).applied).toHaveLength(2)
      }))

    it.effect("a dry run that cannot replay the applied migrations says what it did not try, and fails nothing", () =>
      Effect.gen(function*() {
        const schema = freshSchema()
        const sql = yield* SqlClient.SqlClient
        // A table made outside the migrations, and a baseline saying 001 already ran against it.
        yield* sql.unsafe(`CREATE SCHEMA ${schema}; CREATE TABLE ${schema}.legacy (x int)`)
        const dir = writeFolder({ "001_legacy.sql": "ALTER TABLE legacy ADD COLUMN y int;" })
        yield* withMigrator(dir, schema, (m) => m.baseline({ to: "001_legacy" }))
        writeFolder({
          "002_t.sql": "CREATE TABLE t2 (x int);",
          "003_idx.sql": "CREATE INDEX CONCURRENTLY t2_x ON t2 (x);",
          "004_more.sql": "CREATE TABLE t4 (x int);"
        }, dir)
        const dry = yield* withMigrator(dir, schema, (m) => m.migrate({ dryRun: true }))
        expect(dry.applied.map((a) => a.name)).toEqual(["002_t"])
        expect(dry.skipped).toEqual(["003_idx", "004_more"])
        expect(dry.skippedBecause).toContain("003_idx cannot run in a transaction")
        expect(dry.skippedBecause).toContain("001_legacy")
        expect(yield* exists(`${schema}.t2`)).toBe(false)
      }))

    it.effect("a migration marked no-transaction may still manage its own transaction", () =>
      Effect.gen(function*() {
        const schema = freshSchema()
        const dir = writeFolder({
          "001_own.sql":
            "-- dbkit:no-transaction\nBEGIN;\nCREATE TABLE own_a (x int);\nCREATE TABLE own_b (x int);\nCOMMIT;\n",
          "002_idx.sql": "CREATE INDEX CONCURRENTLY own_a_x ON own_a (x);"
        })
        const result = yield* withMigrator(dir, schema, (m) => m.migrate())
        expect(result.applied.map((a) => a.name)).toEqual(["001_own", "002_idx"])
        expect(yield* exists(`${schema}.own_b`)).toBe(true)
        expect(yield* exists(`${schema}.own_a_x`)).toBe(true)
      }))

    it.effect("a file that is not UTF-8 stops migrate before anything is applied", () =>
      Effect.gen(function*() {
        const schema = freshSchema()
        const dir = writeFolder({ "001_first.sql": "CREATE TABLE first (x text);" })
        fs.writeFileSync(path.join(dir, "002_latin1.sql"), Buffer.from([0x49, 0x4e, 0x53, 0x45, 0x52, 0x54, 0xff]))
        const error = yield* Effect.flip(withMigrator(dir, schema, (m) => m.migrate()))
        expect(error._tag).toBe("MigrationSourceError")
        expect(error.message).toContain("byte offset 6 (line 1)")
        expect(yield* exists(`${schema}.first`)).toBe(false)
      }))

    it.effect("a dry run passes an enum value added by one migration and used by the next, as migrate applies them", () =>
      Effect.gen(function*() {
        const schema = freshSchema()
        const dir = writeFolder({
          "001_mood.sql":
            "CREATE TYPE mood AS ENUM ('sad');\nCREATE TABLE feelings (m mood);\nINSERT INTO feelings VALUES ('sad');"
        })
        yield* withMigrator(dir, schema, (m) => m.migrate())
        writeFolder({
          "002_happy.sql": "ALTER TYPE mood ADD VALUE 'happy';",
          "003_use.sql": "INSERT INTO feelings VALUES ('happy');"
        }, dir)
        const dry = yield* withMigrator(dir, schema, (m) => m.migrate({ dryRun: true }))
        expect(dry.dryRun).toBe(true)
        expect(dry.applied.map((a) => a.name)).toEqual(["002_happy", "003_use"])
        expect(dry.skipped).toEqual([])
        expect(dry.replayed).toEqual(["003_use"])
        // Nothing changed on the database itself.
        expect(yield* enumValues(`${schema}.mood`)).toEqual(["sad"])
        expect((yield* withMigrator(dir, schema, (m) => m.status)).pending).toEqual(["002_happy", "003_use"])
        // A migration that really fails is still reported, named, after the replayed ones.
        writeFolder({ "004_bad.sql": "INSERT INTO feelings VALUES ('angry');" }, dir)
        const bad = yield* Effect.flip(withMigrator(dir, schema, (m) => m.migrate({ dryRun: true })))
        expect(bad._tag).toBe("MigrationFailed")
        if (bad._tag !== "MigrationFailed") return
        expect(bad.migration).toBe("004_bad")
        expect(bad.code).toBe("22P02")
        expect(bad.message).toContain("scratch")
        fs.rmSync(path.join(dir, "004_bad.sql"))
        // And migrate agrees with the dry run.
        const applied = yield* withMigrator(dir, schema, (m) => m.migrate())
        expect(applied.applied.map((a) => a.name)).toEqual(["002_happy", "003_use"])
        expect(yield* enumValues(`${schema}.mood`)).toEqual(["sad", "happy"])
      }))

    it.effect("a dry run still judges data on the database itself, and tries migrations after a non-transactional one", () =>
      Effect.gen(function*() {
        const schema = freshSchema()
        const dir = writeFolder({ "001_t.sql": "CREATE TABLE t (x int);\nINSERT INTO t VALUES (NULL);" })
        yield* withMigrator(dir, schema, (m) => m.migrate())
        // Fails only because of the row the database holds: a scratch replay would pass it.
        writeFolder({ "002_not_null.sql": "ALTER TABLE t ALTER COLUMN x SET NOT NULL;" }, dir)
        const error = yield* Effect.flip(withMigrator(dir, schema, (m) => m.migrate({ dryRun: true })))
        expect(error._tag).toBe("MigrationFailed")
        if (error._tag !== "MigrationFailed") return
        expect(error.migration).toBe("002_not_null")
        expect(error.code).toBe("23502")
        writeFolder({
          "002_not_null.sql": "UPDATE t SET x = 0 WHERE x IS NULL;",
          "003_idx.sql": "CREATE UNIQUE INDEX CONCURRENTLY t_x_key ON t (x);",
          "004_use_idx.sql": "ALTER TABLE t ADD CONSTRAINT t_x_unique UNIQUE USING INDEX t_x_key;"
        }, dir)
        const dry = yield* withMigrator(dir, schema, (m) => m.migrate({ dryRun: true }))
        expect(dry.applied.map((a) => a.name)).toEqual(["002_not_null", "003_idx", "004_use_idx"])
        expect(dry.replayed).toEqual(["003_idx", "004_use_idx"])
        expect(dry.skipped).toEqual([])
        expect(yield* exists(`${schema}.t_x_key`)).toBe(false)
        const applied = yield* withMigrator(dir, schema, (m) => m.migrate())
        expect(applied.applied.map((a) => a.name)).toEqual(["002_not_null", "003_idx", "004_use_idx"])
      }))

    it.effect("a dry run reports a deferred constraint that migrate would find violated at COMMIT", () =>
      Effect.gen(function*() {
        const schema = freshSchema()
        const dir = writeFolder({
          "001_t.sql": "CREATE TABLE parent (id int PRIMARY KEY);\n" +
            "CREATE TABLE child (parent_id int REFERENCES parent DEFERRABLE INITIALLY DEFERRED);"
        })
        yield* withMigrator(dir, schema, (m) => m.migrate())
        writeFolder({ "002_orphan.sql": "INSERT INTO child VALUES (42);" }, dir)
        const real = yield* Effect.flip(withMigrator(dir, schema, (m) => m.migrate()))
        expect(real._tag).toBe("MigrationFailed")
        const dry = yield* Effect.flip(withMigrator(dir, schema, (m) => m.migrate({ dryRun: true })))
        expect(dry._tag).toBe("MigrationFailed")
        if (dry._tag !== "MigrationFailed") return
        expect(dry.migration).toBe("002_orphan")
        expect(dry.code).toBe("23503")
      }))
  })
}

/**
 * A database drizzle's own migrator has migrated with the reference migrations it can run: through
 * 0004 (it runs all in one transaction, and 0005 builds its indexes CONCURRENTLY).
 */
const drizzleMigrated = {
  server: Effect.acquireRelease(
    Effect.promise(async () => {
      const db = await createScratchDatabase("dbkit_surprise")
      const pool = new pg.Pool({ connectionString: db.url })
      await drizzleMigrateNodePg(drizzleNodePg(pool), {
        migrationsFolder: referenceMigrationsThrough("0004_audit_triggers")
      })
      await pool.end()
      return db
    }),
    ({ name }) => Effect.promise(() => dropScratchDatabase(name))
  ),
  embedded: Effect.promise(async () => {
    const dataDir = path.join(tempDir(), "pglite")
    const pglite = await PGlite.create(dataDir, { loadDataDir: pgliteTemplate() })
    await drizzleMigratePglite(drizzlePglite(pglite), {
      migrationsFolder: referenceMigrationsThrough("0004_audit_triggers")
    })
    await pglite.close()
    return dataDir
  })
}

const adoptedThenDrift = Effect.gen(function*() {
  // Not adopted: migrate says what to run instead of failing on "already exists", and applies nothing.
  const refused = yield* Effect.flip(withMigrator(referenceMigrations, undefined, (m) => m.migrate()))
  expect(refused._tag).toBe("AdoptRequired")
  expect(refused.message).toContain("dbkit migrate adopt")
  expect(refused.message).toContain("drizzle.__drizzle_migrations")
  expect((yield* withMigrator(referenceMigrations, undefined, (m) => m.status)).applied).toEqual([])
  // A dry run says the same.
  expect((yield* Effect.flip(withMigrator(referenceMigrations, undefined, (m) => m.migrate({ dryRun: true }))))._tag)
    .toBe("AdoptRequired")
  // Adopted: drift and the migrate that follows ignore drizzle's bookkeeping.
  expect((yield* withMigrator(referenceMigrations, undefined, (m) => m.adopt)).adopted).toHaveLength(5)
  const migrated = yield* withMigrator(referenceMigrations, undefined, (m) => m.migrate())
  expect(migrated.applied.map((m) => m.name)).toEqual([
    "0005_tenant_safe_keys",
    "0006_tenant_safe_keys_validate",
    "0007_tenant_transaction_stamp"
  ])
  const drift = yield* withMigrator(referenceMigrations, undefined, (m) => m.drift())
  expect(drift.differences).toEqual([])
})

describe.skipIf(!server)("a drizzle-migrated server database", () => {
  it.scoped("migrate says to adopt first; after adopt, drift ignores drizzle.__drizzle_migrations", () =>
    Effect.gen(function*() {
      const db = yield* drizzleMigrated.server
      yield* adoptedThenDrift.pipe(Effect.provide(PgLive({ url: Redacted.make(db.url) })))
    }))

  it.scoped("a schema-targeted run (a tenant schema) is not told to adopt", () =>
    Effect.gen(function*() {
      const db = yield* drizzleMigrated.server
      const dir = writeFolder({ "001_tenant.sql": "CREATE TABLE notes (x int);" })
      const result = yield* withMigrator(dir, "tenant_acme", (m) => m.migrate()).pipe(
        Effect.provide(PgLive({ url: Redacted.make(db.url) }))
      )
      expect(result.applied.map((a) => a.name)).toEqual(["001_tenant"])
    }))

  it.scoped("the CLI: migrate exits with adopt advice, adopt, migrate applies the rest, then drift exits 0", () =>
    Effect.gen(function*() {
      const db = yield* drizzleMigrated.server
      const env = { DATABASE_URL: db.url, DBKIT_MIGRATIONS_DIR: referenceMigrations }
      const refused = yield* Effect.promise(() => runCli(["migrate"], env))
      expect(refused.code).toBe(exitFor("AdoptRequired"))
      expect(refused.code).not.toBe(0)
      expect(refused.stderr).toContain("dbkit migrate adopt")
      expect(refused.stderr).not.toContain("already exists")
      expect((yield* Effect.promise(() => runCli(["migrate", "adopt"], env))).code).toBe(0)
      // The migrations drizzle could not run (0005 builds indexes CONCURRENTLY, 0006–0007 follow) are dbkit's to apply.
      const migrated = yield* Effect.promise(() => runCli(["migrate"], env))
      expect(migrated.code).toBe(0)
      expect(migrated.stdout).toContain("3 applied")
      const drift = yield* Effect.promise(() => runCli(["migrate", "drift"], env))
      expect(drift.stdout).not.toContain("drizzle")
      expect(drift.code).toBe(0)
    }))
})

describe.skipIf(!server)("an @effect/sql-migrated server database", () => {
  it.scoped("migrate says to adopt first; after adopt, drift ignores effect_sql_migrations", () =>
    Effect.gen(function*() {
      const db = yield* Effect.acquireRelease(
        Effect.promise(() => createScratchDatabase("dbkit_surprise_fx")),
        ({ name }) => Effect.promise(() => dropScratchDatabase(name))
      )
      const client = PgClient.layer({ url: Redacted.make(db.url) })
      yield* PgMigrator.run({
        loader: EffectMigrator.fromRecord({
          "1_users": Effect.flatMap(SqlClient.SqlClient, (sql) => sql`CREATE TABLE users (id int primary key)`)
        })
      }).pipe(Effect.provide(Layer.merge(client, NodeContext.layer)))
      const dir = writeFolder({
        "0001_users.sql": "CREATE TABLE users (id int primary key);",
        "0002_orders.sql": "CREATE TABLE orders (id int);"
      })
      const program = Effect.gen(function*() {
        const refused = yield* Effect.flip(withMigrator(dir, undefined, (m) => m.migrate()))
        expect(refused._tag).toBe("AdoptRequired")
        expect(refused.message).toContain("@effect/sql (1 migration in effect_sql_migrations)")
        expect(yield* exists("public.orders")).toBe(false)
        yield* withMigrator(dir, undefined, (m) => m.adopt)
        expect((yield* withMigrator(dir, undefined, (m) => m.migrate())).applied.map((a) => a.name)).toEqual([
          "0002_orders"
        ])
        expect((yield* withMigrator(dir, undefined, (m) => m.drift())).differences).toEqual([])
      })
      yield* program.pipe(Effect.provide(PgLive({ url: Redacted.make(db.url) })))
    }))
})

describe("a drizzle-migrated embedded database", () => {
  it.scoped("migrate says to adopt first; after adopt, drift ignores drizzle.__drizzle_migrations", () =>
    Effect.gen(function*() {
      const dataDir = yield* drizzleMigrated.embedded
      yield* adoptedThenDrift.pipe(Effect.provide(Layer.merge(PgliteLive({ dataDir }), ScratchFromTemplate)))
    }))
})

describe("dbkit migrate new follows the folder's numbering", () => {
  it.effect("001_ files get 003_, 0007_ files get 0008_, an empty folder gets 0001_", () =>
    Effect.gen(function*() {
      const env = (dir: string) => ({ DBKIT_MIGRATIONS_DIR: dir, DBKIT_DATA_DIR: "/nonexistent/never-opened" })
      const three = writeFolder({ "001_a.sql": "SELECT 1;", "002_b.sql": "SELECT 1;", "002_b.down.sql": "SELECT 1;" })
      const result = yield* Effect.promise(() => runCli(["migrate", "new", "add notes"], env(three)))
      expect(result.code).toBe(0)
      expect(fs.readdirSync(three).filter((f) => f.startsWith("003"))).toEqual([
        "003_add_notes.down.sql",
        "003_add_notes.sql"
      ])
      const four = writeFolder({ "0007_a.sql": "SELECT 1;" })
      expect((yield* Effect.promise(() => runCli(["migrate", "new", "x"], env(four)))).code).toBe(0)
      expect(fs.readdirSync(four)).toContain("0008_x.sql")
      const empty = tempDir()
      expect((yield* Effect.promise(() => runCli(["migrate", "new", "first"], env(empty)))).code).toBe(0)
      expect(fs.readdirSync(empty).sort()).toEqual(["0001_first.down.sql", "0001_first.sql"])
      // 999 is followed by 1000: the width grows, the order stays.
      const full = writeFolder({ "999_last.sql": "SELECT 1;" })
      expect((yield* Effect.promise(() => runCli(["migrate", "new", "next"], env(full)))).code).toBe(0)
      expect(fs.readdirSync(full)).toContain("1000_next.sql")
    }))
})

describe.skipIf(!server)("the CLI on the server", () => {
  it.scoped("migrate refuses a migration with COMMIT (naming file:line), plan flags it, a dry run passes an enum value used later", () =>
    Effect.gen(function*() {
      const db = yield* Effect.acquireRelease(
        Effect.promise(() => createScratchDatabase("dbkit_surprise_cli")),
        ({ name }) => Effect.promise(() => dropScratchDatabase(name))
      )
      const dir = writeFolder({ "001_a.sql": "CREATE TABLE cli_a (x int);\nCOMMIT;\nCREATE TABLE cli_b (x int);\n" })
      const env = { DATABASE_URL: db.url, DBKIT_MIGRATIONS_DIR: dir }
      const refused = yield* Effect.promise(() => runCli(["migrate"], env))
      expect(refused.code).toBe(exitFor("TransactionControlRefused"))
      expect(refused.code).not.toBe(0)
      expect(refused.stderr).toContain(`${path.join(dir, "001_a.sql")}:2`)
      const plan = yield* Effect.promise(() => runCli(["migrate", "plan"], env))
      expect(plan.stdout).toContain("warning: 001_a statement 2 [transaction-control]")
      const strict = yield* Effect.promise(() => runCli(["migrate", "plan", "--strict"], env))
      expect(strict.code).toBe(10)
      writeFolder({ "001_a.sql": "CREATE TYPE level AS ENUM ('low');\nCREATE TABLE cli_a (l level);\n" }, dir)
      expect((yield* Effect.promise(() => runCli(["migrate"], env))).code).toBe(0)
      writeFolder({
        "002_high.sql": "ALTER TYPE level ADD VALUE 'high';",
        "003_use.sql": "INSERT INTO cli_a VALUES ('high');"
      }, dir)
      const dry = yield* Effect.promise(() => runCli(["migrate", "--dry-run"], env))
      expect(dry.stderr).not.toContain("unsafe use")
      expect(dry.code).toBe(0)
      expect(dry.stdout).toContain("dry run: 2 migrations ran cleanly")
      expect(dry.stdout).toContain("003_use")
      const json = yield* Effect.promise(() => runCli(["migrate", "--dry-run", "--json"], env))
      expect(JSON.parse(json.stdout)).toMatchObject({ dryRun: true, replayed: ["003_use"], skipped: [] })
      expect((yield* Effect.promise(() => runCli(["migrate"], env))).code).toBe(0)
    }))
})
