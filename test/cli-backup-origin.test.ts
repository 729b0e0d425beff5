// `dbkit backup`, `backups verify` and `restore` at the trust boundary, as a user runs them:
// signed manifests, unverified origin and --trust-unsigned, files that are no dump, --allow-empty,
// and --out values that cannot hold a backup.
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { randomBytes } from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"
import { gzipSync } from "node:zlib"
import { afterAll, beforeAll } from "vitest"
import { runCli } from "./support/cli.js"
import {
  admin,
  createScratchDatabase,
  dropScratchDatabase,
  queryAt,
  serverAvailable,
  tempDir,
  uniqueName
} from "./support/databases.js"

const server = await serverAvailable()

const databaseExists = async (name: string) =>
  (await admin<{ e: boolean }>("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1) AS e", [name]))[0]!.e

describe.skipIf(!server)("dbkit at the trust boundary, on the server", () => {
  let database: { name: string; url: string }
  const keyFile = path.join(tempDir("dbkit-cli-signing-"), "dbkit", "backup-signing.key")
  const env = () => ({ DATABASE_URL: database.url, DB_BACKUP_SIGNING_KEY_FILE: keyFile })
  beforeAll(async () => {
    database = await createScratchDatabase("dbkit_cli_origin")
    await queryAt(
      database.url,
      "CREATE TABLE items (id int PRIMARY KEY); INSERT INTO items SELECT generate_series(1, 7)"
    )
  })
  afterAll(async () => {
    await dropScratchDatabase(database.name)
  })

  it.effect("--out that is empty or not a directory is a usage error (exit 2), and writes nothing", () =>
    Effect.gen(function*() {
      const dir = tempDir("dbkit-cli-out-")
      const file = path.join(dir, "a-file")
      fs.writeFileSync(file, "")
      for (const out of ["", "   ", file, path.join(file, "below")]) {
        const result = yield* Effect.promise(() => runCli(["backup", "--out", out], env()))
        expect([out, result.code]).toEqual([out, 2])
        expect(result.stderr).toMatch(/error: --out .*(is empty|is a file|cannot be made)/)
        expect(result.stderr).not.toContain("unexpected error")
      }
      expect(fs.readdirSync(dir)).toEqual(["a-file"])
    }))

  it.effect("a backup's manifest is signed with a 0600 key the output never shows; without its signature it is of unverified origin and restores only with --trust-unsigned", () =>
    Effect.gen(function*() {
      const out = tempDir("dbkit-cli-origin-")
      const made = yield* Effect.promise(() => runCli(["backup", "--out", out], env()))
      expect(made.code).toBe(0)
      expect(made.stdout).toMatch(/manifest signed \(key id [0-9a-f]{8}\)/)
      expect(fs.statSync(keyFile).mode & 0o777).toBe(0o600)
      const key = fs.readFileSync(keyFile, "utf8").trim()
      const file = path.join(out, fs.readdirSync(out).find((f) => f.endsWith(".sql.gz"))!)
      const json = yield* Effect.promise(() => runCli(["backups", "verify", file, "--json"], env()))
      expect(JSON.parse(json.stdout)).toMatchObject({ origin: "signed" })
      const signed = yield* Effect.promise(() => runCli(["backups", "verify", file], env()))
      expect(signed.code).toBe(0)
      expect(signed.stdout).toContain("signed, checksum ok")

      const { signature: _dropped, ...unsigned } = JSON.parse(fs.readFileSync(`${file}.json`, "utf8"))
      fs.writeFileSync(`${file}.json`, JSON.stringify(unsigned))
      const unverified = yield* Effect.promise(() => runCli(["backups", "verify", file], env()))
      expect(unverified.code).toBe(0)
      expect(unverified.stdout).toContain("unverified origin (its manifest is not signed)")
      expect(unverified.stdout).not.toContain("checksum ok")
      const validated = yield* Effect.promise(() => runCli(["restore", file, "--validate-only"], env()))
      expect(validated.stdout).toContain("unverified origin")
      const name = uniqueName("dbkit_cli_origin")
      const refused = yield* Effect.promise(() => runCli(["restore", file, "--into", name], env()))
      expect(refused.code).toBe(14)
      expect(refused.stderr).toContain("unverified origin")
      expect(refused.stderr).toContain("--trust-unsigned")
      expect(yield* Effect.promise(() => databaseExists(name))).toBe(false)
      const production = yield* Effect.promise(() =>
        runCli(["restore", file, "--into", name], { ...env(), DB_ENV: "production" })
      )
      expect(production.code).toBe(14)
      expect(production.stderr).toContain("in production only --trust-unsigned")
      const trusted = yield* Effect.promise(() => runCli(["restore", file, "--into", name, "--trust-unsigned"], env()))
      try {
        expect(trusted.code).toBe(0)
        expect(trusted.stdout).toContain(`restored into ${name}`)
      } finally {
        yield* Effect.promise(() => dropScratchDatabase(name))
      }
      for (const r of [made, json, signed, unverified, validated, refused, production, trusted]) {
        expect(r.stdout + r.stderr).not.toContain(key)
      }
    }))

  it.effect("an empty file, random bytes or gzip of garbage: exit 14 (corrupt) in verify and restore, no database created", () =>
    Effect.gen(function*() {
      const dir = tempDir("dbkit-cli-not-dumps-")
      const files = {
        "empty.sql": Buffer.alloc(0),
        "random.bin": randomBytes(4096),
        "garbage.sql.gz": gzipSync(randomBytes(4096))
      }
      const name = uniqueName("dbkit_cli_not_a_dump")
      for (const [base, bytes] of Object.entries(files)) {
        const file = path.join(dir, base)
        fs.writeFileSync(file, bytes)
        const verified = yield* Effect.promise(() => runCli(["backups", "verify", file], env()))
        expect([base, verified.code]).toEqual([base, 14])
        expect(verified.stderr).toContain("is corrupt")
        const restored = yield* Effect.promise(() =>
          runCli(["restore", file, "--into", name, "--trust-unsigned"], env())
        )
        expect([base, restored.code]).toEqual([base, 14])
        expect(restored.stderr).toContain("is corrupt")
      }
      expect(yield* Effect.promise(() => databaseExists(name))).toBe(false)
    }))

  // Last: it leaves the database without tables.
  it.effect("restore over with a backup of no tables is refused (exit 14) unless --allow-empty", () =>
    Effect.gen(function*() {
      const out = tempDir("dbkit-cli-origin-")
      const made = yield* Effect.promise(() =>
        runCli(["backup", "--out", out, "--exclude-table", "*", "--json"], env())
      )
      expect(made.code).toBe(0)
      const file = JSON.parse(made.stdout).file as string
      const confirmed = { ...env(), DB_RESTORE_CONFIRM: "1", DBKIT_BACKUP_DIR: out }
      const refused = yield* Effect.promise(() => runCli(["restore", file], confirmed))
      expect(refused.code).toBe(14)
      expect(refused.stderr).toContain("--allow-empty")
      expect(
        (yield* Effect.promise(() => queryAt<{ n: number }>(database.url, "SELECT count(*)::int AS n FROM items")))[0]!
          .n
      ).toBe(7)
      const done = yield* Effect.promise(() =>
        runCli(["restore", file, "--allow-empty", "--terminate-connections"], confirmed)
      )
      expect(done.code).toBe(0)
      const tables = yield* Effect.promise(() =>
        queryAt<{ n: number }>(database.url, "SELECT count(*)::int AS n FROM pg_tables WHERE schemaname = 'public'")
      )
      expect(tables[0]!.n).toBe(0)
    }))
})
