// The dashboard of `dbkit serve` over a real scratch database: its router served on port 0,
// read with plain HTTP (content, escaping, headers) and by a real headless Chromium (the DOM it
// builds and a screenshot of each page); the sampler driven by TestClock.
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as HttpServer from "@effect/platform/HttpServer"
import * as SqlClient from "@effect/sql/SqlClient"
import { describe, expect, it, layer } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"
import * as fs from "node:fs"
import { createServer } from "node:http"
import * as os from "node:os"
import * as path from "node:path"
import pg from "pg"
import * as Backup from "../src/backup/Backup.js"
import * as Config from "../src/Config.js"
import * as Health from "../src/health/Health.js"
import * as Maintenance from "../src/maintenance/Maintenance.js"
import * as Migrator from "../src/migrator/Migrator.js"
import { fromDirectory } from "../src/migrator/source.js"
import { lineChart } from "../src/serve/dashboard/chart.js"
import * as Dashboard from "../src/serve/dashboard/Dashboard.js"
import { document, escape, html } from "../src/serve/dashboard/html.js"
import * as Pages from "../src/serve/dashboard/pages.js"
import * as Sampler from "../src/serve/dashboard/Sampler.js"
import { chromiumBinary, dumpDom, isPng, screenshot } from "./support/chromium.js"
import { EmbeddedLive, queryAt, ScratchDatabase, serverAvailable, ServerLive, tempDir } from "./support/databases.js"
import { writeFolder } from "./support/migrations.js"

const server = await serverAvailable()
const chromium = server ? chromiumBinary() : undefined

const backupDir = tempDir("dbkit-dashboard-backups-")
const migrations = writeFolder({
  "001_first.sql": "CREATE TABLE dash_first (x int);",
  "002_second.sql": "CREATE TABLE dash_second (x int);"
})

/** The dashboard served on a free loopback port, with the services it reads from over `database`. */
const servedOver = <A>(database: Layer.Layer<A>) =>
  HttpServer.serve(Dashboard.router).pipe(
    Layer.provideMerge(NodeHttpServer.layer(createServer, { port: 0, host: "127.0.0.1" })),
    Layer.provideMerge(Layer.mergeAll(Health.layer(), Maintenance.layer())),
    Layer.provideMerge(Migrator.layer({ source: fromDirectory(migrations) })),
    Layer.provideMerge(Backup.layer),
    Layer.provideMerge(Config.layerFrom({ backupDir })),
    Layer.provideMerge(NodeContext.layer),
    Layer.provideMerge(database)
  )

const Served = servedOver(ServerLive)

const pagePaths = ["/", "/queries", "/space", "/indexes", "/maintenance", "/backups", "/jobs", "/migrations"]

// Names a user could give their objects; each must reach the page as text.
const scriptTable = `<script>alert('table')</script>`
const imgIndex = `<img src=x onerror=alert(1)>`
const scriptApp = `<script>alert("app")</script>`

const baseUrl = Effect.map(HttpServer.HttpServer, (s) => {
  const address = s.address as HttpServer.TcpAddress
  return `http://127.0.0.1:${address.port}`
})

const get = (pathname: string) =>
  Effect.flatMap(baseUrl, (base) =>
    Effect.promise(async () => {
      const response = await fetch(base + pathname)
      return { status: response.status, headers: response.headers, body: await response.text() }
    }))

const scratchUrl = Effect.map(ScratchDatabase, (s) => Redacted.value(s.url))

const sqlAt = (text: string, params: Array<unknown> = []) =>
  Effect.flatMap(scratchUrl, (url) => Effect.promise(() => queryAt(url, text, params)))

/** Polls (real time) until `done`, at most `timeoutMs`; returns the last value for the assertion. */
const eventually = <A, E, R>(effect: Effect.Effect<A, E, R>, done: (a: A) => boolean, timeoutMs = 30_000) =>
  Effect.gen(function*() {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const value = yield* effect
      if (done(value) || Date.now() > deadline) return value
      yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 200)))
    }
  })

/** No element, attribute or script came from the database's names. */
const expectNoInjectedMarkup = (body: string) => {
  expect(body).not.toMatch(/<script/i)
  expect(body).not.toMatch(/<img/i)
  expect(body).not.toContain(`alert("app")</`)
}

/** A table and indexes named like markup, rows deleted for dead tuples, a duplicate and a never-scanned index. */
const createFixtures = sqlAt(`
  CREATE TABLE "${scriptTable.replace(/"/g, "\"\"")}" (id int PRIMARY KEY, note text);
  INSERT INTO "${scriptTable}" SELECT i, 'note ' || i FROM generate_series(1, 4000) i;
  DELETE FROM "${scriptTable}" WHERE id <= 3000;
  CREATE INDEX "${imgIndex}" ON "${scriptTable}" (note);
  CREATE INDEX dash_duplicate_note ON "${scriptTable}" (note);
`)

describe.skipIf(!server)("the dashboard over HTTP", () => {
  layer(Served, { timeout: 120_000, excludeTestServices: true })((it) => {
    it.effect(
      "serves every page as HTML with the navigation, no-store and a CSP that allows no script",
      () =>
        Effect.gen(function*() {
          yield* createFixtures
          for (const pathname of pagePaths) {
            const page = yield* get(pathname)
            expect(page.status, pathname).toBe(200)
            expect(page.headers.get("content-type")).toBe("text/html; charset=utf-8")
            expect(page.headers.get("cache-control")).toBe("no-store")
            expect(page.headers.get("content-security-policy")).toContain("default-src 'none'")
            expect(page.body.startsWith("<!doctype html>")).toBe(true)
            for (const link of pagePaths) expect(page.body).toContain(`href="${link}"`)
            expect(page.body).toContain(`aria-current="page"`)
            expectNoInjectedMarkup(page.body)
          }
          // Read-only: nothing but GET is routed.
          const post = yield* Effect.flatMap(
            baseUrl,
            (base) => Effect.promise(() => fetch(`${base}/`, { method: "POST" }).then((r) => r.status))
          )
          expect(post).toBe(404)
        }),
      120_000
    )

    it.effect(
      "shows a table and indexes named like markup as text on space, indexes and maintenance",
      () =>
        Effect.gen(function*() {
          // Statistics reach the views once the writing session flushed them.
          yield* eventually(
            sqlAt(`SELECT n_dead_tup::int AS dead FROM pg_stat_user_tables WHERE relname = $1`, [scriptTable]),
            (rows) => (rows[0]?.dead ?? 0) >= 3000
          )
          const space = yield* get("/space")
          expect(space.body).toContain(escape(`public.${scriptTable}`))
          expect(space.body).toContain(escape(`public.${imgIndex}`))
          expectNoInjectedMarkup(space.body)

          const indexes = yield* get("/indexes")
          expect(indexes.body).toContain("duplicate-indexes")
          // The duplicate check names both indexes on the table, escaped.
          expect(indexes.body).toContain(escape(`${imgIndex}, dash_duplicate_note`))
          expect(indexes.body).toContain("never scanned")
          expectNoInjectedMarkup(indexes.body)

          const maintenance = yield* get("/maintenance")
          expect(maintenance.body).toContain("Dead tuples, vacuum and analyze")
          expect(maintenance.body).toContain(
            `<td>${
              escape(`public.${scriptTable}`)
            }</td><td><span class="num">1,000</span></td><td><span class="num">3,000</span>`
          )
          // db maintain's plan proposes vacuuming it, with the statement quoted for SQL and escaped for HTML.
          expect(maintenance.body).toContain(escape(`VACUUM (ANALYZE) "public"."${scriptTable}"`))
          expectNoInjectedMarkup(maintenance.body)
        }),
      120_000
    )

    it.effect(
      "lists a running session with its application name as text and its statement by first keyword",
      () =>
        Effect.gen(function*() {
          const url = yield* scratchUrl
          const client = new pg.Client({ connectionString: url, application_name: scriptApp })
          yield* Effect.promise(() => client.connect())
          const sleeping = client.query("SELECT pg_sleep(120) /* secret literal 'ada@example.com' */").catch(() => null)
          yield* Effect.addFinalizer(() =>
            Effect.promise(async () => {
              await queryAt(url, `SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE application_name = $1`, [
                scriptApp
              ])
              await sleeping
              await client.end()
            })
          )
          const page = yield* eventually(get("/queries"), (p) => p.body.includes(escape(scriptApp)))
          expect(page.body).toContain(escape(scriptApp))
          expect(page.body).toContain("<code>SELECT</code>")
          expect(page.body).not.toContain("ada@example.com")
          expect(page.body).toContain("Top statements")
          expectNoInjectedMarkup(page.body)
        }).pipe(Effect.scoped),
      120_000
    )

    it.effect(
      "says no jobs recorded until dbkit.jobs exists, then lists the last runs with status, error and detail",
      () =>
        Effect.gen(function*() {
          const before = yield* get("/jobs")
          expect(before.body).toContain("no jobs recorded")
          yield* sqlAt(`
          CREATE SCHEMA IF NOT EXISTS dbkit;
          CREATE TABLE dbkit.jobs (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, name text NOT NULL,
            kind text NOT NULL, started_at timestamptz NOT NULL, finished_at timestamptz, status text NOT NULL,
            error text, detail jsonb, host text, pid int);
          INSERT INTO dbkit.jobs (name, kind, started_at, finished_at, status, error, detail, host, pid) VALUES
            ('nightly-backup', 'backup', now() - interval '2 hours', now() - interval '2 hours' + interval '42 seconds',
             'succeeded', NULL, '{"file": "app_backup.sql.gz"}', 'db-host-1', 4242),
            ('vacuum', 'maintain', now() - interval '1 hour', now() - interval '1 hour' + interval '3 seconds',
             'failed', 'lock timeout on <b>orders</b>', '{"note": "<i>x</i>"}', 'db-host-1', 4243);
        `)
          const after = yield* get("/jobs")
          expect(after.body).not.toContain("no jobs recorded")
          const rows = after.body.match(/<tr><td>/g) ?? []
          expect(rows).toHaveLength(2)
          // Newest first.
          expect(after.body.indexOf("vacuum")).toBeLessThan(after.body.indexOf("nightly-backup"))
          expect(after.body).toContain(`<span class="badge critical">failed</span>`)
          expect(after.body).toContain(`<span class="badge ok">succeeded</span>`)
          expect(after.body).toContain("42 s")
          expect(after.body).toContain("db-host-1 pid 4243")
          expect(after.body).toContain(escape("lock timeout on <b>orders</b>"))
          expect(after.body).toContain(escape(`{"note": "<i>x</i>"}`))
          expect(after.body).not.toMatch(/<b>|<i>/)
        }),
      120_000
    )

    it.effect("shows applied and pending migrations, and a backup with its verification", () =>
      Effect.gen(function*() {
        yield* Effect.flatMap(Migrator.Migrator, (m) => m.migrate({ to: "001_first" }))
        const migrationsPage = yield* get("/migrations")
        expect(migrationsPage.body).toContain(`<span class="badge warn">1 pending</span>`)
        expect(migrationsPage.body).toMatch(/<tr><td>001_first<\/td><td>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC<\/td>/)
        expect(migrationsPage.body).toContain(`<li><span class="badge warn">002_second</span></li>`)

        const none = yield* get("/backups")
        expect(none.body).toContain("no backup found")
        const backup = yield* Effect.flatMap(Backup.Backup, (b) => b.backup())
        const unverified = yield* get("/backups")
        expect(unverified.body).toContain(path.basename(backup.file))
        expect(unverified.body).toContain(`<span class="badge warn">not verified</span>`)
        yield* Effect.flatMap(Backup.Backup, (b) => b.verify(backup.file))
        const verified = yield* get("/backups")
        expect(verified.body).toContain(`<span class="badge ok">verified</span>`)
        expect(verified.body).not.toContain("not verified")
      }), 120_000)

    it.effect(
      "the overview grades the health checks and charts no samples until the sampler ran",
      () =>
        Effect.gen(function*() {
          const page = yield* get("/")
          expect(page.body).toMatch(/Overall <span class="badge (ok|warn|critical)">/)
          expect(page.body).toContain(`<td>connectivity</td><td><span class="badge ok">ok</span>`)
          expect(page.body).toContain("client connections / max_connections")
          expect(page.body).toMatch(/<div class="value">\d[\d.]* (kB|MB)<\/div><div class="label">database size/)
          expect((page.body.match(/<svg /g) ?? []).length).toBe(4)
          expect(page.body).toContain("no samples yet")
        }),
      120_000
    )
  })
})

describe.skipIf(!server)("the dashboard's sampler", () => {
  layer(ServerLive, { timeout: 120_000 })((it) => {
    it.effect(
      "the sampler stores a sample each minute of the Clock and deletes samples past the retention",
      () =>
        Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          // Dead tuples the sampler must count, flushed to the statistics by the session's end.
          yield* sqlAt(
            `CREATE TABLE churn (id int); INSERT INTO churn SELECT generate_series(1, 500); DELETE FROM churn`
          )
          yield* eventually(
            sqlAt(`SELECT n_dead_tup::int AS dead FROM pg_stat_user_tables WHERE relname = 'churn'`),
            (rows) => (rows[0]?.dead ?? 0) >= 500
          )
          const start = Date.parse("2026-12-07T04:00:00Z")
          yield* TestClock.setTime(start)
          const sampler = yield* Effect.map(Layer.build(Sampler.layer()), Context.get(Sampler.Sampler))
          const passed = (n: number) => Stream.runDrain(Stream.take(Stream.filter(sampler.passes, (p) => p >= n), 1))
          const at = (ms: number) => new Date(ms).toISOString()
          const metricsAt = (ms: number) =>
            sql<{ metric: string; value: number }>`SELECT metric, value FROM dbkit.samples WHERE taken_at = ${
              at(ms)
            }::timestamptz ORDER BY metric`

          yield* passed(1)
          const first = yield* metricsAt(start)
          // No transaction rate yet: it needs two readings of the counter.
          expect(first.map((r) => r.metric)).toEqual(["connections", "database_bytes", "dead_tuples"])
          expect(first.find((r) => r.metric === "database_bytes")!.value).toBeGreaterThan(1_000_000)
          expect(first.find((r) => r.metric === "dead_tuples")!.value).toBeGreaterThanOrEqual(500)

          // One past the retention (2 days), one inside it.
          yield* sql`INSERT INTO dbkit.samples (taken_at, metric, value) VALUES
          (${at(start - 3 * 86_400_000)}::timestamptz, 'connections', 1),
          (${at(start - 86_400_000)}::timestamptz, 'connections', 2)`
          // Transactions the second pass must count: each session's commits are counted when it ends.
          const xacts = sqlAt(
            `SELECT (xact_commit + xact_rollback)::float8 AS n FROM pg_stat_database WHERE datname = current_database()`
          )
          const [before] = yield* xacts
          for (let i = 0; i < 5; i++) yield* sqlAt("SELECT 1")
          yield* eventually(xacts, (rows) => rows[0]!.n >= before!.n + 5)
          yield* TestClock.adjust("1 minute")
          yield* passed(2)
          const second = yield* metricsAt(start + 60_000)
          expect(second.map((r) => r.metric)).toEqual(["connections", "database_bytes", "dead_tuples", "transactions"])
          // At least those 5 in the minute between the passes.
          expect(second.find((r) => r.metric === "transactions")!.value).toBeGreaterThanOrEqual(5 / 60)
          const old = yield* sql<{ value: number }>`SELECT value FROM dbkit.samples
          WHERE taken_at < ${at(start - 3_600_000)}::timestamptz ORDER BY taken_at`
          expect(old.map((r) => r.value)).toEqual([2])
        }).pipe(Effect.scoped),
      120_000
    )
  })
})

describe.skipIf(!server || chromium === undefined)("the dashboard in a real browser (headless Chromium)", () => {
  layer(Served, { timeout: 300_000, excludeTestServices: true })((it) => {
    it.effect(
      "renders every page: headings, navigation, table rows, the charts' paths; a screenshot of each",
      () =>
        Effect.gen(function*() {
          const base = yield* baseUrl
          yield* createFixtures
          // A day of samples, one every 10 minutes: a real pass makes the table, then history is added.
          yield* Effect.flatMap(Sampler.make(), (sampler) => sampler.sample)
          yield* sqlAt(`INSERT INTO dbkit.samples (taken_at, metric, value)
          SELECT now() - i * interval '10 minutes', metric, 10 + (i % 7) * 3
            FROM generate_series(1, 140) i, unnest(ARRAY['connections', 'transactions', 'dead_tuples', 'database_bytes']) metric`)
          const shots = process.env.DBKIT_SCREENSHOT_DIR ??
            fs.mkdtempSync(path.join(os.tmpdir(), "dbkit-dashboard-shots-"))
          fs.mkdirSync(shots, { recursive: true })
          console.log(`dashboard screenshots: ${shots}`)

          const headings: Record<string, string> = {
            "/": "Overview",
            "/queries": "Queries",
            "/space": "Space",
            "/indexes": "Indexes",
            "/maintenance": "Maintenance",
            "/backups": "Backups",
            "/jobs": "Jobs",
            "/migrations": "Migrations"
          }
          for (const pathname of pagePaths) {
            const dom = yield* Effect.promise(() => dumpDom(chromium!, base + pathname))
            expect(dom, pathname).toContain(`<h1>${headings[pathname]}</h1>`)
            expect(dom).toMatch(new RegExp(`<a href="${pathname}" class="active" aria-current="page">`))
            expectNoInjectedMarkup(dom)
            const file = path.join(shots, `${pathname === "/" ? "overview" : pathname.slice(1)}.png`)
            yield* Effect.promise(() => screenshot(chromium!, base + pathname, file))
            expect(fs.statSync(file).size, file).toBeGreaterThan(5_000)
            expect(isPng(file)).toBe(true)
          }

          const overview = yield* Effect.promise(() => dumpDom(chromium!, `${base}/`))
          const paths = [...overview.matchAll(/<path class="series" d="([^"]+)"/g)].map((m) => m[1]!)
          expect(paths).toHaveLength(4)
          for (const d of paths) expect((d.match(/L/g) ?? []).length).toBeGreaterThanOrEqual(100)
          expect(overview).toMatch(/<td>connectivity<\/td><td><span class="badge ok">ok<\/span>/)

          // The browser built a table row per table, with the markup-like name as text.
          const space = yield* Effect.promise(() => dumpDom(chromium!, `${base}/space`))
          expect(space).toContain(`<td>public.${escape(scriptTable).replace(/&#39;/g, "'")}</td>`)
        }),
      300_000
    )
  })
})

describe("the dashboard on the embedded database", () => {
  layer(servedOver(EmbeddedLive), { timeout: 120_000, excludeTestServices: true })((it) => {
    it.effect("every page answers from PGlite, and a sample pass records its figures", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        yield* sql.unsafe(`CREATE TABLE "${scriptTable}" (id int PRIMARY KEY)`)
        const pass = yield* Effect.flatMap(Sampler.make(), (sampler) => sampler.sample)
        expect(pass.samples.map((s) => s.metric)).toEqual(["connections", "dead_tuples", "database_bytes"])
        const stored = yield* sql<{ n: number }>`SELECT count(*)::int AS n FROM dbkit.samples`
        expect(stored[0]!.n).toBe(3)
        for (const pathname of pagePaths) {
          const page = yield* get(pathname)
          expect(page.status, pathname).toBe(200)
          expect(page.body, pathname).not.toContain(`class="failure"`)
          expectNoInjectedMarkup(page.body)
        }
        const space = yield* get("/space")
        expect(space.body).toContain(escape(`public.${scriptTable}`))
        const overview = yield* get("/")
        expect((overview.body.match(/<path class="series"/g) ?? []).length).toBe(3)
      }), 120_000)
  })
})

describe("the dashboard's markup", () => {
  it("escapes every interpolated value, inside text and attributes, and keeps markup it built itself", () => {
    const name = `"><script>alert(1)</script>`
    expect(html`<td title="${name}">${name}</td>`.value).toBe(
      `<td title="&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;">&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;</td>`
    )
    expect(html`<ul>${["<a>", html`<li>${"&"}</li>`, null, undefined, false, 0]}</ul>`.value).toBe(
      `<ul>&lt;a&gt;<li>&amp;</li>0</ul>`
    )
  })

  it("links every page under the path the router is mounted at", () => {
    const page = document({ base: "/dashboard", path: "/jobs", title: "Jobs", target: "db", body: "" }).value
    expect(page).toContain(`<a href="/dashboard/">Overview</a>`)
    expect(page).toContain(`<a href="/dashboard/jobs" class="active" aria-current="page">Jobs</a>`)
  })

  it("shows pg_stat_statements' statements as text, a table's name in them included", () => {
    const stats = {
      statsSince: "2026-12-01T00:00:00.000Z",
      topQueries: {
        status: "ok" as const,
        detail: "top 1 statements by total execution time",
        queries: [{
          query: `SELECT * FROM "</code><script>x()</script>" WHERE id = $1`,
          calls: 12,
          totalMs: 3.5,
          meanMs: 0.29,
          rows: 12
        }]
      },
      tables: [],
      indexes: [],
      recommendations: []
    }
    const page =
      Pages.queries({ sessions: Either.right([]), stats: Either.right(stats), thresholds: Health.defaultThresholds })
        .value
    expect(page).toContain(
      `<code>SELECT * FROM &quot;&lt;/code&gt;&lt;script&gt;x()&lt;/script&gt;&quot; WHERE id = $1</code>`
    )
    expect(page).not.toMatch(/<script/)
    expect(page).toContain(`<span class="num">12</span>`)
  })

  it("a section that could not be read says why, and the rest of the page still renders", () => {
    const page = Pages.maintenance({
      plan: Either.left("permission denied for table <secret>"),
      tables: Either.right([])
    }).value
    expect(page).toContain(
      `<strong>What dbkit db maintain would do could not be read:</strong> permission denied for table &lt;secret&gt;`
    )
    expect(page).toContain("Dead tuples, vacuum and analyze</h2><p class=\"empty\">no table</p>")
  })

  it("charts the samples inside the window as one path, and says when there are none", () => {
    const from = Date.parse("2026-12-06T05:00:00Z")
    const to = from + 86_400_000
    const points = [
      { at: from - 60_000, value: 99 }, // before the window: left out
      { at: from, value: 0 },
      { at: from + 43_200_000, value: 10 },
      { at: to, value: 5 }
    ]
    const chart = lineChart(points, { title: "Connections", format: String, from, to, width: 208, height: 132 }).value
    // x: 4 + fraction × 200; y: 16 + 100 − value/10 × 100.
    expect(chart).toContain(`d="M4.0 116.0 L104.0 16.0 L204.0 66.0"`)
    expect(chart).toContain("now 5")
    expect(chart).toContain("max 10")
    const empty = lineChart([], { title: "Connections", format: String, from, to }).value
    expect(empty).toContain("no samples yet")
    expect(empty).not.toContain("<path")
  })

  it("a transaction rate needs two readings of the counter, and none across a statistics reset", () => {
    expect(Sampler.transactionRate(undefined, { at: 60_000, total: 100 })).toBeUndefined()
    expect(Sampler.transactionRate({ at: 0, total: 100 }, { at: 60_000, total: 700 })).toBe(10)
    expect(Sampler.transactionRate({ at: 0, total: 700 }, { at: 60_000, total: 100 })).toBeUndefined()
  })
})
