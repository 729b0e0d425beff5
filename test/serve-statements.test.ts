// pg_stat_statements through `dbkit serve`, on a private cluster that preloads it (the shared server
// does not): /metrics' top statements labelled by query id and never by text, and the dashboard's
// Queries page listing them normalised — a literal in a statement shows nowhere.
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { pitrTools, startCluster } from "./support/cluster.js"
import { queryAt, tempDir } from "./support/databases.js"
import { writeFolder } from "./support/migrations.js"
import { fetchText, parseExposition, startServe } from "./support/prometheus.js"

const tools = pitrTools()
const binDir = "binDir" in tools ? tools.binDir : ""

describe.skipIf("skip" in tools)("top statements (pg_stat_statements loaded)", () => {
  it.scoped(
    "/metrics labels them by query id, the Queries page shows them normalised; no literal leaks",
    () =>
      Effect.gen(function*() {
        const cluster = yield* startCluster(binDir, {
          settings: ["shared_preload_libraries = 'pg_stat_statements'", "pg_stat_statements.track = all"]
        })
        const literal = "literal-never-shown-7f3a"
        yield* Effect.promise(async () => {
          await queryAt(cluster.url, "CREATE EXTENSION pg_stat_statements")
          await queryAt(cluster.url, "CREATE TABLE notes (id int PRIMARY KEY, body text)")
          for (let i = 0; i < 25; i++) {
            await queryAt(cluster.url, `INSERT INTO notes VALUES (${i}, '${literal}')`)
          }
          await queryAt(cluster.url, `SELECT count(*) FROM notes WHERE body = '${literal}'`)
        })
        const serve = yield* startServe({
          DATABASE_URL: cluster.url,
          DBKIT_MIGRATIONS_DIR: writeFolder({}),
          DBKIT_BACKUP_DIR: tempDir("dbkit-statements-")
        })
        const scraped = yield* fetchText(`${serve.url}/metrics`)
        expect(scraped.status).toBe(200)
        const exposition = parseExposition(scraped.body)
        const calls = exposition.samples.filter((s) => s.name === "pg_stat_statements_calls")
        expect(calls.length).toBeGreaterThan(0)
        expect(calls.length).toBeLessThanOrEqual(20) // bounded label cardinality
        for (const sample of calls) {
          expect(Object.keys(sample.labels).sort()).toEqual(["datname", "queryid", "rolname"])
          expect(sample.labels["queryid"]).toMatch(/^-?\d+$/)
        }
        // The 25 inserts are one normalised statement: some series counts them all.
        expect(Math.max(...calls.map((s) => s.value))).toBeGreaterThanOrEqual(25)
        expect(scraped.body).not.toContain(literal)
        expect(scraped.body).not.toContain("INSERT INTO")

        const page = yield* fetchText(`${serve.url}/queries`)
        expect(page.status).toBe(200)
        expect(page.body).toContain("Top statements")
        expect(page.body).toMatch(/INSERT INTO notes VALUES \(\$1, \$2\)/)
        expect(page.body).not.toContain(literal)
        expect(yield* Effect.promise(() => serve.stop("SIGTERM"))).toBe(0)
      }),
    180_000
  )
})
