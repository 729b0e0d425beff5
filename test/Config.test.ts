import { describe, expect, it } from "@effect/vitest"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { load } from "../src/Config.js"

const loadWith = (env: Record<string, string>) =>
  load.pipe(Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env)))))

describe("DbConfig", () => {
  it.effect("with nothing set, selects the embedded database in development with the documented defaults", () =>
    Effect.gen(function*() {
      // Outside any project (no dbkit.config.* in the working directory).
      const outside = fs.mkdtempSync(path.join(os.tmpdir(), "dbkit-config-"))
      const home = process.cwd()
      const config = yield* Effect.acquireUseRelease(
        Effect.sync(() => process.chdir(outside)),
        () => loadWith({}),
        () => Effect.sync(() => (process.chdir(home), fs.rmSync(outside, { recursive: true, force: true })))
      )
      expect(Option.isNone(config.databaseUrl)).toBe(true)
      expect(config.environment).toBe("development")
      expect(config.dataDir).toBe(".dbkit/pglite")
      expect(config.migrationsDir).toBe("migrations")
      expect(config.backupDir).toBe("backups")
      expect(config.poolSize).toBe(10)
      expect(config.applicationName).toBe("dbkit")
    }))

  it.effect("in a project, the folders the variables leave open come from its dbkit.config.ts (resolved against its folder)", () =>
    Effect.gen(function*() {
      // The repository is itself a project: its dbkit.config.ts says migrations/ and backups/.
      const fromFile = yield* loadWith({})
      expect(fromFile.migrationsDir).toBe(path.resolve("migrations"))
      expect(fromFile.backupDir).toBe(path.resolve("backups"))
      const fromVariables = yield* loadWith({ DBKIT_MIGRATIONS_DIR: "db/sql", DBKIT_BACKUP_DIR: "db/backups" })
      expect([fromVariables.migrationsDir, fromVariables.backupDir]).toEqual(["db/sql", "db/backups"])
    }))

  it.effect("keeps DATABASE_URL redacted: printing the config never shows the password", () =>
    Effect.gen(function*() {
      const config = yield* loadWith({ DATABASE_URL: "postgres://app:s3cr3t@db.internal:5432/app" })
      const url = Option.getOrThrow(config.databaseUrl)
      expect(Redacted.value(url)).toContain("s3cr3t")
      expect(String(url)).not.toContain("s3cr3t")
      expect(JSON.stringify(config)).not.toContain("s3cr3t")
    }))

  it.effect("treats an empty DATABASE_URL as unset", () =>
    Effect.gen(function*() {
      const config = yield* loadWith({ DATABASE_URL: "" })
      expect(Option.isNone(config.databaseUrl)).toBe(true)
    }))

  it.effect("DB_ENV wins over NODE_ENV, which wins over the default", () =>
    Effect.gen(function*() {
      expect((yield* loadWith({ DB_ENV: "staging", NODE_ENV: "test" })).environment).toBe("staging")
      expect((yield* loadWith({ NODE_ENV: "production" })).environment).toBe("production")
      expect((yield* loadWith({ DB_ENV: " Production " })).environment).toBe("production")
    }))

  it.effect("an unknown environment is InvalidConfig naming the variable it came from", () =>
    Effect.gen(function*() {
      const fromDbEnv = yield* Effect.flip(loadWith({ DB_ENV: "prod" }))
      expect(fromDbEnv._tag).toBe("InvalidConfig")
      expect(fromDbEnv.variable).toBe("DB_ENV")
      expect(fromDbEnv.message).toContain("development, test, staging, production")
      const fromNodeEnv = yield* Effect.flip(loadWith({ NODE_ENV: "dev" }))
      expect(fromNodeEnv.variable).toBe("NODE_ENV")
    }))

  it.effect("a malformed DATABASE_URL is InvalidConfig that does not echo the value", () =>
    Effect.gen(function*() {
      for (const bad of ["not a url with s3cr3t", "mysql://u:s3cr3t@h/db", "postgres://u:s3cr3t@h:5432/"]) {
        const error = yield* Effect.flip(loadWith({ DATABASE_URL: bad }))
        expect(error._tag).toBe("InvalidConfig")
        expect(error.variable).toBe("DATABASE_URL")
        expect(error.message).not.toContain("s3cr3t")
      }
    }))

  it.effect("a pool size that is not a positive integer is InvalidConfig for DB_POOL_SIZE", () =>
    Effect.gen(function*() {
      expect((yield* Effect.flip(loadWith({ DB_POOL_SIZE: "many" }))).variable).toBe("DB_POOL_SIZE")
      expect((yield* Effect.flip(loadWith({ DB_POOL_SIZE: "0" }))).variable).toBe("DB_POOL_SIZE")
      expect((yield* loadWith({ DB_POOL_SIZE: "3" })).poolSize).toBe(3)
    }))
})
