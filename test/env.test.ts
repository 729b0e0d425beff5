/**
 * Environments: the config file in each accepted format, variables over it, typed errors that
 * name the field (and never echo a password), `env list` / `env check` as a user runs them, and
 * `env diff` / `env promote` between two real databases.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as fs from "node:fs"
import * as path from "node:path"
import { defineConfig, load } from "../src/ProjectConfig.js"
import { runCli } from "./support/cli.js"
import {
  createScratchDatabase,
  dropScratchDatabase,
  queryAt,
  serverAvailable,
  tempDir,
  urlFor
} from "./support/databases.js"
import { writeFolder } from "./support/migrations.js"

const server = await serverAvailable()

const root = tempDir("dbkit-env-")
/** A fresh project folder (one temp root for the file: a listener per temp dir adds up). */
const folder = () => fs.mkdtempSync(path.join(root, "p-"))

const loadIn = (files: Record<string, string>, env: Record<string, string> = {}) => {
  const dir = writeFolder(files, folder())
  return { dir, result: load({ cwd: dir, env }) }
}

const failure = <A, E>(effect: Effect.Effect<A, E>) =>
  Effect.map(Effect.either(effect), (e) => (Either.isLeft(e) ? e.left : undefined))

describe("the deploy config file", () => {
  it.effect("dbkit.config.ts with defineConfig is transpiled and decoded; defaults fill the rest", () =>
    Effect.gen(function*() {
      expect(defineConfig({ environments: {} })).toEqual({ environments: {} })
      const { dir, result } = loadIn({
        "dbkit.config.ts": `import { defineConfig } from "dbkit"
const seconds: number = 7
export default defineConfig({
  migrationsDir: "db/migrations",
  environments: { staging: { urlEnv: "STAGE_URL", lint: "strict", lockTimeout: seconds * 1000, backupRetention: { keepLast: 2 } } }
})`
      })
      const config = yield* result
      expect(config.file).toBe(path.join(dir, "dbkit.config.ts"))
      expect(config.migrationsDir).toBe(path.join(dir, "db/migrations"))
      const staging = config.environments.staging
      expect(staging).toMatchObject({
        urlEnv: "STAGE_URL",
        lint: "strict",
        confirm: true,
        backupRetention: { keepLast: 2 },
        target: "(STAGE_URL not set)"
      })
      expect(Duration.toMillis(staging.lockTimeout)).toBe(7000)
      expect(config.environments.production).toMatchObject({
        lint: "strict",
        confirm: true,
        seedProfile: "reference",
        urlEnv: "PRODUCTION_DATABASE_URL"
      })
      expect(config.environments.development).toMatchObject({
        lint: "warn",
        confirm: false,
        urlEnv: "DATABASE_URL",
        target: "embedded"
      })
    }))

  it.effect("dbkit.config.mjs and dbkit.config.json are read too, and DBKIT_CONFIG names another file", () =>
    Effect.gen(function*() {
      const mjs = yield* loadIn({ "dbkit.config.mjs": `export default { environments: { test: { lint: "off" } } }` })
        .result
      expect(mjs.environments.test.lint).toBe("off")
      const json = yield* loadIn({
        "dbkit.config.json": JSON.stringify({ environments: { staging: { seedProfile: "test" } } })
      }).result
      expect(json.environments.staging.seedProfile).toBe("test")
      const named = yield* loadIn({
        "ops/deploy.json": JSON.stringify({ environments: { production: { lockTimeout: "2 seconds" } } })
      }, { DBKIT_CONFIG: "ops/deploy.json" }).result
      expect(named.file).toMatch(/ops\/deploy\.json$/)
      expect(named.environments.production.sources.lockTimeout).toBe("file")
    }))

  it.effect("DBKIT_<ENV>_* variables override the file, and env list says where each value came from", () =>
    Effect.gen(function*() {
      const { result } = loadIn(
        { "dbkit.config.json": JSON.stringify({ environments: { staging: { lint: "warn", urlEnv: "STAGE_URL" } } }) },
        {
          DBKIT_STAGING_LINT: "strict",
          DBKIT_STAGING_BACKUP_KEEP_LAST: "4",
          STAGE_URL: "postgres://app:pw1234@db.internal:5432/shop"
        }
      )
      const staging = (yield* result).environments.staging
      expect(staging.lint).toBe("strict")
      expect(staging.sources.lint).toBe("env:DBKIT_STAGING_LINT")
      expect(staging.backupRetention).toEqual({ keepLast: 4 })
      expect(staging.target).toBe("app@db.internal:5432/shop")
      expect(Option.isSome(staging.url)).toBe(true)
      expect(staging.urlSource).toBe("env:STAGE_URL")
    }))

  it.effect("a bad file is an InvalidConfig error naming the field; a password in a url is refused without being echoed", () =>
    Effect.gen(function*() {
      const lint = yield* failure(
        loadIn({ "dbkit.config.json": JSON.stringify({ environments: { staging: { lint: "sometimes" } } }) }).result
      )
      expect(lint?._tag).toBe("InvalidConfig")
      expect(lint?.message).toContain("dbkit.config.json: environments.staging.lint")
      const typo = yield* failure(
        loadIn({ "dbkit.config.json": JSON.stringify({ environments: { stagin: {} } }) }).result
      )
      expect(typo?.message).toContain("environments.stagin")
      const timeout = yield* failure(
        loadIn({ "dbkit.config.json": JSON.stringify({ environments: { test: { lockTimeout: "soon" } } }) }).result
      )
      expect(timeout?.message).toContain("environments.test.lockTimeout")
      const password = yield* failure(
        loadIn({
          "dbkit.config.ts": `export default { environments: { staging: { url: "postgres://app:hunter22@db/shop" } } }`
        }).result
      )
      expect(password?.message).toContain("environments.staging.url")
      expect(password?.message).toContain("contains a password")
      expect(password?.message).not.toContain("hunter22")
      const variable = yield* failure(loadIn({}, { DBKIT_PRODUCTION_LINT: "loose" }).result)
      expect(variable?.message).toContain("DBKIT_PRODUCTION_LINT")
      const seeds = yield* failure(
        loadIn({
          "dbkit.config.json": JSON.stringify({ environments: { production: { seedProfile: "development" } } })
        }).result
      )
      expect(seeds?.message).toContain("production takes reference seeds only")
      const syntax = yield* failure(loadIn({ "dbkit.config.ts": `export default { environments: { ` }).result)
      expect(syntax?.message).toContain("cannot be compiled")
    }))
})

describe("dbkit env list / check", () => {
  it.effect("list shows each environment without secrets; check exits 2 naming the bad field", () =>
    Effect.promise(async () => {
      const dir = writeFolder({
        "dbkit.config.ts": `export default { environments: { staging: { urlEnv: "STAGE_URL" } } }`
      }, folder())
      const env = { STAGE_URL: "postgres://app:T0pS3cret@db.internal:5432/shop" }
      const list = await runCli(["env", "list"], env, { cwd: dir })
      expect(list.code, list.stderr).toBe(0)
      expect(list.stdout).toMatch(/staging\s+app@db\.internal:5432\/shop\s+STAGE_URL\s+yes\s+warn/)
      expect(list.stdout).toMatch(/production\s+\(PRODUCTION_DATABASE_URL not set\)/)
      const json = await runCli(["env", "list", "--json"], env, { cwd: dir })
      expect(JSON.parse(json.stdout).environments.map((e: { name: string }) => e.name)).toEqual([
        "development",
        "test",
        "staging",
        "production"
      ])
      for (const out of [list.stdout, json.stdout]) expect(out).not.toContain("T0pS3cret")

      const bad = writeFolder({
        "dbkit.config.json": JSON.stringify({ environments: { production: { lint: "yes please" } } })
      }, folder())
      const check = await runCli(["env", "check"], {}, { cwd: bad })
      expect(check.code).toBe(2)
      expect(check.stderr).toContain("environments.production.lint")
      const unset = await runCli(["env", "check", "--env", "staging"], {}, { cwd: dir })
      expect(unset.code).toBe(2)
      expect(unset.stderr).toContain("STAGE_URL: is not set")
    }))
})

const query = (database: string, text: string) => queryAt(urlFor(database), text)

describe.skipIf(!server)("dbkit env diff / promote", () => {
  it.effect("diff shows what production lacks of staging; promote applies exactly that (not what is only in the folder), guarded; a diverged target is refused", () =>
    Effect.promise(async () => {
      const staging = await createScratchDatabase("dbkit_env")
      const production = await createScratchDatabase("dbkit_env")
      try {
        const dir = writeFolder({
          "dbkit.config.json": JSON.stringify({
            environments: { staging: { urlEnv: "S_URL" }, production: { urlEnv: "P_URL" } }
          }),
          "migrations/0001_base.sql": "CREATE TABLE customers (id int PRIMARY KEY);",
          "migrations/0002_orders.sql": "CREATE TABLE orders (id int PRIMARY KEY);",
          "migrations/0003_next.sql": "CREATE TABLE next_release (id int);"
        }, folder())
        const env = { S_URL: urlFor(staging.name), P_URL: urlFor(production.name) }
        const migrateTo = (url: string, to: string) =>
          runCli(["migrate", "--to", to], { DATABASE_URL: url, DBKIT_MIGRATIONS_DIR: path.join(dir, "migrations") }, {
            cwd: dir
          })
        expect((await migrateTo(env.S_URL, "0002_orders")).code).toBe(0)
        expect((await migrateTo(env.P_URL, "0001_base")).code).toBe(0)

        const diff = await runCli(
          ["env", "diff", "--from", "staging", "--to", "production", "--schema", "--json"],
          env,
          { cwd: dir }
        )
        expect(diff.code, diff.stderr).toBe(0)
        const result = JSON.parse(diff.stdout)
        expect(result).toMatchObject({ toApply: ["0002_orders"], until: "0002_orders", problems: [] })
        expect(result.schema.map((d: { kind: string; object: string }) => `${d.kind} ${d.object}`)).toContain(
          "missing table public.orders"
        )

        const refused = await runCli(["env", "promote", "--from", "staging", "--to", "production"], env, { cwd: dir })
        expect(refused.code).toBe(4)
        const promoted = await runCli(
          ["env", "promote", "--from", "staging", "--to", "production", "--yes", "--json"],
          { ...env, DB_DEPLOY_ALLOW_PRODUCTION: "1" },
          { cwd: dir }
        )
        expect(promoted.code, promoted.stderr).toBe(0)
        expect(JSON.parse(promoted.stdout)).toMatchObject({
          result: "succeeded",
          applied: ["0002_orders"],
          promotedFrom: "staging",
          environment: "production"
        })
        expect((await query(production.name, "SELECT name FROM dbkit.migrations ORDER BY id")).map((r) => r.name))
          .toEqual(["0001_base", "0002_orders"])
        const same = await runCli(["env", "diff", "--from", "staging", "--to", "production", "--schema"], env, {
          cwd: dir
        })
        expect(same.stdout).toContain("nothing to promote")
        expect(same.stdout).toContain("schemas: identical")

        // production ahead of staging: promotion would not be "exactly what staging has".
        expect((await migrateTo(env.P_URL, "0003_next")).code).toBe(0)
        const diverged = await runCli(["env", "promote", "--from", "staging", "--to", "production", "--yes"], {
          ...env,
          DB_DEPLOY_ALLOW_PRODUCTION: "1"
        }, { cwd: dir })
        expect(diverged.code).toBe(7)
        expect(diverged.stderr).toContain("0003_next is applied on production but not on staging")
      } finally {
        await dropScratchDatabase(staging.name)
        await dropScratchDatabase(production.name)
      }
    }))
})
