// Host checks as a user runs them: `backup-disk` (free space where backups go, on dbkit's host)
// and `server-host` (the database host's memory, load and data use, read through the server where
// the role may), and `health --env NAME` picking the environment's database.
import { describe, expect, it } from "@effect/vitest"
import * as fs from "node:fs"
import * as path from "node:path"
import { afterAll, beforeAll } from "vitest"
import { runCli } from "./support/cli.js"
import {
  admin,
  createScratchDatabase,
  dropScratchDatabase,
  queryAt,
  serverAvailable,
  tempDir,
  uniqueName,
  urlFor
} from "./support/databases.js"

const server = await serverAvailable()

interface Check {
  readonly name: string
  readonly status: string
  readonly value: number | null
  readonly detail: string
}

const checksOf = (stdout: string): Record<string, Check> =>
  Object.fromEntries((JSON.parse(stdout).checks as Array<Check>).map((c) => [c.name, c]))

const hostChecks = ["health", "--check", "backup-disk", "--check", "server-host", "--json"]

describe.skipIf(!server)("host checks on the server", () => {
  let database: { name: string; url: string }
  const role = uniqueName("dbkit_host")
  beforeAll(async () => {
    database = await createScratchDatabase("dbkit_health_host")
    await admin(`CREATE ROLE "${role}" LOGIN`)
  })
  afterAll(async () => {
    await dropScratchDatabase(database.name)
    await admin(`DROP ROLE IF EXISTS "${role}"`)
  })

  it("a superuser sees the database host's memory, load and data; backup-disk names a folder not created yet", async () => {
    const backups = path.join(tempDir("dbkit-host-"), "not", "yet")
    const result = await runCli(hostChecks, { DATABASE_URL: database.url, DBKIT_BACKUP_DIR: backups })
    const checks = checksOf(result.stdout)
    expect(checks["server-host"]!.status).not.toBe("unknown")
    expect(checks["server-host"]!.value).toBeGreaterThan(0)
    expect(checks["server-host"]!.value).toBeLessThanOrEqual(1)
    expect(checks["server-host"]!.detail).toMatch(
      /^memory [\d.]+ [MG]B available of [\d.]+ [MG]B .*; load [\d.]+ on \d+ CPUs?; databases/
    )
    expect(checks["backup-disk"]!.detail).toMatch(
      /[MG]B free of [\d.]+ [MG]B \([\d.]+%\) where backups are written .*not created yet/
    )
    expect(fs.existsSync(backups)).toBe(false) // a health check writes nothing
  })

  it("a role without pg_read_server_files gets unknown and the grants that fix it; with them it reads", async () => {
    const url = urlFor(database.name).replace("://root@", `://${role}@`)
    const before = checksOf((await runCli(hostChecks, { DATABASE_URL: url, DBKIT_BACKUP_DIR: tempDir() })).stdout)
    expect(before["server-host"]).toMatchObject({ status: "unknown", value: null })
    expect(before["server-host"]!.detail).toContain("GRANT pg_read_server_files")
    await admin(`GRANT pg_read_server_files TO "${role}"`)
    const half = checksOf((await runCli(hostChecks, { DATABASE_URL: url, DBKIT_BACKUP_DIR: tempDir() })).stdout)
    expect(half["server-host"]!.status).toBe("unknown") // pg_read_file is superuser-only until EXECUTE is granted
    // Functions are per database: the grant lives in the scratch database and goes with it.
    await queryAt(database.url, `GRANT EXECUTE ON FUNCTION pg_read_file(text) TO "${role}"`)
    const after = checksOf((await runCli(hostChecks, { DATABASE_URL: url, DBKIT_BACKUP_DIR: tempDir() })).stdout)
    expect(after["server-host"]!.status, after["server-host"]!.detail).not.toBe("unknown")
    expect(after["server-host"]!.detail).toMatch(/^memory /)
    expect(after["server-host"]!.detail).not.toContain("WAL") // pg_ls_waldir needs pg_monitor
  })

  it("thresholds move the verdict: a disk that must be all free is critical, exit 2", async () => {
    const result = await runCli(["health", "--check", "backup-disk", "--threshold", "diskFreeCritical=1"], {
      DATABASE_URL: database.url,
      DBKIT_BACKUP_DIR: tempDir()
    })
    expect(result.code).toBe(2)
    expect(result.stdout).toMatch(/backup-disk\s+critical/)
  })

  it("health --env staging reports the staging database, not DATABASE_URL", async () => {
    const dir = tempDir("dbkit-host-env-")
    fs.writeFileSync(
      path.join(dir, "dbkit.config.json"),
      JSON.stringify({ environments: { staging: { urlEnv: "STAGING_DATABASE_URL" } } })
    )
    const result = await runCli(["health", "--env", "staging", "--check", "connectivity", "--json"], {
      DATABASE_URL: urlFor("postgres"),
      STAGING_DATABASE_URL: database.url
    }, { cwd: dir })
    expect(result.code, result.stderr).toBe(0)
    expect(checksOf(result.stdout)["connectivity"]!.detail).toContain(`/${database.name} answered`)
  })
})

describe("host checks on the embedded database", () => {
  it("backup-disk reads this host; server-host is not applicable (the database runs in this process)", async () => {
    const dir = tempDir("dbkit-host-embedded-")
    const migrated = await runCli(["migrate"], { DBKIT_MIGRATIONS_DIR: tempDir() }, { cwd: dir })
    expect(migrated.code, migrated.stderr).toBe(0)
    const result = await runCli(hostChecks, {}, { cwd: dir })
    const checks = checksOf(result.stdout)
    expect(checks["backup-disk"]!.status).toMatch(/^(ok|warn|critical)$/)
    expect(checks["backup-disk"]!.detail).toContain("where backups are written (backups, not created yet)")
    expect(checks["server-host"]!.status).toBe("not applicable")
  }, 120_000)
})
