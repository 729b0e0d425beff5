import * as SqlClient from "@effect/sql/SqlClient"
import { describe, expect, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as fs from "node:fs"
import * as path from "node:path"
import pg from "pg"
import { Database } from "../src/Database.js"
import { lockKey } from "../src/migrator/history.js"
import type { MigrateEvent } from "../src/migrator/Migrator.js"
import { fromCode } from "../src/migrator/source.js"
import { checksum } from "../src/migrator/sql.js"
import { backends, ScratchDatabase, ServerLive } from "./support/databases.js"
import { freshSchema, withMigrator, writeFolder } from "./support/migrations.js"
import { NonInteractiveGuard } from "./support/terminal.js"

const referenceMigrations = path.resolve(import.meta.dirname, "../migrations")

const count = (table: string) =>
  Effect.flatMap(
    SqlClient.SqlClient,
    (sql) => Effect.map(sql.unsafe<{ n: number }>(`SELECT count(*)::int AS n FROM ${table}`), (rows) => rows[0]!.n)
  )

const exists = (qualified: string) =>
  Effect.flatMap(
    SqlClient.SqlClient,
    (sql) => Effect.map(sql<{ e: boolean }>`SELECT to_regclass(${qualified}) IS NOT NULL AS e`, (rows) => rows[0]!.e)
  )

for (const backend of await backends()) {
  layer(backend.layer, { excludeTestServices: true })(`Migrator on the ${backend.name} database`, (it) => {
    it.effect("applies the reference drizzle migrations once; a second run applies nothing", () =>
      Effect.gen(function*() {
        const first = yield* withMigrator(referenceMigrations, undefined, (m) => m.migrate())
        expect(first.applied.map((a) => a.name)).toEqual([
          "0000_app_role",
          "0001_reference_schema",
          "0002_rls_force_and_grants",
          "0003_customer_contact",
          "0004_audit_triggers",
          "0005_tenant_safe_keys",
          "0006_tenant_safe_keys_validate",
          "0007_tenant_transaction_stamp"
        ])
        const second = yield* withMigrator(referenceMigrations, undefined, (m) => m.migrate())
        expect(second.applied).toEqual([])
        expect(second.upToDate).toBe(8)
        const sql = yield* SqlClient.SqlClient
        const history = yield* sql<{ name: string; checksum: string; status: string }>`
          SELECT name, checksum, status FROM dbkit.migrations ORDER BY id`
        const file = fs.readFileSync(path.join(referenceMigrations, "0001_reference_schema.sql"), "utf8")
        expect(history[1]).toEqual({ name: "0001_reference_schema", checksum: checksum(file), status: "applied" })
        expect(yield* exists("public.invoice_lines")).toBe(true)
        // 0004: insert, update and delete audit triggers on each of the seven tenant tables
        expect(yield* count("pg_trigger WHERE tgname IN ('audit_insert', 'audit_update', 'audit_delete')")).toBe(21)
        const policies = yield* sql<
          { n: number }
        >`SELECT count(*)::int AS n FROM pg_policies WHERE schemaname = 'public'`
        expect(policies[0]!.n).toBeGreaterThan(5)
        const status = yield* withMigrator(referenceMigrations, undefined, (m) => m.status)
        expect(status.pending).toEqual([])
        expect(status.applied).toHaveLength(8)
      }))

    it.effect("a failing migration rolls back completely, the ones before it stay applied, and the error names the statement", () =>
      Effect.gen(function*() {
        const schema = freshSchema()
        const dir = writeFolder({
          "001_first.sql": "CREATE TABLE first (x int);",
          "002_second.sql":
            "CREATE TABLE second (x int);\nINSERT INTO second VALUES (1);\nINSERT INTO nowhere VALUES (1);\n"
        })
        const error = yield* Effect.flip(withMigrator(dir, schema, (m) => m.migrate()))
        expect(error._tag).toBe("MigrationFailed")
        if (error._tag !== "MigrationFailed") return
        expect(error.migration).toBe("002_second")
        expect(error.file).toBe(path.join(dir, "002_second.sql"))
        expect(error.statement).toBe(3)
        expect(error.statements).toBe(3)
        expect(error.code).toBe("42P01")
        expect(error.serverMessage).toContain("nowhere")
        expect(error.message).toContain("statement 3 of 3")
        expect(yield* exists(`${schema}.first`)).toBe(true)
        expect(yield* exists(`${schema}.second`)).toBe(false)
        const status = yield* withMigrator(dir, schema, (m) => m.status)
        expect(status.applied.map((a) => a.name)).toEqual(["001_first"])
        expect(status.pending).toEqual(["002_second"])
      }))

    it.effect("an applied migration whose file changed is ChecksumMismatch and nothing runs; line endings alone are not a change", () =>
      Effect.gen(function*() {
        const schema = freshSchema()
        const dir = writeFolder({ "001_t.sql": "CREATE TABLE t (x int);\nCREATE TABLE u (x int);\n" })
        yield* withMigrator(dir, schema, (m) => m.migrate())
        writeFolder({ "001_t.sql": "CREATE TABLE t (x int);\r\nCREATE TABLE u (x int);\r\n" }, dir)
        writeFolder({ "002_v.sql": "CREATE TABLE v (x int);" }, dir)
        const crlf = yield* withMigrator(dir, schema, (m) => m.status)
        expect(crlf.changed).toEqual([])
        writeFolder({ "001_t.sql": "CREATE TABLE t (x bigint);\nCREATE TABLE u (x int);\n" }, dir)
        const error = yield* Effect.flip(withMigrator(dir, schema, (m) => m.migrate()))
        expect(error._tag).toBe("ChecksumMismatch")
        expect(error.message).toContain("001_t")
        expect(yield* exists(`${schema}.v`)).toBe(false)
        const status = yield* withMigrator(dir, schema, (m) => m.status)
        expect(status.changed.map((c) => c.name)).toEqual(["001_t"])
      }))

    it.effect("a pending migration older than the newest applied is out of order; allowing it applies it", () =>
      Effect.gen(function*() {
        const schema = freshSchema()
        const dir = writeFolder({ "001_a.sql": "CREATE TABLE a (x int);", "003_c.sql": "CREATE TABLE c (x int);" })
        yield* withMigrator(dir, schema, (m) => m.migrate())
        writeFolder({ "002_b.sql": "CREATE TABLE b (x int);" }, dir)
        const status = yield* withMigrator(dir, schema, (m) => m.status)
        expect(status.pending).toEqual(["002_b"])
        expect(status.outOfOrder).toEqual(["002_b"])
        const error = yield* Effect.flip(withMigrator(dir, schema, (m) => m.migrate()))
        expect(error._tag).toBe("OutOfOrder")
        expect(yield* exists(`${schema}.b`)).toBe(false)
        const result = yield* withMigrator(dir, schema, (m) => m.migrate({ allowOutOfOrder: true }))
        expect(result.applied.map((a) => a.name)).toEqual(["002_b"])
      }))

    it.effect("--to stops after the named migration; an unknown name changes nothing", () =>
      Effect.gen(function*() {
        const schema = freshSchema()
        const dir = writeFolder({
          "001_a.sql": "CREATE TABLE a (x int);",
          "002_b.sql": "CREATE TABLE b (x int);",
          "003_c.sql": "CREATE TABLE c (x int);"
        })
        const unknown = yield* Effect.flip(withMigrator(dir, schema, (m) => m.migrate({ to: "002" })))
        expect(unknown._tag).toBe("UnknownMigration")
        expect(unknown.message).toContain("did you mean 002_b")
        expect(yield* exists(`${schema}.a`)).toBe(false)
        const result = yield* withMigrator(dir, schema, (m) => m.migrate({ to: "002_b" }))
        expect(result.applied.map((a) => a.name)).toEqual(["001_a", "002_b"])
        expect(yield* exists(`${schema}.c`)).toBe(false)
      }))

    it.effect("a dry run tries the pending migrations and leaves nothing behind; its first error names statement and position", () =>
      Effect.gen(function*() {
        const schema = freshSchema()
        const dir = writeFolder({ "001_a.sql": "CREATE TABLE a (x int);", "002_b.sql": "CREATE TABLE b (x int);" })
        const ok = yield* withMigrator(dir, schema, (m) => m.migrate({ dryRun: true }))
        expect(ok.dryRun).toBe(true)
        expect(ok.applied.map((a) => a.name)).toEqual(["001_a", "002_b"])
        expect(yield* exists(`${schema}.a`)).toBe(false)
        expect((yield* withMigrator(dir, schema, (m) => m.status)).applied).toEqual([])
        writeFolder({ "003_c.sql": "CREATE TABLE c (x int);\nSELEC 1;" }, dir)
        const error = yield* Effect.flip(withMigrator(dir, schema, (m) => m.migrate({ dryRun: true })))
        expect(error._tag).toBe("MigrationFailed")
        if (error._tag !== "MigrationFailed") return
        expect(error.migration).toBe("003_c")
        expect(error.statement).toBe(2)
        expect(error.position).toBe(1)
        expect(error.code).toBe("42601")
        expect(yield* exists(`${schema}.a`)).toBe(false)
      }))

    it.effect("CREATE INDEX CONCURRENTLY is detected and run outside a transaction", () =>
      Effect.gen(function*() {
        const schema = freshSchema()
        const dir = writeFolder({
          "001_t.sql": "CREATE TABLE t (x int);",
          "002_idx.sql": "-- build without blocking writes\nCREATE INDEX CONCURRENTLY t_x_idx ON t (x);"
        })
        const migrations = yield* withMigrator(dir, schema, (m) => m.migrations)
        expect(migrations.map((m) => m.transactional)).toEqual([true, false])
        const result = yield* withMigrator(dir, schema, (m) => m.migrate())
        expect(result.applied.map((a) => a.name)).toEqual(["001_t", "002_idx"])
        expect(yield* exists(`${schema}.t_x_idx`)).toBe(true)
      }))

    it.effect("a non-transactional migration that fails halfway is recorded as failed at its statement and blocks later runs", () =>
      Effect.gen(function*() {
        const schema = freshSchema()
        const dir = writeFolder({
          "001_half.sql": "-- dbkit:no-transaction\nCREATE TABLE half (x int);\nINSERT INTO missing VALUES (1);\n",
          "002_next.sql": "CREATE TABLE next (x int);"
        })
        const error = yield* Effect.flip(withMigrator(dir, schema, (m) => m.migrate()))
        expect(error._tag).toBe("MigrationFailed")
        if (error._tag === "MigrationFailed") {
          expect(error.transactional).toBe(false)
          expect(error.statement).toBe(2)
          expect(error.message).toContain("dbkit migrate repair")
        }
        expect(yield* exists(`${schema}.half`)).toBe(true) // what ran, ran: that is why it blocks
        const status = yield* withMigrator(dir, schema, (m) => m.status)
        expect(status.failed).toEqual([
          { name: "001_half", status: "failed", statement: 2, error: expect.stringContaining("missing") }
        ])
        const blocked = yield* Effect.flip(withMigrator(dir, schema, (m) => m.migrate()))
        expect(blocked._tag).toBe("MigrationBlocked")
        expect(blocked.message).toContain("001_half")
        expect(yield* exists(`${schema}.next`)).toBe(false)
      }))

    it.effect("code migrations run inside their migration's transaction", () =>
      Effect.gen(function*() {
        const schema = freshSchema()
        const sql = yield* SqlClient.SqlClient
        const source = fromCode([
          {
            name: "c1_table",
            up: sql`CREATE TABLE coded (x int)`.pipe(Effect.zipRight(sql`INSERT INTO coded VALUES (1)`))
          },
          { name: "c2_fails", up: sql`INSERT INTO coded VALUES (2)`.pipe(Effect.zipRight(Effect.fail("no more"))) }
        ])
        const error = yield* Effect.flip(withMigrator(source, schema, (m) => m.migrate()))
        expect(error._tag).toBe("MigrationFailed")
        expect(error.message).toContain("no more")
        expect(yield* count(`${schema}.coded`)).toBe(1)
      }))

    it.effect("plain files are ordered by number, not by text", () =>
      Effect.gen(function*() {
        const schema = freshSchema()
        const dir = writeFolder({
          "9_base.sql": "CREATE TABLE base (x int);",
          "10_uses_base.sql": "ALTER TABLE base ADD COLUMN y int;",
          "10_uses_base.down.sql": "ALTER TABLE base DROP COLUMN y;"
        })
        const result = yield* withMigrator(dir, schema, (m) => m.migrate())
        expect(result.applied.map((a) => a.name)).toEqual(["9_base", "10_uses_base"])
      }))

    it.effect("rollback runs down files newest first, in transactions, and removes them from history", () =>
      Effect.gen(function*() {
        const schema = freshSchema()
        const dir = writeFolder({
          "001_a.sql": "CREATE TABLE a (x int);",
          "001_a.down.sql": "DROP TABLE a;",
          "002_b.sql": "CREATE TABLE b (x int);",
          "002_b.down.sql": "DROP TABLE b;",
          "003_c.sql": "CREATE TABLE c (x int);",
          "003_c.down.sql": "DROP TABLE c;"
        })
        yield* withMigrator(dir, schema, (m) => m.migrate())
        const one = yield* withMigrator(dir, schema, (m) => m.rollback({ yes: true })).pipe(
          Effect.provide(NonInteractiveGuard())
        )
        expect(one.rolledBack).toEqual(["003_c"])
        expect(yield* exists(`${schema}.c`)).toBe(false)
        const toA = yield* withMigrator(dir, schema, (m) => m.rollback({ to: "001_a", yes: true })).pipe(
          Effect.provide(NonInteractiveGuard())
        )
        expect(toA.rolledBack).toEqual(["002_b"])
        expect(yield* exists(`${schema}.a`)).toBe(true)
        const status = yield* withMigrator(dir, schema, (m) => m.status)
        expect(status.applied.map((a) => a.name)).toEqual(["001_a"])
        expect(status.pending).toEqual(["002_b", "003_c"])
      }))

    it.effect("rollback without confirmation, or with a missing down file, changes nothing", () =>
      Effect.gen(function*() {
        const schema = freshSchema()
        const dir = writeFolder({
          "001_a.sql": "CREATE TABLE a (x int);",
          "002_b.sql": "CREATE TABLE b (x int);",
          "002_b.down.sql": "DROP TABLE b;"
        })
        yield* withMigrator(dir, schema, (m) => m.migrate())
        const refused = yield* Effect.flip(
          withMigrator(dir, schema, (m) => m.rollback()).pipe(Effect.provide(NonInteractiveGuard()))
        )
        expect(refused._tag).toBe("ConfirmationRequired")
        const production = yield* Effect.flip(
          withMigrator(dir, schema, (m) => m.rollback({ yes: true })).pipe(
            Effect.provide(NonInteractiveGuard("production"))
          )
        )
        expect(production._tag).toBe("ProductionRefused")
        const missing = yield* Effect.flip(
          withMigrator(dir, schema, (m) => m.rollback({ steps: 2, yes: true })).pipe(
            Effect.provide(NonInteractiveGuard())
          )
        )
        expect(missing._tag).toBe("MissingDownMigration")
        expect(missing.message).toContain("001_a")
        expect(yield* exists(`${schema}.b`)).toBe(true) // 002_b had a down file but nothing ran
        expect((yield* withMigrator(dir, schema, (m) => m.status)).applied).toHaveLength(2)
      }))

    it.effect("a failing down migration rolls back and leaves the migration applied", () =>
      Effect.gen(function*() {
        const schema = freshSchema()
        const dir = writeFolder({
          "001_a.sql": "CREATE TABLE a (x int);",
          "001_a.down.sql": "DROP TABLE a;\nDROP TABLE not_there;"
        })
        yield* withMigrator(dir, schema, (m) => m.migrate())
        const error = yield* Effect.flip(
          withMigrator(dir, schema, (m) => m.rollback({ yes: true })).pipe(Effect.provide(NonInteractiveGuard()))
        )
        expect(error._tag).toBe("MigrationFailed")
        if (error._tag === "MigrationFailed") expect(error.file).toBe(path.join(dir, "001_a.down.sql"))
        expect(yield* exists(`${schema}.a`)).toBe(true)
        expect((yield* withMigrator(dir, schema, (m) => m.status)).applied).toHaveLength(1)
      }))

    it.effect("a down file that runs outside a transaction and fails halfway is recorded as failed and blocks runs", () =>
      Effect.gen(function*() {
        const schema = freshSchema()
        const dir = writeFolder({
          "001_t.sql": "CREATE TABLE t (x int);\nCREATE INDEX t_x ON t (x);",
          "001_t.down.sql": "-- dbkit:no-transaction\nDROP INDEX CONCURRENTLY t_x;\nDROP TABLE not_there;"
        })
        yield* withMigrator(dir, schema, (m) => m.migrate())
        const error = yield* Effect.flip(
          withMigrator(dir, schema, (m) => m.rollback({ yes: true })).pipe(Effect.provide(NonInteractiveGuard()))
        )
        expect(error._tag).toBe("MigrationFailed")
        if (error._tag === "MigrationFailed") {
          expect(error.transactional).toBe(false)
          expect(error.statement).toBe(2)
          expect(error.file).toBe(path.join(dir, "001_t.down.sql"))
        }
        expect(yield* exists(`${schema}.t_x`)).toBe(false) // what ran, ran
        const status = yield* withMigrator(dir, schema, (m) => m.status)
        expect(status.failed).toEqual([{
          name: "001_t",
          status: "failed",
          statement: 2,
          error: expect.stringContaining("not_there")
        }])
        expect((yield* Effect.flip(withMigrator(dir, schema, (m) => m.migrate())))._tag).toBe("MigrationBlocked")
      }))

    it.effect("baseline records an existing schema's migrations as applied without running them", () =>
      Effect.gen(function*() {
        const schema = freshSchema()
        const sql = yield* SqlClient.SqlClient
        yield* sql.unsafe(`CREATE SCHEMA ${schema}; CREATE TABLE ${schema}.a (x int); CREATE TABLE ${schema}.b (x int)`)
        const dir = writeFolder({
          "001_a.sql": "CREATE TABLE a (x int);",
          "002_b.sql": "CREATE TABLE b (x int);",
          "003_c.sql": "CREATE TABLE c (x int);"
        })
        const result = yield* withMigrator(dir, schema, (m) => m.baseline({ to: "002_b" }))
        expect(result.marked).toEqual(["001_a", "002_b"])
        const applied = yield* withMigrator(dir, schema, (m) => m.migrate())
        expect(applied.applied.map((a) => a.name)).toEqual(["003_c"])
      }))

    it.effect("repair accepts a changed checksum and clears a failed record so it runs again", () =>
      Effect.gen(function*() {
        const schema = freshSchema()
        const dir = writeFolder({
          "001_a.sql": "CREATE TABLE a (x int);",
          "002_half.sql": "-- dbkit:no-transaction\nCREATE TABLE half (x int);\nINSERT INTO missing VALUES (1);"
        })
        yield* Effect.flip(withMigrator(dir, schema, (m) => m.migrate()))
        writeFolder({
          "001_a.sql": "CREATE TABLE a (x int); -- reviewed",
          "002_half.sql": "-- dbkit:no-transaction\nCREATE TABLE IF NOT EXISTS half (x int);"
        }, dir)
        const repaired = yield* withMigrator(dir, schema, (m) => m.repair())
        expect(repaired).toEqual({ checksumsAccepted: ["001_a"], cleared: ["002_half"], markedApplied: [] })
        const rerun = yield* withMigrator(dir, schema, (m) => m.migrate())
        expect(rerun.applied.map((a) => a.name)).toEqual(["002_half"])
        const status = yield* withMigrator(dir, schema, (m) => m.status)
        expect(status.changed).toEqual([])
        expect(status.failed).toEqual([])
      }))

    it.effect("plan lists the pending SQL and flags risky statements", () =>
      Effect.gen(function*() {
        const schema = freshSchema()
        const dir = writeFolder({ "001_t.sql": "CREATE TABLE t (x int, y int);" })
        yield* withMigrator(dir, schema, (m) => m.migrate())
        writeFolder({
          "002_risky.sql": "ALTER TABLE t DROP COLUMN y;\nCREATE INDEX t_x ON t (x);",
          "003_new.sql": "CREATE TABLE fresh (x int);\nCREATE INDEX fresh_x ON fresh (x);"
        }, dir)
        const plan = yield* withMigrator(dir, schema, (m) => m.plan())
        expect(plan.pending.map((p) => p.name)).toEqual(["002_risky", "003_new"])
        expect(plan.pending[0]!.statements).toEqual(
          ["ALTER TABLE t DROP COLUMN y;", "CREATE INDEX t_x ON t (x);"].map((s) => s.replace(/;$/, "")).map((s) =>
            expect.stringContaining(s)
          )
        )
        expect(plan.findings.map((f) => [f.migration, f.statement, f.rule])).toEqual([
          ["002_risky", 1, "drop-column"],
          ["002_risky", 2, "create-index-without-concurrently"]
        ])
        expect((yield* withMigrator(dir, schema, (m) => m.status)).pending).toHaveLength(2) // plan changed nothing
      }))

    it.effect("drift finds nothing after a clean migrate, then names each manual change", () =>
      Effect.gen(function*() {
        const schema = freshSchema()
        const dir = writeFolder({
          "001_t.sql": "CREATE TABLE t (id int PRIMARY KEY, name text NOT NULL);\nCREATE INDEX t_name ON t (name);"
        })
        yield* withMigrator(dir, schema, (m) => m.migrate())
        const clean = yield* withMigrator(dir, schema, (m) => m.drift())
        expect(clean.differences).toEqual([])
        const sql = yield* SqlClient.SqlClient
        yield* sql.unsafe(`ALTER TABLE ${schema}.t ADD COLUMN extra int; DROP INDEX ${schema}.t_name`)
        const drifted = yield* withMigrator(dir, schema, (m) => m.drift())
        const found = drifted.differences.map((d) => `${d.kind} ${d.object}`)
        expect(found).toContain(`extra column ${schema}.t.extra`)
        expect(found).toContain(`missing index ${schema}.t_name`)
      }))

    it.effect("a badly named file or a duplicate number is a MigrationSourceError before anything runs", () =>
      Effect.gen(function*() {
        const schema = freshSchema()
        const badName = yield* Effect.flip(
          withMigrator(writeFolder({ "create_users.sql": "SELECT 1" }), schema, (m) => m.migrate())
        )
        expect(badName._tag).toBe("MigrationSourceError")
        const duplicate = yield* Effect.flip(
          withMigrator(writeFolder({ "1_a.sql": "SELECT 1", "01_b.sql": "SELECT 1" }), schema, (m) => m.migrate())
        )
        expect(duplicate.message).toContain("same number")
        const database = yield* Database
        expect(database.kind).toBe(backend.name)
      }))
  })
}

const serverOnly = (await backends()).some((b) => b.name === "server")

describe.skipIf(!serverOnly)("Migrator locking on the server", () => {
  layer(ServerLive, { excludeTestServices: true })("with a scratch database", (it) => {
    it.effect("two migrators racing apply each migration exactly once; the second waits, then finds nothing to do", () =>
      Effect.gen(function*() {
        const schema = freshSchema()
        const dir = writeFolder({
          "001_slow.sql": "CREATE TABLE slow (x int);\nSELECT pg_sleep(0.5);",
          "002_more.sql": "CREATE TABLE more (x int);"
        })
        const events: Array<MigrateEvent> = []
        const run = withMigrator(
          dir,
          schema,
          (m) => m.migrate({ onEvent: (e) => Effect.sync(() => void events.push(e)) })
        )
        const [a, b] = yield* Effect.all([run, run], { concurrency: 2 })
        expect([a.applied.length, b.applied.length].sort()).toEqual([0, 2])
        expect(events.some((e) => e._tag === "WaitingForLock")).toBe(true)
        const status = yield* withMigrator(dir, schema, (m) => m.status)
        expect(status.applied).toHaveLength(2)
      }))

    it.effect("migrators racing on a schema that does not exist yet all succeed, applying each migration once", () =>
      Effect.gen(function*() {
        const dir = writeFolder({ "001_a.sql": "CREATE TABLE a (x int);", "002_b.sql": "INSERT INTO a VALUES (1);" })
        // The window (creating the schema) is short: race several fresh schemas, five racers each.
        for (let round = 0; round < 8; round++) {
          const schema = freshSchema()
          const results = yield* Effect.all(
            Array.from({ length: 5 }, () => withMigrator(dir, schema, (m) => m.migrate())),
            { concurrency: "unbounded" }
          )
          expect(results.map((r) => r.applied.length).sort()).toEqual([0, 0, 0, 0, 2])
          expect(yield* count(`${schema}.a`)).toBe(1)
        }
      }))

    it.effect("a migrator that cannot get the lock in time fails naming the holder", () =>
      Effect.gen(function*() {
        const schema = freshSchema()
        const scratch = yield* ScratchDatabase
        const client = new pg.Client({ connectionString: Redacted.value(scratch.url), application_name: "deploy-7" })
        yield* Effect.promise(() => client.connect())
        const key = lockKey({ schema, table: "dbkit_migrations" })
        const pid = (yield* Effect.promise(() =>
          client.query("SELECT pg_backend_pid() AS pid, pg_advisory_lock($1::bigint)", [key])
        )).rows[0].pid
        const dir = writeFolder({ "001_a.sql": "CREATE TABLE a (x int);" })
        const error = yield* Effect.flip(withMigrator(dir, schema, (m) =>
          m.migrate(), { lockWait: "1 second" })).pipe(
            Effect.ensuring(Effect.promise(() => client.end()))
          )
        expect(error._tag).toBe("MigrationLockTimeout")
        if (error._tag !== "MigrationLockTimeout") return
        expect(error.holder?.pid).toBe(pid)
        expect(error.holder?.applicationName).toBe("deploy-7")
        expect(error.message).toContain(`process ${pid} (deploy-7`)
        expect(yield* exists(`${schema}.a`)).toBe(false)
      }))

    it.effect("a lock timeout inside a migration is retried with backoff until the table is free", () =>
      Effect.gen(function*() {
        const schema = freshSchema()
        const sql = yield* SqlClient.SqlClient
        yield* sql.unsafe(`CREATE SCHEMA ${schema}; CREATE TABLE ${schema}.busy (x int)`)
        const scratch = yield* ScratchDatabase
        const client = new pg.Client({ connectionString: Redacted.value(scratch.url) })
        yield* Effect.promise(() => client.connect())
        yield* Effect.promise(() => client.query(`BEGIN; LOCK TABLE ${schema}.busy IN ACCESS EXCLUSIVE MODE`))
        const release = Effect.promise(() => new Promise((r) => setTimeout(r, 1200))).pipe(
          Effect.zipRight(Effect.promise(() => client.query("COMMIT"))),
          Effect.ensuring(Effect.promise(() => client.end()))
        )
        const dir = writeFolder({ "001_alter.sql": "ALTER TABLE busy ADD COLUMN y int;" })
        const events: Array<MigrateEvent> = []
        const [result] = yield* Effect.all([
          withMigrator(dir, schema, (m) => m.migrate({ onEvent: (e) => Effect.sync(() => void events.push(e)) }), {
            lockTimeout: "200 millis",
            lockRetries: 8
          }),
          release
        ], { concurrency: 2 })
        expect(result.applied.map((a) => a.name)).toEqual(["001_alter"])
        expect(events.filter((e) => e._tag === "Retrying").length).toBeGreaterThan(0)
      }))
  })
})

describe.skipIf(!serverOnly)("Migrator interrupted on the server", () => {
  layer(ServerLive, { excludeTestServices: true })("with a scratch database", (it) => {
    it.effect("a migrate interrupted mid-migration rolls back, releases the lock, and the next run applies it", () =>
      Effect.gen(function*() {
        const schema = freshSchema()
        const dir = writeFolder({ "001_slow.sql": "CREATE TABLE slow (x int);\nSELECT pg_sleep(2);" })
        const interrupted = yield* withMigrator(dir, schema, (m) => m.migrate()).pipe(
          Effect.timeout("500 millis"),
          Effect.either
        )
        expect(interrupted._tag).toBe("Left")
        expect(yield* exists(`${schema}.slow`)).toBe(false)
        // The lock is free and no session is left idle in an aborted transaction.
        const sql = yield* SqlClient.SqlClient
        const stuck = yield* sql<{ n: number }>`
          SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND state LIKE 'idle in transaction%'`
        expect(stuck[0]!.n).toBe(0)
        const result = yield* withMigrator(dir, schema, (m) => m.migrate(), { lockWait: "3 seconds" })
        expect(result.applied.map((a) => a.name)).toEqual(["001_slow"])
      }))
  })
})
