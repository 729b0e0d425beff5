// `DB_RESTORE_CONFIRM=1 dbkit restore FILE` on the embedded database, as a user runs it.
import { describe, expect, it } from "@effect/vitest"
import { PGlite } from "@electric-sql/pglite"
import * as Effect from "effect/Effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { runCli } from "./support/cli.js"
import { embeddedDataDir, tempDir } from "./support/databases.js"

/** Runs SQL on the data directory while no dbkit process has it open. */
const onDataDir = (dataDir: string, sql: string) =>
  Effect.promise(async () => {
    const pg = await PGlite.create(dataDir)
    try {
      const results = await pg.exec(sql)
      return results.at(-1)?.rows ?? []
    } finally {
      await pg.close()
    }
  })

describe("dbkit restore on the embedded database", () => {
  it.effect("replaces the data with the backup's (exit 0, safety backup first); --validate-only opens no database", () =>
    Effect.gen(function*() {
      const dataDir = embeddedDataDir() // a fresh cluster, without waiting for initdb
      const backupDir = tempDir("dbkit-restore-cli-")
      const env = { DBKIT_DATA_DIR: dataDir, DBKIT_BACKUP_DIR: backupDir }
      expect((yield* Effect.promise(() => runCli(["migrate"], env))).code).toBe(0)
      yield* onDataDir(
        dataDir,
        "INSERT INTO organizations (slug, name) SELECT 'o' || i, 'Org ' || i FROM generate_series(1, 20) i"
      )
      const made = yield* Effect.promise(() => runCli(["backup", "--json"], env))
      expect(made.code).toBe(0)
      const file = JSON.parse(made.stdout).file as string
      yield* onDataDir(dataDir, "DELETE FROM organizations WHERE slug <> 'o1'; CREATE TABLE junk (x int)")

      const restored = yield* Effect.promise(() => runCli(["restore", file], { ...env, DB_RESTORE_CONFIRM: "1" }))
      expect(restored.stderr).toBe(`dbkit restore · development · embedded ${dataDir}\n`) // the banner only
      expect(restored.code).toBe(0)
      // 20 organizations + the 8 rows of dbkit's migration history
      expect(restored.stdout).toMatch(/restored postgres from .*: \d+ tables, 28 rows, counts match the manifest/)
      expect(restored.stdout).toMatch(/the replaced database was backed up to .*postgres_backup_.*\.sql\.gz/)
      expect(
        yield* onDataDir(
          dataDir,
          "SELECT count(*)::int AS n, to_regclass('public.junk') IS NULL AS gone FROM organizations"
        )
      ).toEqual([
        { n: 20, gone: true }
      ])

      // No database is opened or created, and none needs to be reachable.
      const nowhere = path.join(tempDir(), "never-created")
      const validated = yield* Effect.promise(() =>
        runCli(["restore", "--validate-only", file], {
          DBKIT_DATA_DIR: nowhere,
          DATABASE_URL: "postgres://nobody@127.0.0.1:1/none"
        })
      )
      expect(validated.code).toBe(0)
      expect(validated.stdout).toContain("valid")
      expect(fs.existsSync(nowhere)).toBe(false)
    }))
})
