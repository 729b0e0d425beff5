// `dbkit serve` scraped by a real Prometheus (Debian's /usr/bin/prometheus, every second) beside
// postgres_exporter on the same scratch database: the series arrive under the names and labels
// dashboards expect, and conditions induced in the database show up through PromQL — a session
// idle in a transaction whose age grows, a migration left unapplied, the newest backup's age.
// With CI=true a missing prometheus or postgres_exporter fails the file.
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as fs from "node:fs"
import * as path from "node:path"
import pg from "pg"
import { runCli } from "./support/cli.js"
import { ScratchDatabase, serverAvailable, ServerLive, tempDir } from "./support/databases.js"
import { writeFolder } from "./support/migrations.js"
import { exporterBinary, prometheusBinary, startExporter, startPrometheus, startServe } from "./support/prometheus.js"

const server = await serverAvailable()
const prometheus = prometheusBinary()
const exporter = exporterBinary()

describe.skipIf(!server || prometheus === undefined || exporter === undefined)("dbkit serve under Prometheus", () => {
  it.live(
    "series scraped every second; an idle transaction, a pending migration and an old backup seen through PromQL",
    () =>
      Effect.gen(function*() {
        const scratch = yield* ScratchDatabase
        const url = Redacted.value(scratch.url)
        const migrations = writeFolder({ "001_first.sql": "CREATE TABLE first_table (x int);" })
        const backupDir = tempDir("dbkit-serve-prom-backups-")
        const env = { DATABASE_URL: url, DBKIT_MIGRATIONS_DIR: migrations, DBKIT_BACKUP_DIR: backupDir }
        expect((yield* Effect.promise(() => runCli(["migrate"], env))).code).toBe(0)

        const serve = yield* startServe(env)
        const pgExporter = yield* startExporter(exporter!, url)
        const prom = yield* startPrometheus(prometheus!, [
          { job: "dbkit", address: `127.0.0.1:${serve.port}` },
          { job: "postgres_exporter", address: pgExporter.address }
        ])
        const db = `datname="${scratch.name}"`

        // Two scrapes in, each accepted whole (Prometheus drops a scrape with one bad line: up would be 0).
        yield* prom.until(`count_over_time(up{job="dbkit"}[5m]) >= 2`, (v) => v.length === 1)
        expect((yield* prom.query(`up{job="dbkit"}`))[0]?.value).toBe(1)
        expect((yield* prom.query(`pg_up{job="dbkit"}`))[0]?.value).toBe(1)
        expect((yield* prom.query(`dbkit_migrations_pending{job="dbkit"}`))[0]?.value).toBe(0)
        expect((yield* prom.query(`dbkit_migrations_applied{job="dbkit"}`))[0]?.value).toBe(1)
        expect((yield* prom.query(`dbkit_backups{job="dbkit"}`))[0]?.value).toBe(0)
        expect(yield* prom.query(`dbkit_backup_newest_age_seconds{job="dbkit"}`)).toEqual([])
        expect((yield* prom.query(`pg_database_size_bytes{job="dbkit",${db}}`))[0]?.value).toBeGreaterThan(0)
        expect(yield* prom.query(`sum(dbkit_scrape_errors_total{job="dbkit"})`)).toEqual([
          { metric: {}, value: 0 }
        ])

        // A session idle in a transaction: its age appears under postgres_exporter's name and grows.
        const idle = new pg.Client({ connectionString: url })
        idle.on("error", () => undefined) // the scratch database is dropped WITH (FORCE) at the end
        yield* Effect.acquireRelease(
          Effect.promise(() => idle.connect().then(() => idle.query("BEGIN; SELECT 1"))),
          () => Effect.promise(() => idle.end().catch(() => undefined))
        )
        const txAge = `pg_stat_activity_max_tx_duration{job="dbkit",${db},state="idle in transaction"}`
        const first = yield* prom.until(txAge, (v) => (v[0]?.value ?? 0) > 0)
        yield* prom.until(txAge, (v) => (v[0]?.value ?? 0) > first[0]!.value + 1)
        // Both exporters count the session alike, under the same name and labels (the exporter adds `server`).
        const idleCount = `pg_stat_activity_count{${db},state="idle in transaction"}`
        const both = yield* prom.until(idleCount, (v) => v.length === 2 && v.every((s) => s.value === 1))
        expect(both.map((s) => s.metric.job).sort()).toEqual(["dbkit", "postgres_exporter"])

        // A migration added to the folder and not applied.
        writeFolder({ "002_second.sql": "CREATE TABLE second_table (x int);" }, migrations)
        yield* prom.until(`dbkit_migrations_pending{job="dbkit"}`, (v) => v[0]?.value === 1)

        // A backup whose manifest says it was taken ten days ago.
        const file = path.join(backupDir, `${scratch.name}_backup_old.sql.gz`)
        fs.writeFileSync(file, Buffer.alloc(4096))
        const tenDaysAgo = new Date(Date.now() - 10 * 86_400_000)
        fs.writeFileSync(
          `${file}.json`,
          JSON.stringify({
            createdAt: tenDaysAgo.toISOString(),
            database: scratch.name,
            environment: "test",
            encryption: null,
            format: "plain"
          })
        )
        yield* prom.until(`dbkit_backup_newest_age_seconds{job="dbkit"} > 7 * 86400`, (v) => v.length === 1)
        expect((yield* prom.query(`dbkit_backups{job="dbkit"}`))[0]?.value).toBe(1)
        expect((yield* prom.query(`dbkit_backup_newest_size_bytes{job="dbkit"}`))[0]?.value).toBe(4096)
        expect(yield* prom.query(`time() - dbkit_backup_newest_timestamp_seconds{job="dbkit"} > 7 * 86400`))
          .toHaveLength(1)

        const code = yield* Effect.promise(() => serve.stop("SIGTERM"))
        expect(code).toBe(0)
      }).pipe(Effect.scoped, Effect.provide(ServerLive)),
    240_000
  )
})
