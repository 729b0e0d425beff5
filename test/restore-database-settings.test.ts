// What belongs to a database rather than to its dump — settings, ACL, comment, owner,
// connection limit — survives a restore over it; and reset --with-cache checks Redis first.
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { stagingPrefix } from "../src/backup/leftovers.js"
import { runCli } from "./support/cli.js"
import {
  admin,
  createScratchDatabase,
  dropScratchDatabase,
  queryAt,
  serverAvailable,
  tempDir
} from "./support/databases.js"

const server = await serverAvailable()

/** What pg_database and friends say about a database that no dump carries. */
const properties = (name: string) =>
  Effect.promise(async () => {
    const [db] = await admin(
      `SELECT pg_get_userbyid(d.datdba) AS owner, d.datconnlimit AS connlimit, d.datacl::text[] AS acl,
              shobj_description(d.oid, 'pg_database') AS comment
         FROM pg_database d WHERE d.datname = $1`,
      [name]
    )
    const settings = await admin(
      `SELECT coalesce(pg_get_userbyid(NULLIF(s.setrole, 0)), '') AS role, s.setconfig::text[] AS config
         FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase WHERE d.datname = $1 ORDER BY 1`,
      [name]
    )
    return { ...db, settings }
  })

describe.skipIf(!server)("a restore over a server database", () => {
  it.scopedLive("keeps the database's own settings, ACL, comment, owner and connection limit (and the replaced copy is gone)", () =>
    Effect.gen(function*() {
      const db = yield* Effect.acquireRelease(
        Effect.promise(() => createScratchDatabase("dbkit_props")),
        (db) => Effect.promise(() => dropScratchDatabase(db.name))
      )
      const role = `${db.name.slice(0, 40)}_app`
      yield* Effect.acquireRelease(
        Effect.promise(() => admin(`CREATE ROLE "${role}" NOLOGIN`)),
        () => Effect.promise(() => dropScratchDatabase(db.name).then(() => admin(`DROP ROLE IF EXISTS "${role}"`)))
      )
      const q = `"${db.name}"`
      yield* Effect.promise(() =>
        admin(`ALTER DATABASE ${q} SET work_mem = '8MB';
          ALTER DATABASE ${q} SET search_path = "$user", public, "Extra Schema";
          ALTER ROLE "${role}" IN DATABASE ${q} SET statement_timeout = '5s';
          REVOKE CONNECT, TEMPORARY ON DATABASE ${q} FROM PUBLIC;
          GRANT CONNECT ON DATABASE ${q} TO "${role}";
          COMMENT ON DATABASE ${q} IS 'orders — don''t drop';
          ALTER DATABASE ${q} CONNECTION LIMIT 50;
          ALTER DATABASE ${q} OWNER TO "${role}"`)
      )
      yield* Effect.promise(() =>
        queryAt(db.url, `CREATE TABLE orders (id int PRIMARY KEY); INSERT INTO orders SELECT generate_series(1, 5)`)
      )
      const before = yield* properties(db.name)
      expect(before.acl.some((entry: string) => entry.startsWith("=T") || entry.startsWith("=c"))).toBe(false)
      const out = tempDir("dbkit-props-")
      const env = { DATABASE_URL: db.url, DBKIT_BACKUP_DIR: out }
      const made = yield* Effect.promise(() => runCli(["backup", "--out", out, "--json"], env))
      expect(made.code, made.stderr).toBe(0)
      const restored = yield* Effect.promise(() =>
        runCli(["restore", JSON.parse(made.stdout).file, "--yes", "--json"], env, { timeoutMs: 120_000 })
      )
      expect(restored.code, restored.stderr).toBe(0)
      expect(JSON.parse(restored.stdout).safetyBackup).not.toBeNull()
      expect(yield* properties(db.name)).toEqual(before)
      expect(before).toMatchObject({ owner: role, connlimit: 50, comment: "orders — don't drop" })
      expect(before.settings).toEqual([
        { role: "", config: expect.arrayContaining(["work_mem=8MB", `search_path="$user", public, "Extra Schema"`]) },
        { role, config: ["statement_timeout=5s"] }
      ])
      const n = (yield* Effect.promise(() =>
        queryAt<{ n: number }>(db.url, "SELECT count(*)::int AS n FROM orders")
      ))[0]!.n
      expect(n).toBe(5)
      const copies = yield* Effect.promise(() =>
        admin(`SELECT datname FROM pg_database WHERE datname LIKE $1 OR datname LIKE $2`, [
          `${stagingPrefix(db.name)}\\_restore\\_%`,
          `${stagingPrefix(db.name)}\\_previous\\_%`
        ])
      )
      expect(copies).toEqual([])
    }))
})

describe.skipIf(!server)("reset --with-cache", () => {
  it.scopedLive("with Redis unreachable fails before touching the database: exit 3, one line, no stack trace, every row still there", () =>
    Effect.gen(function*() {
      const db = yield* Effect.acquireRelease(
        Effect.promise(() => createScratchDatabase("dbkit_cache")),
        (db) => Effect.promise(() => dropScratchDatabase(db.name))
      )
      const env = {
        DATABASE_URL: db.url,
        DB_RESET_CONFIRM: "1",
        REDIS_URL: "redis://:hunter2@127.0.0.1:1/0",
        DB_CACHE_PREFIX: "app:"
      }
      const migrated = yield* Effect.promise(() => runCli(["migrate"], env))
      expect(migrated.code, migrated.stderr).toBe(0)
      yield* Effect.promise(() => queryAt(db.url, `INSERT INTO organizations (slug, name) VALUES ('kept', 'Kept')`))
      for (const mode of ["--hard", "--soft"]) {
        const reset = yield* Effect.promise(() => runCli(["reset", mode, "--with-cache"], env))
        expect(reset.code).toBe(3)
        expect(reset.stderr).toContain("cannot clear the cache at 127.0.0.1:1/0")
        expect(reset.stderr.split("\n").filter((line) => line.startsWith("error:"))).toHaveLength(1)
        expect(reset.stderr).toMatch(/ECONNREFUSED|refused/)
        expect(reset.stderr).not.toMatch(/\n\s+at |ioredis|Unhandled/)
        expect(reset.stderr + reset.stdout).not.toContain("hunter2")
        const n = (yield* Effect.promise(() =>
          queryAt<{ n: number }>(db.url, "SELECT count(*)::int AS n FROM organizations")
        ))[0]!.n
        expect(n).toBe(1)
      }
    }))
})
