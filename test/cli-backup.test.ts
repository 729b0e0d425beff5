// `dbkit backup` / `dbkit backups` as a user runs them.
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { afterAll, beforeAll } from "vitest"
import { runCli } from "./support/cli.js"
import {
  createScratchDatabase,
  dropScratchDatabase,
  embeddedDataDir,
  serverAvailable,
  tempDir,
  uniqueName
} from "./support/databases.js"

const server = await serverAvailable()

describe.skipIf(!server)("dbkit backup on the server", () => {
  let database: { name: string; url: string }
  beforeAll(async () => {
    database = await createScratchDatabase("dbkit_cli_backup")
    const migrated = await runCli(["migrate"], { DATABASE_URL: database.url })
    if (migrated.code !== 0) throw new Error(migrated.stderr)
  })
  afterAll(async () => {
    await dropScratchDatabase(database.name)
  })

  it.effect("backs up, lists, verifies with a test restore; a changed file exits 14; secrets never printed", () =>
    Effect.gen(function*() {
      const out = tempDir("dbkit-cli-backups-")
      const key = "cli-secret-key-xyz"
      const env = { DATABASE_URL: database.url, DB_BACKUP_KEY: key }
      const made = yield* Effect.promise(() => runCli(["backup", "--out", out, "--json"], env))
      expect(made.code).toBe(0)
      const result = JSON.parse(made.stdout)
      expect(result.file.endsWith(".sql.gz.enc")).toBe(true)
      expect(fs.statSync(result.file).mode & 0o777).toBe(0o600)
      const listed = yield* Effect.promise(() => runCli(["backups", "list", "--dir", out], env))
      expect(listed.code).toBe(0)
      expect(listed.stdout).toContain(path.basename(result.file))
      const verified = yield* Effect.promise(() => runCli(["backups", "verify", result.file, "--restore-test"], env))
      expect(verified.code).toBe(0)
      expect(verified.stdout).toContain("test restore matched the manifest")
      const wrongKey = yield* Effect.promise(() =>
        runCli(["backups", "verify", result.file], { ...env, DB_BACKUP_KEY: "nope" })
      )
      expect(wrongKey.code).toBe(14)
      const bytes = fs.readFileSync(result.file)
      bytes[bytes.length - 40] = bytes[bytes.length - 40]! ^ 0xff
      fs.writeFileSync(result.file, bytes)
      const tampered = yield* Effect.promise(() => runCli(["backups", "verify", result.file], env))
      expect(tampered.code).toBe(14)
      expect(tampered.stderr).toContain("does not match its manifest")
      for (const r of [made, listed, verified, wrongKey, tampered]) expect(r.stdout + r.stderr).not.toContain(key)
      // Listing, checking and pruning files need no database: the server may be down.
      const down = { DATABASE_URL: "postgres://root:secret-pw@127.0.0.1:1/nowhere", DB_BACKUP_KEY: key }
      const offlineList = yield* Effect.promise(() => runCli(["backups", "list", "--dir", out, "--json"], down))
      expect(offlineList.code).toBe(0)
      expect(JSON.parse(offlineList.stdout)).toHaveLength(1)
      const offlinePrune = yield* Effect.promise(() =>
        runCli(["backups", "prune", "--keep-last", "1", "--dir", out, "--dry-run"], down)
      )
      expect(offlinePrune.code).toBe(0)
      expect(offlinePrune.stdout).toContain("0 would be pruned, 1 kept")
      const offlineVerify = yield* Effect.promise(() => runCli(["backups", "verify", result.file], down))
      expect(offlineVerify.code).toBe(14) // the tampered file, refused without a database
      const offlineTest = yield* Effect.promise(() =>
        runCli(["backups", "verify", result.file, "--restore-test"], down)
      )
      expect(offlineTest.code).toBe(3) // a test restore does need one
      for (const r of [offlineList, offlinePrune, offlineVerify, offlineTest]) {
        expect(r.stdout + r.stderr).not.toContain("secret-pw")
      }
    }))

  it.effect("restore --validate-only touches nothing; --into restores into a new database; an existing one is refused (exit 2)", () =>
    Effect.gen(function*() {
      const out = tempDir("dbkit-cli-backups-")
      const env = { DATABASE_URL: database.url }
      const made = JSON.parse((yield* Effect.promise(() => runCli(["backup", "--out", out, "--json"], env))).stdout)
      const valid = yield* Effect.promise(() => runCli(["restore", made.file, "--validate-only"], env))
      expect(valid.code).toBe(0)
      expect(valid.stdout).toContain("no database was touched")
      const name = uniqueName("dbkit_cli_into")
      try {
        const restored = yield* Effect.promise(() => runCli(["restore", made.file, "--into", name], env))
        expect(restored.code).toBe(0)
        expect(restored.stdout).toContain(`restored into ${name}`)
        const again = yield* Effect.promise(() => runCli(["restore", made.file, "--into", name], env))
        expect(again.code).toBe(2)
        expect(again.stderr).toContain("already exists")
      } finally {
        yield* Effect.promise(() => dropScratchDatabase(name))
      }
    }))

  it.effect("restore over the database: refused (exit 4) without confirmation or in production, done with DB_RESTORE_CONFIRM=1", () =>
    Effect.gen(function*() {
      const out = tempDir("dbkit-cli-backups-")
      const env = { DATABASE_URL: database.url, DBKIT_BACKUP_DIR: out }
      const made = JSON.parse((yield* Effect.promise(() => runCli(["backup", "--json"], env))).stdout)
      const refused = yield* Effect.promise(() => runCli(["restore", made.file], env))
      expect(refused.code).toBe(4)
      expect(refused.stderr).toContain("DB_RESTORE_CONFIRM=1")
      const production = yield* Effect.promise(() =>
        runCli(["restore", made.file], { ...env, DB_ENV: "production", DB_RESTORE_CONFIRM: "1" })
      )
      expect(production.code).toBe(4)
      expect(production.stderr).toContain("DB_RESTORE_ALLOW_PRODUCTION=1")
      const done = yield* Effect.promise(() => runCli(["restore", made.file], { ...env, DB_RESTORE_CONFIRM: "1" }))
      expect(done.code).toBe(0)
      expect(done.stdout).toContain("counts match the manifest")
      expect(done.stdout).toContain("the replaced database was backed up to")
    }))

  it.effect("contradictory options are a usage error (exit 2)", () =>
    Effect.gen(function*() {
      const result = yield* Effect.promise(() =>
        runCli(["backup", "--schema-only", "--data-only", "--out", tempDir()], { DATABASE_URL: database.url })
      )
      expect(result.code).toBe(2)
    }))
})

describe("dbkit backup on the embedded database", () => {
  it.effect("backs up the embedded database through PGlite's pg_dump", () =>
    Effect.gen(function*() {
      const dataDir = embeddedDataDir() // a fresh cluster, without waiting for initdb
      const out = tempDir("dbkit-cli-backups-")
      expect((yield* Effect.promise(() => runCli(["migrate"], { DBKIT_DATA_DIR: dataDir }))).code).toBe(0)
      const made = yield* Effect.promise(() => runCli(["backup", "--out", out], { DBKIT_DATA_DIR: dataDir }))
      expect(made.code).toBe(0)
      expect(fs.readdirSync(out).filter((f) => f.endsWith(".sql.gz"))).toHaveLength(1)
      const file = path.join(out, fs.readdirSync(out).find((f) => f.endsWith(".sql.gz"))!)
      const verified = yield* Effect.promise(() => runCli(["backups", "verify", file], { DBKIT_DATA_DIR: dataDir }))
      expect(verified.code).toBe(0)
    }))
})
