// Extensions on the embedded database: the ones a project's migrations create and PGlite ships
// are loaded for it; one it does not ship stops the run with a one-line error naming it.
import * as SqlClient from "@effect/sql/SqlClient"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as fs from "node:fs"
import * as path from "node:path"
import { ExitCode } from "../src/cli/exitCodes.js"
import { EmbeddedExtensionUnavailable, PgliteLive } from "../src/Database.js"
import { extensionsCreatedBy, requestedByMigrations } from "../src/embedded/extensions.js"
import { runCli } from "./support/cli.js"
import { embeddedDataDir, pgliteTemplate, tempDir } from "./support/databases.js"
import { writeFolder } from "./support/migrations.js"

/** Builds a layer and returns its failure, if it fails. */
const buildFailure = <A, E>(l: Layer.Layer<A, E>) => Effect.flip(Effect.scoped(Layer.build(l)))

/** Environment for runCli that makes dbkit report, at exit, the PGlite extension bundles it loaded. */
const reportingBundles = () => {
  const preload = path.join(tempDir("dbkit-ext-"), "report-bundles.cjs")
  fs.writeFileSync(
    preload,
    `process.on("exit", () => process.stderr.write("bundles: " + JSON.stringify(Object.keys(require.cache)` +
      `.filter((f) => f.includes("pglite") && f.includes("contrib")).map((f) => require("path").basename(f))) + "\\n"))\n`
  )
  return { NODE_OPTIONS: `--require ${preload}` }
}
const bundlesLoaded = (stderr: string): Array<string> | undefined => {
  const line = stderr.split("\n").find((l) => l.startsWith("bundles: "))
  return line === undefined ? undefined : (JSON.parse(line.slice("bundles: ".length)) as Array<string>).sort()
}

const uuidOf = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

describe("which extensions a migrations folder creates", () => {
  it("reads CREATE EXTENSION with IF NOT EXISTS, quoted names and any case, skipping comments", () => {
    expect(extensionsCreatedBy([
      "CREATE EXTENSION IF NOT EXISTS pgcrypto;",
      "create extension \"uuid-ossp\" with schema public;",
      "-- CREATE EXTENSION postgis;",
      "/* CREATE EXTENSION timescaledb; */",
      "Create Extension Btree_Gin;"
    ].join("\n"))).toEqual(["pgcrypto", "uuid-ossp", "btree_gin"])
  })

  it("names the first file creating each extension, in subfolders too (drizzle-kit layouts)", () => {
    const dir = writeFolder({
      "0001_a.sql": "CREATE EXTENSION citext;",
      "0002_b.sql": "CREATE EXTENSION IF NOT EXISTS citext; CREATE EXTENSION hstore;",
      "nested/0003_c.sql": "CREATE EXTENSION ltree;",
      "notes.txt": "CREATE EXTENSION postgis;"
    })
    expect(requestedByMigrations(dir)).toEqual([
      { name: "citext", file: "0001_a.sql" },
      { name: "hstore", file: "0002_b.sql" },
      { name: "ltree", file: path.join("nested", "0003_c.sql") }
    ])
    expect(requestedByMigrations(path.join(dir, "missing"))).toEqual([])
  })
})

describe("PgliteLive loads the extensions it is given", () => {
  it.live("an in-memory database with extensions: [\"pgcrypto\", \"uuid-ossp\"] can create and use them", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* sql`CREATE EXTENSION pgcrypto`
      yield* sql.unsafe(`CREATE EXTENSION "uuid-ossp"`)
      const rows = yield* sql<{ digest: string; id: string }>`
        SELECT encode(digest('abc', 'sha256'), 'hex') AS digest, uuid_generate_v4()::text AS id`
      expect(rows[0]!.digest).toBe("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
      expect(rows[0]!.id).toMatch(uuidOf)
    }).pipe(
      Effect.provide(
        PgliteLive({ dataDir: "memory://", loadDataDir: pgliteTemplate(), extensions: ["pgcrypto", "uuid-ossp"] })
      )
    ))

  it.live("without it, CREATE EXTENSION pgcrypto fails (the test above could fail)", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const error = yield* Effect.flip(sql`CREATE EXTENSION pgcrypto`)
      expect(String(error.cause)).toContain("pgcrypto")
    }).pipe(Effect.provide(PgliteLive({ dataDir: "memory://", loadDataDir: pgliteTemplate() }))))

  it.live("an extension PGlite does not ship is EmbeddedExtensionUnavailable, and no data directory is made", () =>
    Effect.gen(function*() {
      const dataDir = path.join(tempDir("dbkit-ext-"), "db")
      const error = yield* buildFailure(PgliteLive({ dataDir, extensions: ["postgis"] }))
      expect(error).toBeInstanceOf(EmbeddedExtensionUnavailable)
      expect(error.message).toBe(
        `the embedded database cannot load extension "postgis"; run against a PostgreSQL server (set DATABASE_URL)`
      )
      expect(fs.existsSync(dataDir)).toBe(false)
    }))
})

describe("dbkit migrate on the embedded database (no DATABASE_URL)", () => {
  it.live("dbkit --help imports no extension bundle, even with a migrations folder naming some", () =>
    Effect.gen(function*() {
      const migrations = writeFolder({ "001_ext.sql": "CREATE EXTENSION pgcrypto;" })
      const result = yield* Effect.promise(() =>
        runCli(["--help"], { DBKIT_MIGRATIONS_DIR: migrations, ...reportingBundles() })
      )
      expect(result.code).toBe(0)
      expect(bundlesLoaded(result.stderr)).toEqual([])
    }))

  it.live("applies migrations creating pgcrypto, btree_gin and uuid-ossp, whose functions and index then work", () =>
    Effect.gen(function*() {
      const root = tempDir("dbkit-ext-")
      const dataDir = embeddedDataDir(path.join(root, "db")) // a fresh cluster, without waiting for initdb
      const migrations = writeFolder({
        "001_ext.sql": [
          "-- the extensions this project needs",
          "CREATE EXTENSION IF NOT EXISTS pgcrypto;",
          "CREATE EXTENSION IF NOT EXISTS btree_gin;",
          "CREATE EXTENSION IF NOT EXISTS \"uuid-ossp\";",
          "CREATE TABLE things (",
          "  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),",
          "  legacy_id uuid NOT NULL DEFAULT uuid_generate_v4(),",
          "  rank int NOT NULL",
          ");",
          "CREATE INDEX things_rank_gin ON things USING gin (rank);",
          "INSERT INTO things (rank) VALUES (1), (2), (3);"
        ].join("\n")
      }, path.join(root, "migrations"))
      const env = { DBKIT_DATA_DIR: dataDir, DBKIT_MIGRATIONS_DIR: migrations, ...reportingBundles() }
      const migrated = yield* Effect.promise(() => runCli(["migrate"], env))
      expect(migrated.code, migrated.stderr).toBe(0)
      expect(migrated.stdout).toContain("001_ext")
      expect(bundlesLoaded(migrated.stderr)).toEqual(["btree_gin.cjs", "pgcrypto.cjs", "uuid_ossp.cjs"])
      // Drift replays the migrations into a scratch PGlite, which gets the same extensions.
      const drift = yield* Effect.promise(() => runCli(["migrate", "drift"], env))
      expect(drift.code, drift.stderr).toBe(0)

      // A reopened database gets the same extensions: the folder still names them.
      const check = Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const rows = yield* sql<
          { id: string; legacy_id: string; rank: number }
        >`SELECT id::text, legacy_id::text, rank FROM things ORDER BY rank`
        expect(rows.map((r) => r.rank).slice(0, 3)).toEqual([1, 2, 3])
        for (const row of rows) (expect(row.id).toMatch(uuidOf), expect(row.legacy_id).toMatch(uuidOf))
        const fresh = yield* sql<{ id: string }>`INSERT INTO things (rank) VALUES (4) RETURNING legacy_id::text AS id`
        expect(fresh[0]!.id).toMatch(uuidOf)
        const index = yield* sql<{ am: string }>`
          SELECT am.amname AS am FROM pg_class c JOIN pg_am am ON am.oid = c.relam WHERE c.relname = 'things_rank_gin'`
        expect(index[0]!.am).toBe("gin")
      })
      yield* check.pipe(Effect.provide(PgliteLive({ dataDir, migrationsDir: migrations })))

      // With the migration gone, the extensions installed in the data directory still load.
      fs.rmSync(path.join(migrations, "001_ext.sql"))
      yield* check.pipe(Effect.provide(PgliteLive({ dataDir })))
    }))

  it.live("a migration creating postgis fails in one line naming it and the file, before any data directory exists", () =>
    Effect.gen(function*() {
      const root = tempDir("dbkit-ext-")
      const dataDir = path.join(root, "db")
      const migrations = writeFolder({
        "0001_init.sql": "CREATE TABLE places (id int PRIMARY KEY);",
        "0003_geo.sql": "CREATE EXTENSION IF NOT EXISTS pgcrypto;\nCREATE EXTENSION postgis;\n"
      }, path.join(root, "migrations"))
      const result = yield* Effect.promise(() =>
        runCli(["migrate"], { DBKIT_DATA_DIR: dataDir, DBKIT_MIGRATIONS_DIR: migrations })
      )
      expect(result.code).toBe(ExitCode.unavailable)
      const lines = result.stderr.trim().split("\n")
      expect(lines).toEqual([
        `error: the embedded database cannot load extension "postgis" (migration 0003_geo.sql); run against a PostgreSQL server (set DATABASE_URL)`
      ])
      expect(fs.existsSync(dataDir)).toBe(false)
    }))
})
