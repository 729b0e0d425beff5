// Restore and reset as they meet other work on the server: an application's open transaction,
// a second restore or reset of the same database, a restore lock held too long.
import * as NodeContext from "@effect/platform-node/NodeContext"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as fs from "node:fs"
import pg from "pg"
import { layer as backupLayer } from "../src/backup/Backup.js"
import { stagingPrefix, targetLockKey } from "../src/backup/leftovers.js"
import { layer as restoreLayer, Restore } from "../src/backup/Restore.js"
import * as Config from "../src/Config.js"
import { PgLive } from "../src/Database.js"
import { runCli } from "./support/cli.js"
import {
  admin,
  adminUrl,
  createScratchDatabase,
  dropScratchDatabase,
  queryAt,
  serverAvailable,
  tempDir,
  uniqueName
} from "./support/databases.js"
import { NonInteractiveGuard } from "./support/terminal.js"

const server = await serverAvailable()

/** A scratch database with `ledger` (n rows), no connection of this process left open to it. */
const accountsDatabase = (rows: number) =>
  Effect.acquireRelease(
    Effect.promise(async () => {
      const db = await createScratchDatabase("dbkit_conc")
      await queryAt(
        db.url,
        `CREATE TABLE ledger (id int PRIMARY KEY, balance int NOT NULL, note text);
        INSERT INTO ledger SELECT g, 100, repeat(md5(g::text), 4) FROM generate_series(1, ${rows}) g`
      )
      return db
    }),
    (db) => Effect.promise(() => dropScratchDatabase(db.name))
  )

/** Staging and replaced copies of database `name` (their names keep its first 26 characters). */
const stagingOf = (name: string) =>
  Effect.promise(() =>
    admin<{ datname: string }>(`SELECT datname FROM pg_database WHERE datname LIKE $1 OR datname LIKE $2`, [
      `${stagingPrefix(name)}\\_restore\\_%`,
      `${stagingPrefix(name)}\\_previous\\_%`
    ])
  ).pipe(Effect.map((rows) => rows.map((r) => r.datname)))

const balanceSum = (url: string) =>
  Effect.promise(() => queryAt<{ n: number }>(url, "SELECT sum(balance)::int AS n FROM ledger")).pipe(
    Effect.map((rows) => rows[0]!.n)
  )

/** `dbkit backup --out DIR --json` of `url`; the backup's file. */
const backupWithCli = (url: string, out: string) =>
  Effect.promise(() => runCli(["backup", "--out", out, "--json"], { DATABASE_URL: url })).pipe(
    Effect.map((result) => {
      expect(result.code, result.stderr).toBe(0)
      return JSON.parse(result.stdout).file as string
    })
  )

describe.skipIf(!server)("restore and reset beside other work on the server", () => {
  it.scopedLive("an application's session named 'dbkit' in an open transaction survives a restore not told to end it: refused (exit 3), no safety backup written", () =>
    Effect.gen(function*() {
      const db = yield* accountsDatabase(20)
      const out = tempDir("dbkit-conc-")
      const file = yield* backupWithCli(db.url, out)
      const before = fs.readdirSync(out).sort()
      // An application built on dbkit: the default application_name, a transaction in flight.
      const app = new pg.Client({ connectionString: db.url, application_name: "dbkit" })
      yield* Effect.acquireRelease(
        Effect.promise(() => app.connect()),
        () => Effect.promise(() => app.end().catch(() => undefined))
      )
      app.on("error", () => {})
      const [{ pid }] = (yield* Effect.promise(() => app.query("SELECT pg_backend_pid() AS pid"))).rows
      yield* Effect.promise(() => app.query("BEGIN; UPDATE ledger SET balance = balance - 30 WHERE id = 1"))
      const refused = yield* Effect.promise(() =>
        runCli(["restore", file, "--yes"], { DATABASE_URL: db.url, DBKIT_BACKUP_DIR: out })
      )
      expect(refused.code, refused.stderr).toBe(3)
      expect(refused.stderr).toContain(`pid ${pid} (dbkit`)
      expect(refused.stderr).toContain("no safety backup was written")
      expect(fs.readdirSync(out).sort()).toEqual(before) // no safety backup, no partial file
      // The application's transaction is still there and commits.
      yield* Effect.promise(() => app.query("COMMIT"))
      expect(yield* balanceSum(db.url)).toBe(20 * 100 - 30)
      expect(yield* stagingOf(db.name)).toEqual([])
    }))

  it.scopedLive("two restores of one database at once: the second waits for the first, both succeed, the database is whole, no staging database is left", () =>
    Effect.gen(function*() {
      const db = yield* accountsDatabase(60_000)
      const out = tempDir("dbkit-conc-")
      const file = yield* backupWithCli(db.url, out)
      yield* Effect.promise(() => queryAt(db.url, "UPDATE ledger SET balance = 0"))
      const restore = () =>
        runCli(["restore", file, "--yes", "--json"], { DATABASE_URL: db.url, DBKIT_BACKUP_DIR: out }, {
          timeoutMs: 120_000
        })
      const first = restore()
      yield* Effect.sleep("300 millis")
      const [a, b] = yield* Effect.promise(() => Promise.all([first, restore()]))
      expect(a.code, a.stderr).toBe(0)
      expect(b.code, b.stderr).toBe(0)
      // One of them waited for the other's lock and said so.
      expect(a.stderr + b.stderr).toContain(`waiting for another restore or reset of ${db.name}`)
      expect(JSON.parse(a.stdout).rows).toBeGreaterThanOrEqual(60_000)
      expect(JSON.parse(b.stdout).rows).toBeGreaterThanOrEqual(60_000)
      expect(yield* balanceSum(db.url)).toBe(60_000 * 100)
      expect(yield* stagingOf(db.name)).toEqual([])
    }))

  it.scopedLive("a restore that cannot get the lock in time fails naming the other restore, and changes nothing", () =>
    Effect.gen(function*() {
      const db = yield* accountsDatabase(10)
      const out = tempDir("dbkit-conc-")
      const file = yield* backupWithCli(db.url, out)
      // Another restore of this database holds its lock (on the maintenance database).
      const other = new pg.Client({ connectionString: adminUrl, application_name: "dbkit-restore" })
      yield* Effect.acquireRelease(
        Effect.promise(() => other.connect()),
        () => Effect.promise(() => other.end().catch(() => undefined))
      )
      const [{ pid }] = (yield* Effect.promise(() =>
        other.query("SELECT pg_backend_pid() AS pid, pg_advisory_lock($1::bigint)", [targetLockKey(db.name)])
      )).rows
      const services = restoreLayer.pipe(
        Layer.provideMerge(backupLayer),
        Layer.provideMerge(PgLive({ url: Redacted.make(db.url), poolSize: 2 })),
        Layer.provide(Layer.merge(Config.layerFrom({ environment: "development", backupDir: out }), NodeContext.layer)),
        Layer.orDie
      )
      const error = yield* Effect.flip(
        Effect.flatMap(Restore, (r) =>
          r.over(file, { yes: true, lockWait: "1 second" })).pipe(
            Effect.provide(services),
            Effect.provide(NonInteractiveGuard())
          )
      )
      expect(error._tag).toBe("RestoreLockTimeout")
      expect(error.message).toContain(`another restore of ${db.name} is running (pid ${pid}, dbkit-restore`)
      expect(yield* stagingOf(db.name)).toEqual([])
      expect(yield* balanceSum(db.url)).toBe(1000)
    }))

  it.scopedLive("two restore --into of one new name at once: one restores, the other is refused (exit 2) and leaves the winner's database alone", () =>
    Effect.gen(function*() {
      const db = yield* accountsDatabase(2000)
      const out = tempDir("dbkit-conc-into-")
      const file = yield* backupWithCli(db.url, out)
      const name = uniqueName("dbkit_conc_into")
      yield* Effect.addFinalizer(() => Effect.promise(() => admin(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`)))
      const into = () =>
        runCli(["restore", file, "--into", name, "--json"], { DATABASE_URL: db.url }, { timeoutMs: 120_000 })
      const results = yield* Effect.promise(() => Promise.all([into(), into()]))
      const codes = results.map((r) => r.code).sort()
      expect(codes, results.map((r) => r.stderr).join("\n")).toEqual([0, 2])
      expect(results.find((r) => r.code === 2)!.stderr).toContain(`database ${name} already exists`)
      expect(yield* balanceSum(db.url.replace(/\/[^/]*$/, `/${name}`))).toBe(200_000)
    }))

  it.scopedLive("two resets of one database at once both succeed, one after the other (no deadlock)", () =>
    Effect.gen(function*() {
      const db = yield* accountsDatabase(1)
      const env = { DATABASE_URL: db.url, DB_RESET_CONFIRM: "1" }
      const migrated = yield* Effect.promise(() => runCli(["migrate"], env))
      expect(migrated.code, migrated.stderr).toBe(0)
      const reset = () => runCli(["reset", "--json"], env, { timeoutMs: 120_000 })
      const [a, b] = yield* Effect.promise(() => Promise.all([reset(), reset()]))
      expect(a.code, a.stderr).toBe(0)
      expect(b.code, b.stderr).toBe(0)
      const n = (yield* Effect.promise(() =>
        queryAt<{ n: number }>(db.url, "SELECT count(*)::int AS n FROM dbkit.migrations")
      ))[0]!.n
      expect(n).toBeGreaterThan(0)
      expect(
        yield* Effect.promise(() =>
          queryAt(db.url, "SELECT to_regclass('public.ledger') AS t")
        )
      ).toEqual([{ t: null }])
    }))
})
