// What killed backups and restores leave behind (a staging database, a .partial file): shown by
// `backups list`, removed by the next restore or backup of that database and by `backups prune`;
// and prune's own rules (never the newest backup; --keep-last 0 refused; guarded in production).
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { isStagingOf, parseStagingName, stagingName, stagingPrefix } from "../src/backup/leftovers.js"
import { selectForPruning } from "../src/backup/retention.js"
import { settingClause } from "../src/backup/targetLock.js"
import { nodeFlags, runCli } from "./support/cli.js"
import {
  admin,
  createScratchDatabase,
  dropScratchDatabase,
  queryAt,
  serverAvailable,
  tempDir
} from "./support/databases.js"

const server = await serverAvailable()
const bin = path.resolve(import.meta.dirname, "../bin/dbkit.mjs")
/** A server that does not answer: production needs a DATABASE_URL; listing and pruning files do not need it to answer. */
const nowhere = "postgres://root@127.0.0.1:1/nowhere"

describe("staging database names", () => {
  it("are unique per process and run, at most 63 characters, and name the database they belong to", () => {
    const target = "a_database_name_that_is_long_enough_to_be_cut_somewhere_x"
    const now = new Date("2026-12-06T17:00:00Z")
    const names = Array.from({ length: 50 }, () => stagingName(target, "restore", now))
    expect(new Set(names).size).toBe(50)
    expect(stagingName(target, "restore", now, 4194304).length).toBeLessThanOrEqual(63)
    expect(stagingName(target, "previous", now, 4194304).length).toBeLessThanOrEqual(63)
    expect(stagingName("shop", "restore", now, 4242).startsWith("shop_restore_20261206170000_4242_")).toBe(true)
    expect(isStagingOf(names[0]!, target)).toBe(true)
    expect(isStagingOf(stagingName("shop", "restore", now), "shop")).toBe(true)
    expect(isStagingOf(stagingName("shop_eu", "restore", now), "shop")).toBe(false)
    expect(isStagingOf(stagingName("shop", "previous", now), "shop")).toBe(false) // a kept replaced database is not a leftover
    expect(isStagingOf("shop_restore_20260101000000", "shop")).toBe(true) // the older naming
    expect(parseStagingName(stagingName("shop", "restore", now, 77))?.pid).toBe(77)
    // Two long names that start alike: different staging names, neither takes the other's.
    const eu1 = `${target}_1`
    const eu2 = `${target}_2`
    expect(stagingPrefix(eu1)).not.toBe(stagingPrefix(eu2))
    expect(isStagingOf(stagingName(eu1, "restore", now), eu2)).toBe(false)
  })

  it("database settings are carried over as the server stored them (a list setting element by element)", () => {
    expect(settingClause("work_mem=8MB")).toBe("work_mem = E'8MB'")
    expect(settingClause(`search_path="$user", public, "Odd ""one"""`)).toBe(
      `search_path = E'$user', E'public', E'Odd "one"'`
    )
    expect(settingClause("app.tenant=it's")).toBe("app.tenant = E'it''s'")
    expect(settingClause("bad name; DROP=1")).toBeUndefined()
  })
})

describe("prune keeps the newest backup", () => {
  const now = new Date("2026-06-30T12:00:00Z")
  const day = (n: number) => ({
    file: `b${n}`,
    createdAt: new Date(now.getTime() - n * 86_400_000).toISOString(),
    verified: null
  })

  it("whatever the rules say, verified or not", () => {
    const { keep, prune } = selectForPruning([day(3), day(1), day(2)], { keepDays: 0 }, now)
    expect(keep.map((b) => b.file)).toEqual(["b1"])
    expect(prune.map((b) => b.file)).toEqual(["b2", "b3"])
  })
})

/** A fake backup (file + manifest) in `dir`, made `daysAgo` days ago. */
const fakeBackup = (dir: string, daysAgo: number) => {
  const createdAt = new Date(Date.now() - daysAgo * 86_400_000).toISOString()
  const file = path.join(dir, `shop_backup_${createdAt.replace(/\D/g, "").slice(0, 14)}.sql.gz`)
  fs.writeFileSync(file, "x")
  fs.writeFileSync(
    `${file}.json`,
    JSON.stringify({ createdAt, database: "shop", environment: "development", encryption: null, format: "plain" })
  )
  return file
}

describe("backups prune's rules", () => {
  it.live("--keep-last 0 is a usage error (exit 2); the newest backup survives any rule; in production it needs DB_PRUNE_ALLOW_PRODUCTION and a confirmation", () =>
    Effect.gen(function*() {
      const dir = tempDir("dbkit-prune-")
      const files = [fakeBackup(dir, 1), fakeBackup(dir, 5), fakeBackup(dir, 9)]
      const zero = yield* Effect.promise(() => runCli(["backups", "prune", "--keep-last", "0", "--dir", dir]))
      expect(zero.code).toBe(2)
      expect(zero.stderr).toContain("--keep-last must be at least 1")
      expect(files.every((f) => fs.existsSync(f))).toBe(true)
      // Production: refused without both variables (exit 4), nothing deleted.
      const refused = yield* Effect.promise(() =>
        runCli(["backups", "prune", "--keep-days", "0", "--dir", dir, "--yes"], {
          DB_ENV: "production",
          DATABASE_URL: nowhere
        })
      )
      expect(refused.code).toBe(4)
      expect(refused.stderr).toContain("DB_PRUNE_ALLOW_PRODUCTION=1")
      const unconfirmed = yield* Effect.promise(() =>
        runCli(["backups", "prune", "--keep-days", "0", "--dir", dir], {
          DB_ENV: "production",
          DATABASE_URL: nowhere,
          DB_PRUNE_ALLOW_PRODUCTION: "1"
        })
      )
      expect(unconfirmed.code).toBe(4)
      expect(unconfirmed.stderr).toContain("DB_PRUNE_CONFIRM=1")
      expect(files.every((f) => fs.existsSync(f))).toBe(true)
      // A dry run needs no confirmation; then, allowed and confirmed, everything but the newest goes.
      const dry = yield* Effect.promise(() =>
        runCli(["backups", "prune", "--keep-days", "0", "--dir", dir, "--dry-run"], {
          DB_ENV: "production",
          DATABASE_URL: nowhere
        })
      )
      expect(dry.code).toBe(0)
      expect(dry.stdout).toContain("2 would be pruned, 1 kept")
      const done = yield* Effect.promise(() =>
        runCli(["backups", "prune", "--keep-days", "0", "--dir", dir, "--json"], {
          DB_ENV: "production",
          DATABASE_URL: nowhere,
          DB_PRUNE_ALLOW_PRODUCTION: "1",
          DB_PRUNE_CONFIRM: "1"
        })
      )
      expect(done.code, done.stderr).toBe(0)
      expect(JSON.parse(done.stdout).pruned).toHaveLength(2)
      expect(files.map((f) => fs.existsSync(f))).toEqual([true, false, false])
    }))

  it.live("a .partial file nobody writes is listed as a leftover and pruned; one being written is not", () =>
    Effect.gen(function*() {
      const dir = tempDir("dbkit-prune-")
      fakeBackup(dir, 1)
      const stale = path.join(dir, "shop_backup_2026-01-01_00-00-00.sql.gz.partial")
      fs.writeFileSync(stale, "half a backup")
      fs.utimesSync(stale, new Date(Date.now() - 60_000), new Date(Date.now() - 60_000))
      const writing = path.join(dir, "shop_backup_2026-01-02_00-00-00.sql.gz.partial")
      const fd = fs.openSync(writing, "w") // held open by this process: a backup in progress
      try {
        fs.utimesSync(writing, new Date(Date.now() - 60_000), new Date(Date.now() - 60_000))
        const listed = yield* Effect.promise(() => runCli(["backups", "list", "--dir", dir, "--json"]))
        expect(listed.code).toBe(0)
        const entries = JSON.parse(listed.stdout)
        expect(
          entries.filter((e: { leftover?: string }) => e.leftover === "partial file").map((e: { file: string }) =>
            e.file
          )
        ).toEqual([stale])
        const human = yield* Effect.promise(() => runCli(["backups", "list", "--dir", dir]))
        expect(human.stdout).toContain("LEFTOVER partial file")
        const pruned = yield* Effect.promise(() =>
          runCli(["backups", "prune", "--keep-last", "1", "--dir", dir, "--json"])
        )
        expect(pruned.code).toBe(0)
        expect(JSON.parse(pruned.stdout).leftoversRemoved.partialFiles).toEqual([stale])
        expect(fs.existsSync(stale)).toBe(false)
        expect(fs.existsSync(writing)).toBe(true)
      } finally {
        fs.closeSync(fd)
      }
    }))
})

/** Spawns `dbkit ...args` and SIGKILLs it once `ready` resolves true; resolves when it is gone. */
const killWhen = (args: ReadonlyArray<string>, env: Record<string, string>, ready: () => Promise<boolean>) =>
  Effect.promise(async () => {
    const base = { ...process.env }
    delete base.DATABASE_URL
    delete base.VITEST
    const child = spawn(process.execPath, [...nodeFlags, bin, ...args], {
      env: { ...base, CI: "true", ...env },
      stdio: "ignore"
    })
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()))
    const deadline = Date.now() + 60_000
    let caught = false
    while (Date.now() < deadline && child.exitCode === null) {
      if (await ready()) {
        child.kill("SIGKILL")
        caught = true
        break
      }
      await new Promise((resolve) => setTimeout(resolve, 25))
    }
    await exited
    return caught
  })

describe.skipIf(!server)("leftovers of a killed restore and a killed backup", () => {
  it.scopedLive(
    "kill -9 mid-restore leaves a staging database: `backups list` shows it, the next restore drops it; a killed backup's .partial goes with the next backup",
    () =>
      Effect.gen(function*() {
        const db = yield* Effect.acquireRelease(
          Effect.promise(() => createScratchDatabase("dbkit_left")),
          (db) => Effect.promise(() => dropScratchDatabase(db.name))
        )
        yield* Effect.promise(() =>
          queryAt(
            db.url,
            `CREATE TABLE payload (id int PRIMARY KEY, body text);
          INSERT INTO payload SELECT g, repeat(md5(g::text), 8) FROM generate_series(1, 200000) g`
          )
        )
        const out = tempDir("dbkit-left-")
        const env = { DATABASE_URL: db.url, DBKIT_BACKUP_DIR: out }
        const made = yield* Effect.promise(() => runCli(["backup", "--out", out, "--json"], env))
        expect(made.code, made.stderr).toBe(0)
        const file = JSON.parse(made.stdout).file as string
        const staging = () =>
          admin<{ datname: string }>(`SELECT datname FROM pg_database WHERE datname LIKE $1`, [
            `${stagingPrefix(db.name)}\\_restore\\_%`
          ]).then((rows) => rows.map((r) => r.datname))
        yield* Effect.addFinalizer(() =>
          Effect.promise(async () => {
            for (const name of await staging()) await admin(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`)
          })
        )
        // Killed while its staging database is being loaded.
        const killed = yield* killWhen(["restore", file, "--yes", "--no-safety-backup"], env, async () =>
          (await staging()).length > 0)
        expect(killed).toBe(true)
        const [left] = yield* Effect.promise(staging)
        expect(left).toBeDefined()
        // psql, orphaned, reads the end of its input and rolls back; then nobody is connected.
        yield* Effect.promise(async () => {
          for (let i = 0; i < 400; i++) {
            const connected = await admin(`SELECT 1 FROM pg_stat_activity WHERE datname = $1`, [left])
            if (connected.length === 0) {
              return
            }
            await new Promise((resolve) =>
              setTimeout(resolve, 50)
            )
          }
        })
        yield* Effect.sleep("1100 millis") // a leftover is older than the run that removes it (names are stamped to the second)
        const listed = yield* Effect.promise(() => runCli(["backups", "list", "--json"], env))
        expect(listed.code, listed.stderr).toBe(0)
        expect(JSON.parse(listed.stdout)).toContainEqual(
          expect.objectContaining({ leftover: "staging database", database: left })
        )
        const human = yield* Effect.promise(() => runCli(["backups", "list"], env))
        expect(human.stdout).toContain(`database ${left}`)
        expect(human.stdout).toContain("LEFTOVER staging database")
        // Without a server, the listing still works (files only).
        const offline = yield* Effect.promise(() =>
          runCli(["backups", "list", "--json"], { ...env, DATABASE_URL: "postgres://root@127.0.0.1:1/nowhere" })
        )
        expect(offline.code).toBe(0)
        expect(JSON.parse(offline.stdout).some((e: { leftover?: string }) => e.leftover === "staging database")).toBe(
          false
        )
        // The next restore of that database removes it, and says so.
        const restored = yield* Effect.promise(() =>
          runCli(["restore", file, "--yes", "--json"], env, { timeoutMs: 120_000 })
        )
        expect(restored.code, restored.stderr).toBe(0)
        expect(JSON.parse(restored.stdout).leftoversRemoved.stagingDatabases).toEqual([left])
        expect(yield* Effect.promise(staging)).toEqual([])
        // A backup killed mid-write leaves its .partial; the next backup of the database deletes it.
        const partials = () => fs.readdirSync(out).filter((name) => name.endsWith(".partial"))
        const killedBackup = yield* killWhen(["backup", "--out", out], env, async () => partials().length > 0)
        expect(killedBackup).toBe(true)
        const [partial] = partials()
        expect(partial).toBeDefined()
        const listedFiles = yield* Effect.promise(() => runCli(["backups", "list", "--dir", out, "--json"], env))
        expect(JSON.parse(listedFiles.stdout)).toContainEqual(
          expect.objectContaining({ leftover: "partial file", file: path.join(out, partial!) })
        )
        yield* Effect.sleep("50 millis")
        const next = yield* Effect.promise(() => runCli(["backup", "--out", out, "--json"], env))
        expect(next.code, next.stderr).toBe(0)
        expect(JSON.parse(next.stdout).leftoversRemoved).toEqual([path.join(out, partial!)])
        expect(partials()).toEqual([])
      }),
    240_000
  )

  it.live("`backups prune` drops a staging database nobody uses, not one a restore is loading", () =>
    Effect.gen(function*() {
      const db = yield* Effect.promise(() => createScratchDatabase("dbkit_left"))
      const old = `${stagingPrefix(db.name)}_restore_20260101000000_1_abcd`
      const busy = `${stagingPrefix(db.name)}_restore_20260101000000_2_efgh`
      yield* Effect.promise(() => admin(`CREATE DATABASE "${old}"`))
      yield* Effect.promise(() => admin(`CREATE DATABASE "${busy}"`))
      const { default: pg } = yield* Effect.promise(() => import("pg"))
      const loading = new pg.Client({ connectionString: db.url.replace(`/${db.name}`, `/${busy}`) })
      yield* Effect.promise(() => loading.connect())
      try {
        const dir = tempDir("dbkit-left-")
        const pruned = yield* Effect.promise(() =>
          runCli(["backups", "prune", "--keep-last", "1", "--dir", dir], { DATABASE_URL: db.url })
        )
        expect(pruned.code, pruned.stderr).toBe(0)
        expect(pruned.stdout).toContain(`dropped leftover staging database ${old}`)
        const left = yield* Effect.promise(() =>
          admin(`SELECT datname FROM pg_database WHERE datname IN ($1, $2)`, [old, busy])
        )
        expect(left.map((r) => r.datname)).toEqual([busy])
      } finally {
        yield* Effect.promise(() => loading.end())
        yield* Effect.promise(() => admin(`DROP DATABASE IF EXISTS "${old}" WITH (FORCE)`))
        yield* Effect.promise(() => admin(`DROP DATABASE IF EXISTS "${busy}" WITH (FORCE)`))
        yield* Effect.promise(() => dropScratchDatabase(db.name))
      }
    }))
})
