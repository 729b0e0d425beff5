// `DB_RESET_CONFIRM=1 pnpm effect:reset-db` as a user runs it.
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { runCli } from "./support/cli.js"
import { embeddedDataDir, tempDir } from "./support/databases.js"

describe("dbkit reset on the embedded database", () => {
  it.effect("refuses without DB_RESET_CONFIRM (exit 4), and production without a server (exit 2); hard resets and reseeds; soft empties", () =>
    Effect.gen(function*() {
      // A fresh cluster, without waiting for initdb.
      const env = { DBKIT_DATA_DIR: embeddedDataDir(), DBKIT_BACKUP_DIR: tempDir("dbkit-reset-backups-") }
      expect((yield* Effect.promise(() => runCli(["migrate"], env))).code).toBe(0)
      const refused = yield* Effect.promise(() => runCli(["reset"], env))
      expect(refused.code).toBe(4)
      expect(refused.stderr).toContain("DB_RESET_CONFIRM=1")
      // Production never runs on the embedded database: the missing DATABASE_URL is the error (exit 2).
      const production = yield* Effect.promise(() =>
        runCli(["reset"], { ...env, DB_ENV: "production", DB_RESET_CONFIRM: "1" })
      )
      expect(production.code).toBe(2)
      expect(production.stderr).toContain("DATABASE_URL: is not set, and the environment is production")
      const hard = yield* Effect.promise(() => runCli(["reset", "--seed", "--json"], { ...env, DB_RESET_CONFIRM: "1" }))
      expect(hard.code).toBe(0)
      const result = JSON.parse(hard.stdout)
      expect(result.mode).toBe("hard")
      expect(result.migrated).toEqual([
        "0000_app_role",
        "0001_reference_schema",
        "0002_rls_force_and_grants",
        "0003_customer_contact",
        "0004_audit_triggers",
        "0005_tenant_safe_keys",
        "0006_tenant_safe_keys_validate",
        "0007_tenant_transaction_stamp"
      ])
      expect(result.seeded).toBeGreaterThan(0)
      expect(result.safetyBackup).toBeNull() // development: no safety backup by default
      const soft = yield* Effect.promise(() => runCli(["reset", "--soft", "--json"], { ...env, DB_RESET_CONFIRM: "1" }))
      expect(soft.code).toBe(0)
      expect(JSON.parse(soft.stdout).cleared).toContain("public.invoices")
      const status = yield* Effect.promise(() => runCli(["migrate", "status", "--json"], env))
      expect(JSON.parse(status.stdout).upToDate).toBe(true)
    }))
})
