import * as SqlClient from "@effect/sql/SqlClient"
import { describe, expect, it, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as fs from "node:fs"
import * as net from "node:net"
import * as path from "node:path"
import { Database, EMBEDDED_PG_MAJOR, PgliteLive, PgLive } from "../src/Database.js"
import { lockPath } from "../src/embedded/EmbeddedLock.js"
import {
  EmbeddedLive,
  pgliteTemplate,
  ScratchDatabase,
  serverAvailable,
  ServerLive,
  tempDir,
  urlFor
} from "./support/databases.js"

const server = await serverAvailable()

/** A wall-clock pause (it.effect runs on the TestClock, where Effect.sleep waits forever). */
const realSleep = (ms: number) => Effect.promise(() => new Promise<void>((resolve) => setTimeout(resolve, ms)))

/** Builds a layer and returns its failure, if it fails. */
const buildFailure = <A, E>(l: Layer.Layer<A, E>) => Effect.flip(Effect.scoped(Layer.build(l)))

describe.skipIf(!server)("PgLive (server)", () => {
  layer(ServerLive)("on a scratch database", (it) => {
    it.effect("provides a SqlClient and describes the target without a password", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const database = yield* Database
        const scratch = yield* ScratchDatabase
        const rows = yield* sql<
          { db: string; app: string }
        >`SELECT current_database() AS db, current_setting('application_name') AS app`
        expect(rows[0]!.db).toBe(scratch.name)
        expect(rows[0]!.app).toBe("dbkit")
        expect(database.kind).toBe("server")
        expect(database.sessionLocks).toBe(true)
        expect(database.target).toMatch(new RegExp(`@127\\.0\\.0\\.1:5432/${scratch.name}$`))
      }))

    it.effect("runs a multi-statement text in one call", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        yield* sql.unsafe("CREATE TABLE multi (x int); INSERT INTO multi VALUES (1), (2)")
        const rows = yield* sql<{ n: number }>`SELECT count(*)::int AS n FROM multi`
        expect(rows[0]!.n).toBe(2)
      }))
  })

  it.effect("a closed port fails fast with DatabaseUnavailable naming host, port and database but not the password", () =>
    Effect.gen(function*() {
      const error = yield* buildFailure(PgLive({ url: Redacted.make("postgres://root:s3cr3t@127.0.0.1:1/shop") }))
      expect(error._tag).toBe("DatabaseUnavailable")
      expect(error.message).toContain("127.0.0.1:1/shop")
      expect(error.message).toContain("connection refused")
      expect(error.message).not.toContain("s3cr3t")
    }))

  it.effect("a database that does not exist is DatabaseUnavailable saying so", () =>
    Effect.gen(function*() {
      const error = yield* buildFailure(PgLive({ url: Redacted.make(urlFor("dbkit_no_such_database")) }))
      expect(error._tag).toBe("DatabaseUnavailable")
      expect(error.reason).toContain("does not exist")
    }))

  it.live("a server that never answers times out within the connect timeout", () =>
    Effect.gen(function*() {
      const silent = net.createServer(() => {})
      yield* Effect.promise(() => new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve)))
      const port = (silent.address() as net.AddressInfo).port
      const started = Date.now()
      const error = yield* buildFailure(
        PgLive({ url: Redacted.make(`postgres://root:s3cr3t@127.0.0.1:${port}/shop`), connectTimeout: "1 second" })
      ).pipe(Effect.ensuring(Effect.sync(() => silent.close())))
      expect(error._tag).toBe("DatabaseUnavailable")
      expect(error.reason).toContain("timed out")
      expect(error.message).not.toContain("s3cr3t")
      expect(Date.now() - started).toBeLessThan(15_000) // it returned at all: no hang
    }))
})

describe("PgliteLive (embedded)", () => {
  layer(EmbeddedLive)("in memory", (it) => {
    it.effect("provides a SqlClient on the embedded PostgreSQL", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const database = yield* Database
        const rows = yield* sql<{ v: string }>`SELECT current_setting('server_version_num') AS v`
        expect(rows[0]!.v.startsWith(EMBEDDED_PG_MAJOR)).toBe(true)
        expect(database.kind).toBe("embedded")
        expect(database.sessionLocks).toBe(false)
      }))

    it.effect("a concurrent statement waits for an open transaction instead of running inside it", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        yield* sql`CREATE TABLE tx_isolation (x int)`
        const inside = sql.withTransaction(
          Effect.gen(function*() {
            yield* sql`INSERT INTO tx_isolation VALUES (1)`
            yield* realSleep(100)
            return yield* Effect.fail("roll back" as const)
          })
        ).pipe(Effect.flip)
        const outside = realSleep(20).pipe(
          Effect.zipRight(sql<{ n: number }>`SELECT count(*)::int AS n FROM tx_isolation`)
        )
        const [, rows] = yield* Effect.all([inside, outside], { concurrency: 2 })
        expect(rows[0]!.n).toBe(0) // the rolled-back row was never visible outside
      }))

    it.effect("nested transactions roll back to their savepoint", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        yield* sql`CREATE TABLE nested (x int)`
        yield* sql.withTransaction(
          Effect.gen(function*() {
            yield* sql`INSERT INTO nested VALUES (1)`
            yield* sql.withTransaction(sql`INSERT INTO nested VALUES (2)`.pipe(Effect.zipRight(Effect.fail("no"))))
              .pipe(
                Effect.ignore
              )
          })
        )
        const rows = yield* sql<{ x: number }>`SELECT x FROM nested ORDER BY x`
        expect(rows.map((r) => r.x)).toEqual([1])
      }))
  })

  it.scoped("a data directory is created on first use and reopened later with its data", () =>
    Effect.gen(function*() {
      const dataDir = path.join(tempDir(), "pglite")
      const write = Effect.flatMap(SqlClient.SqlClient, (sql) =>
        sql`CREATE TABLE kept (x int); `.pipe(
          Effect.zipRight(sql`INSERT INTO kept VALUES (42)`)
        ))
      yield* Effect.provide(write, PgliteLive({ dataDir }))
      expect(fs.readFileSync(path.join(dataDir, "PG_VERSION"), "utf8").trim()).toBe(EMBEDDED_PG_MAJOR)
      expect(fs.existsSync(lockPath(dataDir))).toBe(false) // released on close
      const rows = yield* Effect.provide(
        Effect.flatMap(SqlClient.SqlClient, (sql) => sql<{ x: number }>`SELECT x FROM kept`),
        PgliteLive({ dataDir })
      )
      expect(rows[0]!.x).toBe(42)
    }))

  it.scoped("a second opener of the same data directory gets EmbeddedInUse, and the first keeps working", () =>
    Effect.gen(function*() {
      const dataDir = path.join(tempDir(), "pglite")
      // Made from the run's template (no initdb): the second opener is what is under test.
      const context = yield* Layer.build(PgliteLive({ dataDir, loadDataDir: pgliteTemplate() }))
      const error = yield* buildFailure(PgliteLive({ dataDir }))
      expect(error._tag).toBe("EmbeddedInUse")
      if (error._tag === "EmbeddedInUse") expect(error.pid).toBe(process.pid)
      const sql = yield* Effect.provide(SqlClient.SqlClient, context)
      const rows = yield* sql<{ one: number }>`SELECT 1 AS one`
      expect(rows[0]!.one).toBe(1)
    }))

  it.scoped("a lock file left by a dead process is taken over", () =>
    Effect.gen(function*() {
      const dataDir = path.join(tempDir(), "pglite")
      fs.mkdirSync(path.dirname(dataDir), { recursive: true })
      fs.writeFileSync(lockPath(dataDir), "999999999") // no such process
      const sql = yield* Effect.provide(
        SqlClient.SqlClient,
        yield* Layer.build(PgliteLive({ dataDir, loadDataDir: pgliteTemplate() }))
      )
      expect((yield* sql<{ one: number }>`SELECT 1 AS one`)[0]!.one).toBe(1)
      expect(fs.readFileSync(lockPath(dataDir), "utf8")).toBe(String(process.pid))
    }))

  it.effect("a data directory from another PostgreSQL version is refused and left untouched", () =>
    Effect.gen(function*() {
      const dataDir = path.join(tempDir(), "pglite")
      fs.mkdirSync(dataDir, { recursive: true })
      fs.writeFileSync(path.join(dataDir, "PG_VERSION"), "15\n")
      const error = yield* buildFailure(PgliteLive({ dataDir }))
      expect(error._tag).toBe("EmbeddedVersionMismatch")
      expect(error.message).toContain("PostgreSQL 15")
      expect(fs.readdirSync(dataDir)).toEqual(["PG_VERSION"])
      expect(fs.existsSync(lockPath(dataDir))).toBe(false)
    }))
})
