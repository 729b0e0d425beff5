// Health, in process: each check's condition is created for real on a scratch database, seen to
// turn warn/critical, and seen to go back to ok once removed.
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as SqlClient from "@effect/sql/SqlClient"
import { describe, expect, it, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import { Redis } from "ioredis"
import * as fs from "node:fs"
import * as net from "node:net"
import pg from "pg"
import * as Backup from "../src/backup/Backup.js"
import * as Config from "../src/Config.js"
import { PgLive } from "../src/Database.js"
import * as Health from "../src/health/Health.js"
import { firstKeyword, overall } from "../src/health/status.js"
import * as Migrator from "../src/migrator/Migrator.js"
import { fromDirectory } from "../src/migrator/source.js"
import { parseOverrides } from "../src/Thresholds.js"
import { EmbeddedLive, ScratchDatabase, serverAvailable, ServerLive, tempDir } from "./support/databases.js"
import { freshSchema, writeFolder } from "./support/migrations.js"

const server = await serverAvailable()
const redisUrl = "redis://127.0.0.1:6379/0"
const redisAvailable = await (async () => {
  const client = new Redis(redisUrl, {
    lazyConnect: true,
    connectTimeout: 1000,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null
  })
  try {
    await client.connect()
    return (await client.ping()) === "PONG"
  } catch {
    return false
  } finally {
    client.disconnect()
  }
})()

interface Setup {
  readonly migrations?: string
  readonly schema?: string
  readonly backupDir?: string
  readonly redisUrl?: string
}

const emptyMigrations = writeFolder({})
const emptyBackups = tempDir("dbkit-health-backups-")

/** Health over the database in context, a Migrator over `migrations` and Backup over `backupDir`. */
const healthLayer = (setup: Setup = {}) =>
  Health.layer({ redisUrl: setup.redisUrl === undefined ? undefined : Redacted.make(setup.redisUrl) }).pipe(
    Layer.provide(Migrator.layer({ source: fromDirectory(setup.migrations ?? emptyMigrations), schema: setup.schema })),
    Layer.provide(Backup.layer),
    Layer.provide(Config.layerFrom({ backupDir: setup.backupDir ?? emptyBackups })),
    Layer.provide(NodeContext.layer)
  )

const report = (options: Health.ReportOptions = {}, setup: Setup = {}) =>
  Effect.flatMap(Health.Health, (health) => health.report(options)).pipe(Effect.provide(healthLayer(setup)))

/** One check of a report run with `thresholds`. */
const checkOf = (name: string, thresholds: Partial<Health.Thresholds> = {}, setup: Setup = {}) =>
  Effect.map(report({ only: [name], thresholds }, setup), (r) => {
    expect(r.checks.map((c) => c.name)).toEqual([name])
    return r.checks[0]!
  })

/** Re-runs `effect` until `done` (statistics and sessions take a moment to show); returns the last value. */
const until = <A, E, R>(effect: Effect.Effect<A, E, R>, done: (a: A) => boolean, timeoutMs = 10_000) =>
  Effect.gen(function*() {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const value = yield* effect
      if (done(value) || Date.now() > deadline) return value
      yield* Effect.sleep("100 millis")
    }
  })

/** A second session on the scratch database, as another application would hold one. */
const session = Effect.acquireRelease(
  Effect.flatMap(ScratchDatabase, (scratch) =>
    Effect.promise(async () => {
      const client = new pg.Client({ connectionString: Redacted.value(scratch.url), application_name: "health-test" })
      await client.connect()
      const pid = (await client.query<{ pid: number }>("SELECT pg_backend_pid() AS pid")).rows[0]!.pid
      return { client, pid }
    })),
  ({ client }) => Effect.promise(() => client.end().catch(() => undefined))
)

/** What a fresh server database with no migrations and no backups reports. */
const freshDatabase = {
  connectivity: "ok",
  "server-version": "ok",
  migrations: "ok",
  connections: "ok",
  "long-queries": "ok",
  "idle-in-transaction": "ok",
  "blocked-locks": "ok",
  "cache-hit-ratio": "ok",
  wraparound: "ok",
  sequences: "ok",
  "invalid-indexes": "ok",
  "unused-indexes": "ok",
  "duplicate-indexes": "ok",
  bloat: "ok",
  replication: "not applicable",
  "database-size": "ok",
  backups: "warn",
  archiving: "not applicable", // archive_mode off, no pgBackRest stanza
  "backup-disk": "ok", // with hostNeutral
  "server-host": "ok", // root is a superuser: it reads /proc through the server
  jobs: "not applicable", // no dbkit.jobs
  tenants: "not applicable",
  tenancy: "not applicable", // no table with tenant_id
  redis: "not applicable"
}

/**
 * What the two checks about the whole server and machine say, read from their own figures with the
 * default limits: connections counts every database's sessions and connectivity times SELECT 1's
 * round trip, and other programs share both (a loaded machine must not fail a test of this database).
 */
/**
 * The host checks grade this machine's disk, memory and load, which other programs share: limits
 * that only an empty disk or a dead host would cross keep the fresh-database verdicts about the
 * database (test/health-host.test.ts moves them on purpose).
 */
const hostNeutral: Partial<Health.Thresholds> = {
  diskFreeWarn: 0,
  diskFreeCritical: 0,
  memoryAvailableWarn: 0,
  memoryAvailableCritical: 0,
  loadPerCpuWarn: Number.POSITIVE_INFINITY,
  loadPerCpuCritical: Number.POSITIVE_INFINITY
}

const serverWide = (checks: ReadonlyArray<Health.CheckResult>) => {
  const expected: { connectivity?: string; connections?: string } = {}
  for (const { name, status, value } of checks) {
    if (name === "connectivity") expected.connectivity = Number(value) > 250 ? "warn" : "ok"
    if (name === "connections" && status !== "not applicable") {
      expect(Number(value)).toBeGreaterThan(0) // this session is one of them
      expected.connections = Number(value) > 0.95 ? "critical" : Number(value) > 0.8 ? "warn" : "ok"
    }
  }
  return expected
}

const exec = (text: string) => Effect.flatMap(SqlClient.SqlClient, (sql) => sql.unsafe(text))

describe("health helpers", () => {
  it("a query is only ever described by its first keyword", () => {
    expect(firstKeyword("  /* app */ -- note\n select * from users where email = 'a@b.c'")).toBe("SELECT")
    expect(firstKeyword("(SELECT 1)")).toBe("SELECT")
    expect(firstKeyword("<insufficient privilege>")).toBe("(not visible)")
    expect(firstKeyword("'secret'")).toBe("(not visible)")
  })

  it("the verdict is the worst check, unknown counting as warn and not applicable as ok", () => {
    expect(overall(["ok", "not applicable"])).toBe("ok")
    expect(overall(["ok", "unknown"])).toBe("warn")
    expect(overall(["warn", "critical", "ok"])).toBe("critical")
  })

  it("threshold overrides parse name=value and refuse unknown names and non-numbers", () => {
    const parsed = parseOverrides(["longQuerySeconds=5", "databaseSizeBytes=none", "longQuerySeconds=7"])
    expect(parsed._tag === "Right" && parsed.right).toEqual({
      longQuerySeconds: 7,
      databaseSizeBytes: Number.POSITIVE_INFINITY
    })
    const unknownName = parseOverrides(["nope=1"])
    expect(unknownName._tag === "Left" && unknownName.left.message).toContain("threshold nope: unknown threshold")
    const notANumber = parseOverrides(["latencyMs=fast"])
    expect(notANumber._tag === "Left" && notANumber.left.message).toContain("expected a non-negative number")
  })
})

describe.skipIf(!server)("Health on the server", () => {
  layer(ServerLive, { excludeTestServices: true })("checks on a scratch database", (it) => {
    it.effect("a fresh database: every check runs; nothing to find is ok, no replica and no registry are not applicable", () =>
      Effect.gen(function*() {
        const result = yield* report({ thresholds: hostNeutral })
        const statuses = Object.fromEntries(result.checks.map((c) => [c.name, c.status]))
        expect(result.checks.map((c) => c.name)).toEqual(Health.checkNames)
        const shared = serverWide(result.checks)
        expect(statuses).toEqual({ ...freshDatabase, ...shared })
        expect(result.status).toBe(shared.connections === "critical" ? "critical" : "warn") // no verified backup
        expect(result.target).toContain("127.0.0.1")
        const unknownCheck = yield* Effect.flip(report({ only: ["connectivity", "nope"] }))
        expect(unknownCheck.message).toContain("unknown health check nope")
      }))

    it.effect("a session idle in a transaction past the threshold warns, then is critical, then ok once it commits", () =>
      Effect.scoped(Effect.gen(function*() {
        const { client, pid } = yield* session
        yield* Effect.promise(() => client.query("BEGIN; SELECT 1"))
        const low = { idleInTransactionSeconds: 0.2 }
        const warned = yield* until(checkOf("idle-in-transaction", low), (c) => c.status === "warn")
        expect(warned.status).toBe("warn")
        expect(warned.detail).toContain(`pid ${pid} (health-test) idle`)
        expect(warned.detail).not.toContain("SELECT")
        const critical = yield* checkOf("idle-in-transaction", { ...low, idleInTransactionCriticalSeconds: 0.2 })
        expect(critical.status).toBe("critical")
        yield* Effect.promise(() => client.query("COMMIT"))
        expect((yield* checkOf("idle-in-transaction", low)).status).toBe("ok")
      })))

    it.effect("a session waiting on another's row lock warns with both pids, and is ok once the lock is released", () =>
      Effect.scoped(Effect.gen(function*() {
        yield* exec("CREATE TABLE locked (id int PRIMARY KEY, v int); INSERT INTO locked VALUES (1, 0)")
        const holder = yield* session
        const waiter = yield* session
        yield* Effect.promise(() => holder.client.query("BEGIN; UPDATE locked SET v = 1 WHERE id = 1"))
        const waiting = waiter.client.query("UPDATE locked SET v = 2 WHERE id = 1").catch((e: unknown) => e)
        const low = { blockedSeconds: 0 }
        const blocked = yield* until(checkOf("blocked-locks", low), (c) => c.status === "warn")
        expect(blocked.status).toBe("warn")
        expect(blocked.detail).toContain(`pid ${waiter.pid} (health-test) waiting`)
        expect(blocked.detail).toContain(`on pid ${holder.pid}`)
        expect((yield* checkOf("blocked-locks", { ...low, blockedCriticalSeconds: 0 })).status).toBe("critical")
        yield* Effect.promise(() => holder.client.query("COMMIT"))
        yield* Effect.promise(() => waiting)
        expect((yield* checkOf("blocked-locks", low)).status).toBe("ok")
        yield* exec("DROP TABLE locked")
      })))

    it.effect("a long-running query warns with its pid and first keyword only (no literals); ok once cancelled", () =>
      Effect.scoped(Effect.gen(function*() {
        const { client, pid } = yield* session
        const running = client.query("SELECT pg_sleep(60), 'alice@example.com' AS email").catch((e: unknown) => e)
        const low = { longQuerySeconds: 0.3 }
        const slow = yield* until(checkOf("long-queries", low), (c) => c.status === "warn")
        expect(slow.status).toBe("warn")
        expect(slow.detail).toMatch(new RegExp(`pid ${pid} \\(health-test\\) active [0-9.]+ s: SELECT$`))
        expect(slow.detail).not.toContain("alice")
        expect(slow.detail).not.toContain("pg_sleep")
        expect((yield* checkOf("long-queries", { ...low, longQueryCriticalSeconds: 0.3 })).status).toBe("critical")
        const sql = yield* SqlClient.SqlClient
        yield* sql`SELECT pg_cancel_backend(${pid})`
        yield* Effect.promise(() => running)
        expect((yield* until(checkOf("long-queries", low), (c) => c.status === "ok")).status).toBe("ok")
      })))

    it.effect("a unique index whose CREATE INDEX CONCURRENTLY failed is reported invalid until dropped", () =>
      Effect.gen(function*() {
        yield* exec("CREATE TABLE dupes (x int); INSERT INTO dupes VALUES (1), (1)")
        const failed = yield* Effect.either(exec("CREATE UNIQUE INDEX CONCURRENTLY dupes_x_unique ON dupes (x)"))
        expect(failed._tag).toBe("Left")
        const invalid = yield* checkOf("invalid-indexes")
        expect(invalid.status).toBe("warn")
        expect(invalid.value).toBe(1)
        expect(invalid.detail).toContain("public.dupes_x_unique on dupes")
        yield* exec("DROP TABLE dupes")
        expect((yield* checkOf("invalid-indexes")).status).toBe("ok")
      }))

    it.effect("a sequence at 95 of MAXVALUE 100 is critical (warn under a higher limit), ok once dropped", () =>
      Effect.gen(function*() {
        yield* exec("CREATE SEQUENCE nearly_full MAXVALUE 100; SELECT setval('nearly_full', 95)")
        const full = yield* checkOf("sequences")
        expect(full.status).toBe("critical")
        expect(full.value).toBeCloseTo(94 / 99, 3)
        expect(full.detail).toContain("public.nearly_full at 94.9% of its range")
        expect((yield* checkOf("sequences", { sequenceCritical: 0.99 })).status).toBe("warn")
        yield* exec("DROP SEQUENCE nearly_full")
        expect((yield* checkOf("sequences")).status).toBe("ok")
      }))

    it.effect("indexes on the same columns or expression are duplicates whatever their spelling; a partial one is not", () =>
      Effect.gen(function*() {
        yield* exec(`CREATE TABLE twice (a int, b text);
          CREATE INDEX twice_a_1 ON twice (a);
          CREATE INDEX twice_a_2 ON twice ( a );
          CREATE INDEX twice_a_partial ON twice (a) WHERE b IS NOT NULL;
          CREATE INDEX twice_lower_1 ON twice (lower(b));
          CREATE INDEX twice_lower_2 ON twice (lower( b ))`)
        const duplicates = yield* checkOf("duplicate-indexes")
        expect(duplicates.status).toBe("warn")
        expect(duplicates.value).toBe(2)
        expect(duplicates.detail).toContain("public.twice: twice_a_1, twice_a_2")
        expect(duplicates.detail).toContain("public.twice: twice_lower_1, twice_lower_2")
        expect(duplicates.detail).not.toContain("partial")
        yield* exec("DROP INDEX twice_a_2; DROP INDEX twice_lower_2")
        expect((yield* checkOf("duplicate-indexes")).status).toBe("ok")
        yield* exec("DROP TABLE twice")
      }))

    it.effect("a never-scanned index above the size limit is unused until a query uses it; unique indexes never are", () =>
      Effect.scoped(Effect.gen(function*() {
        yield* exec(
          "CREATE TABLE idle_index (x int, y int); CREATE INDEX idle_index_x ON idle_index (x); CREATE UNIQUE INDEX idle_index_y ON idle_index (y)"
        )
        const any = { unusedIndexBytes: 0 }
        const unused = yield* checkOf("unused-indexes", any)
        expect(unused.status).toBe("warn")
        expect(unused.detail).toContain("public.idle_index_x on idle_index")
        expect(unused.detail).not.toContain("idle_index_y")
        expect((yield* checkOf("unused-indexes")).status).toBe("ok") // below the default 1 MB
        const { client } = yield* session
        yield* Effect.promise(() => client.query("SET enable_seqscan = off; SELECT * FROM idle_index WHERE x = 1"))
        yield* Effect.promise(() => client.end()) // a session's statistics are flushed when it ends
        expect((yield* until(checkOf("unused-indexes", any), (c) => c.status === "ok")).status).toBe("ok")
        yield* exec("DROP TABLE idle_index")
      })))

    it.effect("a table with most of its rows deleted is bloated (dead-tuple estimate) until vacuumed", () =>
      Effect.scoped(Effect.gen(function*() {
        yield* exec("CREATE TABLE churn (x int) WITH (autovacuum_enabled = false)")
        const { client } = yield* session
        yield* Effect.promise(() =>
          client.query("INSERT INTO churn SELECT generate_series(1, 2000); DELETE FROM churn WHERE x > 500")
        )
        yield* Effect.promise(() => client.end())
        const small = { bloatMinRows: 100 }
        const bloated = yield* until(checkOf("bloat", small), (c) => c.status === "critical")
        expect(bloated.status).toBe("critical")
        expect(bloated.value).toBeCloseTo(0.75, 2)
        expect(bloated.detail).toContain("public.churn 75.0% dead (1500 of 2000)")
        expect(bloated.detail).toContain("estimated from dead tuples")
        expect((yield* checkOf("bloat", { ...small, bloatCritical: 0.9 })).status).toBe("warn")
        yield* exec("VACUUM churn")
        expect((yield* until(checkOf("bloat", small), (c) => c.status === "ok")).status).toBe("ok")
        yield* exec("DROP TABLE churn")
      })))

    it.effect("migrations: pending warns and readiness fails, applied is ok, a changed applied file is critical", () =>
      Effect.gen(function*() {
        const schema = freshSchema()
        const dir = writeFolder({ "001_first.sql": "CREATE TABLE first (x int);" })
        const setup = { migrations: dir, schema }
        const migrate = Effect.flatMap(Migrator.Migrator, (m) => m.migrate()).pipe(
          Effect.provide(Migrator.layer({ source: fromDirectory(dir), schema }))
        )
        const ready = Effect.flatMap(Health.Health, (h) => h.ready).pipe(Effect.provide(healthLayer(setup)))
        const pending = yield* checkOf("migrations", {}, setup)
        expect(pending.status).toBe("warn")
        expect(pending.detail).toBe("001_first pending")
        expect((yield* ready).ready).toBe(false)
        yield* migrate
        expect((yield* checkOf("migrations", {}, setup)).status).toBe("ok")
        const readiness = yield* ready
        expect(readiness.ready).toBe(true)
        expect(readiness.checks.map((c) => c.name)).toEqual(["connectivity", "migrations"])
        writeFolder({ "002_second.sql": "CREATE TABLE second (x int);" }, dir)
        const unapplied = yield* checkOf("migrations", {}, setup)
        expect(unapplied.status).toBe("warn")
        expect(unapplied.detail).toBe("002_second pending")
        writeFolder({ "001_first.sql": "CREATE TABLE first (x bigint);" }, dir)
        const changed = yield* checkOf("migrations", {}, setup)
        expect(changed.status).toBe("critical")
        expect(changed.detail).toContain("001_first changed since applied")
      }))

    it.effect("backups: none found warns, unverified warns, a fresh verified one is ok, an old one warns", () =>
      Effect.gen(function*() {
        const backupDir = tempDir("dbkit-health-backups-")
        const none = yield* checkOf("backups", {}, { backupDir })
        expect(none.status).toBe("warn")
        expect(none.detail).toContain("no backup found")
        const made = yield* Effect.flatMap(Backup.Backup, (b) => b.backup({ out: backupDir })).pipe(
          Effect.provide(
            Backup.layer.pipe(Layer.provide(Config.layerFrom({ backupDir })), Layer.provide(NodeContext.layer))
          )
        )
        const unverified = yield* checkOf("backups", {}, { backupDir })
        expect(unverified.status).toBe("warn")
        expect(unverified.detail).toContain("1 backup, none verified")
        yield* Effect.flatMap(Backup.Backup, (b) => b.verify(made.file)).pipe(
          Effect.provide(
            Backup.layer.pipe(Layer.provide(Config.layerFrom({ backupDir })), Layer.provide(NodeContext.layer))
          )
        )
        const fresh = yield* checkOf("backups", {}, { backupDir })
        expect(fresh.status).toBe("ok")
        expect(fresh.value).toBeLessThan(1)
        expect(fresh.detail).toContain(made.file.split("/").pop()!)
        expect((yield* checkOf("backups", { backupMaxAgeHours: 0 }, { backupDir })).status).toBe("warn")
        fs.rmSync(backupDir, { recursive: true, force: true })
      }))

    it.effect("tenant registry: a schema tenant without its schema and a tenant_ schema without a tenant are critical", () =>
      Effect.gen(function*() {
        expect((yield* checkOf("tenants")).status).toBe("not applicable")
        yield* exec(`CREATE SCHEMA IF NOT EXISTS dbkit;
          CREATE TABLE dbkit.tenants (slug text PRIMARY KEY, strategy text NOT NULL, schema_name text, status text NOT NULL);
          INSERT INTO dbkit.tenants VALUES ('acme', 'schema', 'tenant_acme', 'active'), ('beta', 'rls', NULL, 'active'),
                                           ('gone', 'schema', 'tenant_gone', 'deprovisioned')`)
        const missing = yield* checkOf("tenants")
        expect(missing.status).toBe("critical")
        expect(missing.detail).toBe("tenant acme: schema tenant_acme is missing")
        yield* exec("CREATE SCHEMA tenant_acme")
        const agree = yield* checkOf("tenants")
        expect(agree.status).toBe("ok")
        expect(agree.detail).toContain("3 tenants")
        yield* exec("CREATE SCHEMA tenant_ghost")
        const orphan = yield* checkOf("tenants")
        expect(orphan.status).toBe("critical")
        expect(orphan.detail).toBe("schema tenant_ghost has no tenant in the registry")
        yield* exec("DROP SCHEMA tenant_ghost; DROP SCHEMA tenant_acme; DROP TABLE dbkit.tenants")
        expect((yield* checkOf("tenants")).status).toBe("not applicable")
      }))

    it.effect("figures graded against thresholds: version, connections, cache, wraparound, size turn warn/critical when limits are crossed", () =>
      Effect.gen(function*() {
        const graded = (thresholds: Partial<Health.Thresholds>) =>
          Effect.map(
            report({
              only: ["server-version", "connections", "cache-hit-ratio", "wraparound", "database-size"],
              thresholds
            }),
            (r) => Object.fromEntries(r.checks.map((c) => [c.name, c.status]))
          )
        const defaults = yield* report({
          only: ["server-version", "connections", "cache-hit-ratio", "wraparound", "database-size"]
        })
        expect(Object.fromEntries(defaults.checks.map((c) => [c.name, c.status]))).toEqual({
          "server-version": "ok",
          connections: serverWide(defaults.checks).connections,
          "cache-hit-ratio": "ok",
          wraparound: "ok",
          "database-size": "ok"
        })
        expect(
          yield* graded({
            minServerVersion: 99,
            connectionsWarn: 0,
            cacheHitRatio: 1.01,
            cacheMinBlocks: 0,
            wraparoundWarn: 0,
            databaseSizeBytes: 1
          })
        ).toEqual({
          "server-version": "warn",
          connections: "warn",
          "cache-hit-ratio": "warn",
          wraparound: "warn",
          "database-size": "warn"
        })
        const critical = yield* graded({
          connectionsWarn: 0,
          connectionsCritical: 0,
          wraparoundWarn: 0,
          wraparoundCritical: 0
        })
        expect([critical.connections, critical.wraparound]).toEqual(["critical", "critical"])
      }))

    it.effect("a check that cannot finish is unknown with the reason; the rest of the report still runs", () =>
      Effect.scoped(Effect.gen(function*() {
        yield* exec(`CREATE SCHEMA IF NOT EXISTS dbkit;
          CREATE TABLE dbkit.tenants (slug text PRIMARY KEY, strategy text NOT NULL, schema_name text, status text NOT NULL)`)
        const schema = freshSchema()
        const dir = writeFolder({ "001_first.sql": "CREATE TABLE first (x int);" })
        yield* Effect.flatMap(Migrator.Migrator, (m) => m.migrate()).pipe(
          Effect.provide(Migrator.layer({ source: fromDirectory(dir), schema }))
        )
        const { client } = yield* session
        yield* Effect.promise(() =>
          client.query(
            `BEGIN; LOCK TABLE dbkit.tenants IN ACCESS EXCLUSIVE MODE; LOCK TABLE ${schema}.dbkit_migrations IN ACCESS EXCLUSIVE MODE`
          )
        )
        const result = yield* report({
          only: ["connectivity", "migrations", "tenants", "sequences"],
          thresholds: { checkTimeoutMs: 1_500 }
        }, { migrations: dir, schema })
        const byName = Object.fromEntries(result.checks.map((c) => [c.name, c]))
        expect(byName["tenants"]!.status).toBe("unknown")
        expect(byName["tenants"]!.detail).toContain("lock timeout")
        expect(byName["migrations"]!.status).toBe("unknown")
        expect(byName["migrations"]!.detail).toBe("timed out after 1500 ms")
        expect(byName["connectivity"]!.status).toBe(serverWide(result.checks).connectivity)
        expect(byName["sequences"]!.status).toBe("ok")
        expect(result.status).toBe("warn")
        yield* Effect.promise(() => client.query("ROLLBACK"))
        yield* exec("DROP TABLE dbkit.tenants")
      })))

    it.effect.skipIf(!redisAvailable)(
      "redis: PING latency when configured, critical when unreachable, not applicable without REDIS_URL",
      () =>
        Effect.gen(function*() {
          const up = yield* checkOf("redis", {}, { redisUrl })
          expect(up.status).toBe("ok")
          expect(up.detail).toContain("127.0.0.1:6379/0 answered PING")
          expect((yield* checkOf("redis", { redisLatencyMs: 0 }, { redisUrl })).status).toBe("warn")
          const down = yield* checkOf("redis", { checkTimeoutMs: 1000 }, { redisUrl: "redis://:hunter2@127.0.0.1:1/0" })
          expect(down.status).toBe("critical")
          expect(down.detail).toContain("127.0.0.1:1")
          expect(down.detail).not.toContain("hunter2")
          expect((yield* checkOf("redis")).status).toBe("not applicable")
        })
    )

    it.effect("layerResilient connects on demand: a reachable database reports as usual", () =>
      Effect.gen(function*() {
        const scratch = yield* ScratchDatabase
        const dependencies = Migrator.layer({ source: fromDirectory(emptyMigrations) }).pipe(
          Layer.provideMerge(Backup.layer),
          Layer.provideMerge(PgLive({ url: scratch.url, poolSize: 2 })),
          Layer.provide(Config.layerFrom({ backupDir: emptyBackups })),
          Layer.provide(NodeContext.layer)
        )
        const result = yield* Effect.flatMap(Health.Health, (h) => h.report({ only: ["connectivity", "migrations"] }))
          .pipe(
            Effect.provide(Health.layerResilient(dependencies, { target: "scratch" }))
          )
        expect(result.checks.map((c) => c.status)).toEqual(["ok", "ok"])
        expect(result.target).toContain(scratch.name)
      }))
  })
})

describe("Health when the database cannot be reached", () => {
  const unreachable = (url: string) => {
    const dependencies = Migrator.layer({ source: fromDirectory(emptyMigrations) }).pipe(
      Layer.provideMerge(Backup.layer),
      Layer.provideMerge(PgLive({ url: Redacted.make(url), connectTimeout: "500 millis" })),
      Layer.provide(Config.layerFrom({ backupDir: emptyBackups })),
      Layer.provide(NodeContext.layer)
    )
    return Effect.flatMap(Health.Health, (h) => Effect.zip(h.report(), h.ready)).pipe(
      Effect.provide(Health.layerResilient(dependencies, { target: "unused" }))
    )
  }

  it.live("a closed port: connectivity critical with the reason, database checks unknown, readiness false", () =>
    Effect.gen(function*() {
      const [result, readiness] = yield* unreachable("postgres://root:s3cret@127.0.0.1:1/nowhere")
      expect(result.status).toBe("critical")
      const connectivity = result.checks[0]!
      expect(connectivity).toMatchObject({ name: "connectivity", status: "critical" })
      expect(connectivity.detail).toContain("root@127.0.0.1:1/nowhere")
      expect(connectivity.detail).toContain("connection refused")
      expect(result.checks.find((c) => c.name === "sequences")!.detail).toBe("not run: no connection to the database")
      expect(result.checks.find((c) => c.name === "redis")!.status).toBe("not applicable")
      expect(JSON.stringify(result)).not.toContain("s3cret")
      expect(readiness.ready).toBe(false)
    }))

  it.live(
    "a server that accepts but never answers: connectivity critical after the connect timeout, not a hang",
    () =>
      Effect.acquireUseRelease(
        Effect.async<{ silent: net.Server; sockets: Set<net.Socket> }>((resume) => {
          const sockets = new Set<net.Socket>()
          const silent = net.createServer((socket) => void sockets.add(socket)) // accepts, never answers
          silent.listen(0, "127.0.0.1", () => resume(Effect.succeed({ silent, sockets })))
        }),
        ({ silent }) =>
          Effect.gen(function*() {
            const port = (silent.address() as net.AddressInfo).port
            const [result] = yield* unreachable(`postgres://root@127.0.0.1:${port}/nowhere`)
            expect(result.status).toBe("critical")
            expect(result.checks[0]!.status).toBe("critical")
            expect(result.checks[0]!.detail).toContain(`127.0.0.1:${port}/nowhere`)
          }),
        ({ silent, sockets }) =>
          Effect.async<void>((resume) => {
            for (const socket of sockets) socket.destroy()
            silent.close(() => resume(Effect.void))
          })
      ),
    30_000
  )
})

layer(EmbeddedLive, { excludeTestServices: true })("Health on the embedded database", (it) => {
  it.effect("the report runs; checks about other sessions and replicas are not applicable, the rest ok", () =>
    Effect.gen(function*() {
      yield* exec("CREATE SEQUENCE nearly_full MAXVALUE 100; SELECT setval('nearly_full', 95)")
      const result = yield* report({ thresholds: hostNeutral })
      const statuses = Object.fromEntries(result.checks.map((c) => [c.name, c.status]))
      expect(statuses).toEqual({
        ...freshDatabase,
        ...serverWide(result.checks),
        connections: "not applicable",
        "long-queries": "not applicable",
        "idle-in-transaction": "not applicable",
        "blocked-locks": "not applicable",
        "server-host": "not applicable", // the database runs in this process
        sequences: "critical"
      })
      expect(result.checks.find((c) => c.name === "server-version")!.value).toMatch(/^18\./)
      expect(result.target).toBe("embedded (in memory)")
    }))
})
