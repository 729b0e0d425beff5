// `/metrics` of Serve.layer on a real HTTP server over a scratch database: the text format as
// Prometheus parses it, the figures of conditions the tests induce, a failing collector left out
// and counted while concurrent scrapes share one run, and `dbkit serve`'s token rule.
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as HttpServer from "@effect/platform/HttpServer"
import { describe, expect, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as fs from "node:fs"
import * as http from "node:http"
import { createServer } from "node:http"
import * as path from "node:path"
import pg from "pg"
import * as Backup from "../src/backup/Backup.js"
import * as Config from "../src/Config.js"
import { PgLive } from "../src/Database.js"
import * as Health from "../src/health/Health.js"
import * as Migrator from "../src/migrator/Migrator.js"
import { fromDirectory } from "../src/migrator/source.js"
import { render } from "../src/serve/metrics/format.js"
import type { MetricsOptions } from "../src/serve/metrics/Metrics.js"
import * as Serve from "../src/serve/Serve.js"
import { runCli } from "./support/cli.js"
import { freePort } from "./support/cluster.js"
import { EmbeddedLive, queryAt, ScratchDatabase, serverAvailable, ServerLive, tempDir } from "./support/databases.js"
import { freshSchema, writeFolder } from "./support/migrations.js"
import { fetchText, parseExposition, series, startServe } from "./support/prometheus.js"

const server = await serverAvailable()

/** A client on the scratch database, closed with the scope. */
const session = Effect.acquireRelease(
  Effect.flatMap(ScratchDatabase, (db) =>
    Effect.promise(async () => {
      const client = new pg.Client({ connectionString: Redacted.value(db.url) })
      // The scratch database is dropped WITH (FORCE) at the end: a terminated session is expected then.
      client.on("error", () => undefined)
      await client.connect()
      return client
    })),
  (client) => Effect.promise(() => client.end().catch(() => undefined))
)

interface Setup {
  readonly migrations: string
  readonly backupDir: string
  readonly metrics?: MetricsOptions
}

/**
 * Serve.layer on port 0 over the scratch database, with Health and Metrics over it, for the
 * scope; yields the server's base URL. The database layer is the caller's (one per test).
 */
const serving = (setup: Setup) =>
  Effect.gen(function*() {
    const built = yield* Layer.build(
      Serve.layer().pipe(
        Layer.provideMerge(NodeHttpServer.layer(createServer, { port: 0, host: "127.0.0.1" })),
        Layer.provide(Layer.merge(Health.layer(), Serve.Metrics.layer(setup.metrics))),
        Layer.provide(Migrator.layer({ source: fromDirectory(setup.migrations), schema: freshSchema() })),
        Layer.provide(Backup.layer),
        Layer.provide(Config.layerFrom({ backupDir: setup.backupDir })),
        Layer.provide(NodeContext.layer)
      )
    )
    const address = Context.get(built, HttpServer.HttpServer).address
    if (address._tag !== "TcpAddress") return yield* Effect.dieMessage("not a TCP server")
    return `http://127.0.0.1:${address.port}`
  })

/** Scrapes until `done` holds (statistics reach the views a moment after a transaction ends). */
const scrapeUntil = (url: string, done: (e: ReturnType<typeof parseExposition>) => boolean) =>
  Effect.gen(function*() {
    const deadline = Date.now() + 30_000
    for (;;) {
      const response = yield* fetchText(`${url}/metrics`)
      expect(response.status).toBe(200)
      const exposition = parseExposition(response.body)
      if (done(exposition) || Date.now() > deadline) return exposition
      yield* Effect.sleep("200 millis")
    }
  })

const value = (e: ReturnType<typeof parseExposition>, name: string, labels: Record<string, string> = {}) => {
  const found = series(e, name, labels)
  return found.length === 1 ? found[0]!.value : undefined
}

const oddTable = "odd \"quoted\" \\ name\nwith a line break"

describe("the text format", () => {
  it("escapes label values and HELP, writes NaN and ±Inf, and leaves out families without samples", () => {
    const text = render([
      { name: "a_total", help: "back\\slash\nnewline", type: "counter", samples: [{ value: 1 }] },
      { name: "empty", help: "never written", type: "gauge", samples: [] },
      {
        name: "b",
        help: "values",
        type: "gauge",
        samples: [
          { labels: { v: "q\"b\\n\nl" }, value: Number.NaN },
          { labels: { v: "inf" }, value: Number.POSITIVE_INFINITY },
          { labels: { v: "-inf" }, value: Number.NEGATIVE_INFINITY }
        ]
      }
    ])
    expect(text).toBe(
      [
        "# HELP a_total back\\\\slash\\nnewline",
        "# TYPE a_total counter",
        "a_total 1",
        "# HELP b values",
        "# TYPE b gauge",
        "b{v=\"q\\\"b\\\\n\\nl\"} NaN",
        "b{v=\"inf\"} +Inf",
        "b{v=\"-inf\"} -Inf",
        ""
      ].join("\n")
    )
    const parsed = parseExposition(text)
    expect(series(parsed, "b", { v: "q\"b\\n\nl" })).toHaveLength(1)
    expect(parsed.types.has("empty")).toBe(false)
    expect(() => render([{ name: "bad-name", help: "", type: "gauge", samples: [{ value: 1 }] }])).toThrow()
  })
})

describe.skipIf(!server)("/metrics on a scratch database", () => {
  it.live(
    "the figures of induced conditions, in the exposition format, each family with HELP and TYPE",
    () =>
      Effect.gen(function*() {
        const scratch = yield* ScratchDatabase
        const backupDir = tempDir("dbkit-serve-backups-")
        const url = yield* serving({
          migrations: writeFolder({ "001_first.sql": "CREATE TABLE first_table (x int);" }),
          backupDir
        })
        // Sessions of their own that end at once: a backend flushes its statistics when it exits.
        const at = (text: string) => Effect.promise(() => queryAt(Redacted.value(scratch.url), text))
        yield* at(`
          CREATE TABLE big (id int PRIMARY KEY, pad text);
          INSERT INTO big SELECT g, repeat('x', 200) FROM generate_series(1, 2000) g;
          CREATE SEQUENCE nearly_full MAXVALUE 100;
          SELECT setval('nearly_full', 90);
          CREATE TABLE "${oddTable.replace(/"/g, "\"\"")}" (x int);
        `)
        yield* at("DELETE FROM big WHERE id <= 600")
        yield* at("ANALYZE")
        const setup = yield* session
        // Before dbkit.jobs exists: no job figures at all.
        const before = yield* scrapeUntil(
          url,
          (e) => value(e, "pg_stat_user_tables_n_dead_tup", { relname: "big" }) === 600
        )
        expect(before.types.get("dbkit_job_runs")).toBeUndefined()

        // An idle-in-transaction session, and a session blocked behind a lock it holds.
        const idle = yield* session
        yield* Effect.promise(() => idle.query("BEGIN; LOCK TABLE big IN ACCESS EXCLUSIVE MODE"))
        const waiter = yield* session
        const waiting = waiter.query("SELECT count(*) FROM big").catch(() => undefined)
        // Jobs, as the scheduler records them: nightly ran three times (the last one failed).
        yield* Effect.promise(() =>
          setup.query(`
          CREATE SCHEMA IF NOT EXISTS dbkit;
          CREATE TABLE dbkit.jobs (id bigserial PRIMARY KEY, name text, kind text, started_at timestamptz,
            finished_at timestamptz, status text, error text, detail jsonb, host text, pid int);
          INSERT INTO dbkit.jobs (name, kind, started_at, finished_at, status) VALUES
            ('nightly', 'backup', now() - interval '3 hours', now() - interval '3 hours' + interval '5 seconds', 'succeeded'),
            ('nightly', 'backup', now() - interval '2 hours', now() - interval '2 hours' + interval '3 seconds', 'succeeded'),
            ('nightly', 'backup', now() - interval '1 hour', now() - interval '1 hour' + interval '7 seconds', 'failed'),
            ('vacuum', 'maintain', now(), NULL, 'running');
        `)
        )
        // A backup taken three days ago (its manifest says so).
        const file = path.join(backupDir, `${scratch.name}_backup_old.sql.gz`)
        fs.writeFileSync(file, Buffer.alloc(1234))
        const threeDaysAgo = new Date(Date.now() - 3 * 86_400_000)
        fs.writeFileSync(
          `${file}.json`,
          JSON.stringify({
            createdAt: threeDaysAgo.toISOString(),
            database: scratch.name,
            environment: "test",
            encryption: null,
            format: "plain"
          })
        )

        const e = yield* scrapeUntil(url, (e) =>
          value(e, "dbkit_blocked_sessions", { datname: scratch.name }) === 1 &&
          (value(e, "pg_stat_activity_count", { datname: scratch.name, state: "idle in transaction" }) ?? 0) >= 1)
        const response = yield* fetchText(`${url}/metrics`)
        expect(response.type).toBe("text/plain; version=0.0.4; charset=utf-8")

        // Every family is typed and explained.
        for (const name of new Set(e.samples.map((s) => s.name))) {
          expect([name, e.types.has(name), (e.help.get(name) ?? "").length > 0]).toEqual([name, true, true])
        }
        expect(value(e, "pg_up")).toBe(1)
        const here = { datname: scratch.name }
        expect(value(e, "pg_stat_activity_count", { ...here, state: "idle in transaction" })).toBe(1)
        expect(value(e, "pg_stat_activity_max_tx_duration", { ...here, state: "idle in transaction" })).toBeGreaterThan(
          0
        )
        expect(value(e, "dbkit_blocked_sessions", here)).toBe(1)
        expect(value(e, "dbkit_stat_activity_max_query_duration_seconds", here)).toBeGreaterThan(0)
        // The lock on `big` does not stop the scrape: sizes come from the catalog, not the table.
        expect(value(e, "dbkit_table_size_bytes", { schemaname: "public", relname: "big" })).toBeGreaterThan(8192)
        expect(value(e, "pg_stat_user_tables_n_dead_tup", { schemaname: "public", relname: "big" })).toBe(600)
        expect(value(e, "pg_stat_user_tables_n_live_tup", { schemaname: "public", relname: "big" })).toBe(1400)
        expect(series(e, "dbkit_table_size_bytes", { relname: oddTable })).toHaveLength(1)
        expect(value(e, "dbkit_sequence_used_ratio", { schemaname: "public", sequencename: "nearly_full" }))
          .toBeCloseTo(89 / 99, 6)
        expect(value(e, "pg_database_size_bytes", here)).toBeGreaterThan(1_000_000)
        expect(value(e, "dbkit_database_xid_age", here)).toBeGreaterThanOrEqual(0)
        expect(series(e, "pg_stat_database_blks_hit", here)).toHaveLength(1)
        expect(value(e, "dbkit_cache_hit_ratio", here)).toBeGreaterThan(0)
        expect(value(e, "pg_replication_is_replica")).toBe(0)
        expect(value(e, "dbkit_migrations_pending")).toBe(1)
        expect(value(e, "dbkit_migrations_applied")).toBe(0)
        expect(value(e, "dbkit_job_runs", { job_name: "nightly", status: "succeeded" })).toBe(2)
        expect(value(e, "dbkit_job_runs", { job_name: "nightly", status: "failed" })).toBe(1)
        expect(value(e, "dbkit_job_last_duration_seconds", { job_name: "nightly" })).toBeCloseTo(7, 3)
        const [success] = yield* Effect.promise(() =>
          setup.query(
            "SELECT extract(epoch FROM max(finished_at))::float8 AS at FROM dbkit.jobs WHERE status = 'succeeded'"
          ).then((r) => r.rows as Array<{ at: number }>)
        )
        expect(value(e, "dbkit_job_last_success_timestamp_seconds", { job_name: "nightly" })).toBeCloseTo(
          success!.at,
          3
        )
        expect(value(e, "dbkit_job_running", { job_name: "vacuum" })).toBe(1)
        expect(value(e, "dbkit_backups")).toBe(1)
        expect(value(e, "dbkit_backup_newest_size_bytes")).toBe(1234)
        expect(value(e, "dbkit_backup_newest_timestamp_seconds")).toBe(threeDaysAgo.getTime() / 1000)
        expect(value(e, "dbkit_backup_newest_age_seconds")).toBeGreaterThanOrEqual(3 * 86_400)
        // pg_stat_statements is not preloaded on this server: absent, and not an error.
        expect(e.types.has("pg_stat_statements_calls")).toBe(false)
        expect(series(e, "dbkit_scrape_errors_total").filter((s) => s.value !== 0)).toEqual([])

        yield* Effect.promise(() => idle.query("ROLLBACK"))
        yield* Effect.promise(() => waiting)
      }).pipe(Effect.scoped, Effect.provide(ServerLive)),
    120_000
  )

  it.live(
    "a collector whose query fails is left out and counted once while concurrent scrapes share that one run",
    () =>
      Effect.gen(function*() {
        const scratch = yield* ScratchDatabase
        const url = yield* serving({
          migrations: writeFolder({}),
          backupDir: tempDir("dbkit-serve-backups-"),
          metrics: { queryTimeoutMs: 20_000, lockTimeoutMs: 5_000 }
        })
        const blocker = yield* session
        yield* Effect.promise(() =>
          blocker.query(`
          CREATE SCHEMA IF NOT EXISTS dbkit;
          CREATE TABLE dbkit.jobs (id bigserial, name text, kind text, started_at timestamptz, finished_at timestamptz,
            status text, error text, detail jsonb, host text, pid int);
        `)
        )
        yield* Effect.promise(() => blocker.query("BEGIN; LOCK TABLE dbkit.jobs IN ACCESS EXCLUSIVE MODE"))
        const first = Effect.runPromise(fetchText(`${url}/metrics`))
        // The scrape's session now waits for the lock on dbkit.jobs (until its lock_timeout).
        const probe = yield* session
        for (let i = 0; i < 300; i++) {
          const { rows } = yield* Effect.promise(() =>
            probe.query(
              "SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND wait_event_type = 'Lock'",
              [scratch.name]
            )
          )
          if (rows[0].n > 0) break
          yield* Effect.sleep("100 millis")
        }
        const others = yield* Effect.all(Array.from({ length: 4 }, () => fetchText(`${url}/metrics`)), {
          concurrency: "unbounded"
        })
        const answers = [yield* Effect.promise(() => first), ...others]
        expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 200, 200])
        // One run answered all five: the same text, down to the scrape's own duration.
        expect(new Set(answers.map((a) => a.body)).size).toBe(1)
        const e = parseExposition(answers[0]!.body)
        expect(value(e, "pg_up")).toBe(1)
        expect(e.types.has("dbkit_job_runs")).toBe(false)
        expect(value(e, "dbkit_scrape_errors_total", { collector: "jobs" })).toBe(1)
        expect(series(e, "dbkit_scrape_errors_total").filter((s) => s.value !== 0)).toHaveLength(1)
        expect(value(e, "pg_database_size_bytes", { datname: scratch.name })).toBeGreaterThan(0)
        yield* Effect.promise(() => blocker.query("ROLLBACK"))
        // The next scrape has the jobs table back (empty: no job names, so no series) and the count stays.
        const after = parseExposition((yield* fetchText(`${url}/metrics`)).body)
        expect(value(after, "dbkit_scrape_errors_total", { collector: "jobs" })).toBe(1)
      }).pipe(Effect.scoped, Effect.provide(ServerLive)),
    120_000
  )

  it.live(
    "a database that cannot be reached: pg_up 0 with status 200, from the first scrape",
    () =>
      Effect.gen(function*() {
        const port = yield* Effect.promise(freePort)
        const metrics = Serve.Metrics.layerResilient(
          Migrator.layer({ source: fromDirectory(writeFolder({})) }).pipe(
            Layer.provideMerge(Backup.layer),
            Layer.provideMerge(PgLive({ url: Redacted.make(`postgres://root@127.0.0.1:${port}/nowhere`) })),
            Layer.provide(Config.layerFrom({ backupDir: tempDir("dbkit-serve-backups-") })),
            Layer.provide(NodeContext.layer)
          )
        )
        const text = yield* Effect.flatMap(Serve.Metrics, (m) => m.scrape).pipe(Effect.provide(metrics))
        const e = parseExposition(text)
        expect(value(e, "pg_up")).toBe(0)
        expect(e.types.has("pg_stat_activity_count")).toBe(false)
      }).pipe(Effect.scoped),
    120_000
  )
})

describe("/metrics on the embedded database", () => {
  it.live(
    "the same scrape on PGlite: pg_up 1, every collector runs, a pending migration counted",
    () =>
      Effect.gen(function*() {
        const text = yield* Effect.flatMap(Serve.Metrics, (m) => m.scrape).pipe(
          Effect.provide(
            Serve.Metrics.layer().pipe(
              Layer.provide(
                Migrator.layer({ source: fromDirectory(writeFolder({ "001_first.sql": "CREATE TABLE t (x int);" })) })
              ),
              Layer.provide(Backup.layer),
              Layer.provide(Config.layerFrom({ backupDir: tempDir("dbkit-serve-backups-") })),
              Layer.provide(NodeContext.layer),
              Layer.provide(EmbeddedLive)
            )
          )
        )
        const e = parseExposition(text)
        expect(value(e, "pg_up")).toBe(1)
        expect(value(e, "dbkit_migrations_pending")).toBe(1)
        expect(value(e, "dbkit_backups")).toBe(0)
        expect(series(e, "pg_database_size_bytes").length).toBeGreaterThan(0)
        expect(series(e, "dbkit_scrape_errors_total").filter((s) => s.value !== 0)).toEqual([])
      }),
    120_000
  )
})

describe.skipIf(!server)("dbkit serve: who may read it", () => {
  it.live(
    "a host other than loopback without DBKIT_SERVE_TOKEN: refused before listening, exit 2",
    () =>
      Effect.gen(function*() {
        const result = yield* Effect.promise(() =>
          runCli(["serve", "--host", "0.0.0.0", "--port", "0"], { DATABASE_URL: "postgres://root@127.0.0.1:5432/test" })
        )
        expect(result.code).toBe(2)
        expect(result.stderr).toContain("DBKIT_SERVE_TOKEN")
        expect(result.stderr).not.toContain("listening")
      }),
    60_000
  )

  it.live(
    "with a token on 0.0.0.0: /livez open, the rest 401 without the right bearer token, never printed",
    () =>
      Effect.gen(function*() {
        const scratch = yield* ScratchDatabase
        const token = `tok-${Math.random().toString(36).slice(2)}${Math.random().toString(36).slice(2)}`
        const serve = yield* startServe({
          DATABASE_URL: Redacted.value(scratch.url),
          DBKIT_MIGRATIONS_DIR: writeFolder({}),
          DBKIT_BACKUP_DIR: tempDir("dbkit-serve-backups-"),
          DBKIT_SERVE_TOKEN: token
        }, ["--host", "0.0.0.0"])
        const base = `http://127.0.0.1:${serve.port}`
        expect((yield* fetchText(`${base}/livez`)).status).toBe(200)
        // Paths sent as written (fetch would resolve the dots first): none of them reaches a route past the check.
        const raw = (route: string) =>
          Effect.promise(() =>
            new Promise<number | undefined>((resolve, reject) =>
              http.get({ host: "127.0.0.1", port: serve.port, path: route }, (response) => {
                response.resume()
                resolve(response.statusCode)
              }).on("error", reject)
            )
          )
        for (
          const sneaky of ["/metrics;/../livez", "/;/../livez", "/health;/../livez", "/metrics/../livez", "//livez"]
        ) {
          expect([sneaky, yield* raw(sneaky)]).not.toEqual([sneaky, 200])
        }
        expect(yield* raw("/livez?probe=1")).toBe(200)
        for (const route of ["/metrics", "/readyz", "/health", "/", "/jobs"]) {
          expect([route, (yield* fetchText(`${base}${route}`)).status]).toEqual([route, 401])
          expect([route, (yield* fetchText(`${base}${route}`, `${token}x`)).status]).toEqual([route, 401])
        }
        const scraped = yield* fetchText(`${base}/metrics`, token)
        expect(scraped.status).toBe(200)
        expect(value(parseExposition(scraped.body), "pg_up")).toBe(1)
        const code = yield* Effect.promise(() => serve.stop("SIGTERM"))
        expect(code).toBe(0)
        expect(serve.output()).not.toContain(token)
      }).pipe(Effect.scoped, Effect.provide(ServerLive)),
    120_000
  )
})
