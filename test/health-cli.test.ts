// `dbkit health` and `dbkit health serve` as a user runs them: processes, exit codes, real HTTP.
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { spawn } from "node:child_process"
import * as net from "node:net"
import * as path from "node:path"
import pg from "pg"
import { afterAll, beforeAll } from "vitest"
import { nodeFlags, runCli } from "./support/cli.js"
import { createScratchDatabase, dropScratchDatabase, serverAvailable, tempDir } from "./support/databases.js"
import { writeFolder } from "./support/migrations.js"

const server = await serverAvailable()

/** This machine's disk, memory and load are shared with other programs too: out of the verdict here. */
const hostNeutral = {
  DBKIT_HEALTH_DISK_FREE_WARN: "0",
  DBKIT_HEALTH_DISK_FREE_CRITICAL: "0",
  DBKIT_HEALTH_MEMORY_AVAILABLE_WARN: "0",
  DBKIT_HEALTH_MEMORY_AVAILABLE_CRITICAL: "0",
  DBKIT_HEALTH_LOAD_PER_CPU_WARN: "none"
}

describe.skipIf(!server)("dbkit health on the server", () => {
  let database: { name: string; url: string }
  let env: Record<string, string>
  const migrations = writeFolder({ "001_first.sql": "CREATE TABLE first (x int);" })
  beforeAll(async () => {
    database = await createScratchDatabase("dbkit_cli_health")
    env = {
      DATABASE_URL: database.url,
      DBKIT_MIGRATIONS_DIR: migrations,
      DBKIT_BACKUP_DIR: tempDir("dbkit-cli-health-")
    }
    const migrated = await runCli(["migrate"], env)
    if (migrated.code !== 0) throw new Error(migrated.stderr)
  })
  afterAll(async () => {
    await dropScratchDatabase(database.name)
  })

  it.effect("prints the table and exits 1 on warn (no verified backup); --json of an ok subset exits 0", () =>
    Effect.gen(function*() {
      // The whole server's connections and this machine's speed are shared with other programs:
      // their limits are out of reach here, so the verdict is about this database alone.
      const shared = {
        DBKIT_HEALTH_LATENCY_MS: "5000",
        DBKIT_HEALTH_CONNECTIONS_WARN: "1",
        DBKIT_HEALTH_CONNECTIONS_CRITICAL: "1",
        ...hostNeutral
      }
      const all = yield* Effect.promise(() => runCli(["health"], { ...env, ...shared }))
      expect(all.code).toBe(1)
      expect(all.stdout).toMatch(/^check\s+status\s+value\s+threshold\s+detail/)
      expect(all.stdout).toMatch(/connectivity\s+ok\s+[\d.]+ ms\s+warn > 5000 ms/)
      expect(all.stdout).toMatch(/backups\s+warn/)
      expect(all.stdout).toContain(`: WARN (0 critical, 1 warn, 0 unknown)`)
      expect(all.stderr).toBe("")
      const subset = yield* Effect.promise(() =>
        runCli(["health", "--check", "connectivity", "--check", "migrations", "--json"], { ...env, ...shared })
      )
      expect(subset.code).toBe(0)
      const report = JSON.parse(subset.stdout)
      expect(report.status).toBe("ok")
      expect(report.checks.map((c: { name: string }) => c.name)).toEqual(["connectivity", "migrations"])
      expect(report.checks[1]).toMatchObject({ status: "ok", value: 0, detail: "up to date (1 applied)" })
    }))

  it.scoped("a sequence near its end exits 2; --threshold and DBKIT_HEALTH_* move the limits; bad names are refused", () =>
    Effect.gen(function*() {
      const client = yield* Effect.acquireRelease(
        Effect.promise(async () => {
          const client = new pg.Client({ connectionString: database.url })
          await client.connect()
          return client
        }),
        (client) => Effect.promise(() => client.end().catch(() => undefined))
      )
      yield* Effect.promise(() =>
        client.query("CREATE SEQUENCE nearly_full MAXVALUE 100; SELECT setval('nearly_full', 95)")
      )
      const critical = yield* Effect.promise(() => runCli(["health", "--check", "sequences"], env))
      expect(critical.code).toBe(2)
      expect(critical.stdout).toMatch(/sequences\s+critical\s+94\.9%/)
      const relaxed = yield* Effect.promise(() =>
        runCli(["health", "--check", "sequences", "--threshold", "sequenceCritical=0.99"], env)
      )
      expect(relaxed.code).toBe(1)
      const fromEnv = yield* Effect.promise(() =>
        runCli(["health", "--check", "sequences"], {
          ...env,
          DBKIT_HEALTH_SEQUENCE_WARN: "0.96",
          DBKIT_HEALTH_SEQUENCE_CRITICAL: "0.99"
        })
      )
      expect(fromEnv.code).toBe(0)
      yield* Effect.promise(() => client.query("DROP SEQUENCE nearly_full"))
      const unknownCheck = yield* Effect.promise(() => runCli(["health", "--check", "nope"], env))
      expect(unknownCheck.code).toBe(2)
      expect(unknownCheck.stderr).toContain("unknown health check nope")
      const badThreshold = yield* Effect.promise(() => runCli(["health", "--threshold", "latencyMs=fast"], env))
      expect(badThreshold.code).toBe(2)
      expect(badThreshold.stderr).toContain("threshold latencyMs: expected a non-negative number")
    }))
})

describe("dbkit health when the database is down", () => {
  it.effect("a closed port: a report with connectivity critical, exit 2, the password never printed", () =>
    Effect.gen(function*() {
      const result = yield* Effect.promise(() =>
        runCli(["health", "--json"], {
          DATABASE_URL: "postgres://root:s3cret-pw@127.0.0.1:1/app",
          DB_CONNECT_TIMEOUT: "1 second"
        })
      )
      expect(result.code).toBe(2)
      const report = JSON.parse(result.stdout)
      expect(report.status).toBe("critical")
      expect(report.checks[0]).toMatchObject({ name: "connectivity", status: "critical" })
      expect(report.checks[0].detail).toContain("root@127.0.0.1:1/app: connection refused")
      expect(result.stdout + result.stderr).not.toContain("s3cret-pw")
    }))

  it.effect("a server that accepts and never answers: critical after the connect timeout, with the table", () =>
    Effect.acquireUseRelease(
      Effect.async<{ silent: net.Server; sockets: Set<net.Socket> }>((resume) => {
        const sockets = new Set<net.Socket>()
        const silent = net.createServer((socket) => void sockets.add(socket))
        silent.listen(0, "127.0.0.1", () => resume(Effect.succeed({ silent, sockets })))
      }),
      ({ silent }) =>
        Effect.gen(function*() {
          const port = (silent.address() as net.AddressInfo).port
          const result = yield* Effect.promise(() =>
            runCli(["health"], {
              DATABASE_URL: `postgres://root@127.0.0.1:${port}/app`,
              DB_CONNECT_TIMEOUT: "1 second"
            }, { timeoutMs: 20_000 })
          )
          expect(result.code).toBe(2)
          expect(result.stdout).toMatch(/connectivity\s+critical/)
          expect(result.stdout).toContain("CRITICAL")
        }),
      ({ silent, sockets }) =>
        Effect.async<void>((resume) => {
          for (const socket of sockets) socket.destroy()
          silent.close(() => resume(Effect.void))
        })
    ))
})

/** `dbkit health serve` as a child process; resolves once it says where it listens. */
const startServe = (env: Record<string, string>) =>
  new Promise<{ url: string; stop: (signal: NodeJS.Signals) => Promise<number | null>; output: () => string }>(
    (resolve, reject) => {
      const base = { ...process.env }
      delete base.DATABASE_URL
      const child = spawn(process.execPath, [
        ...nodeFlags,
        path.resolve(import.meta.dirname, "../bin/dbkit.mjs"),
        "health",
        "serve",
        "--port",
        "0"
      ], {
        cwd: path.resolve(import.meta.dirname, ".."),
        env: { ...base, CI: "true", ...env },
        stdio: ["ignore", "pipe", "pipe"]
      })
      let output = ""
      const exited = new Promise<number | null>((done) => child.on("exit", (code) => done(code)))
      const timer = setTimeout(() => {
        child.kill("SIGKILL")
        reject(new Error(`health serve did not start: ${output}`))
      }, 30_000)
      const onData = (data: Buffer) => {
        output += data
        const match = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(output)
        if (match) {
          clearTimeout(timer)
          resolve({
            url: match[1]!,
            stop: (signal) => {
              child.kill(signal)
              return exited
            },
            output: () => output
          })
        }
      }
      child.stdout.on("data", onData)
      child.stderr.on("data", onData)
      exited.then((code) => reject(new Error(`health serve exited with ${code}: ${output}`)))
    }
  )

describe.skipIf(!server)("dbkit health serve", () => {
  let database: { name: string; url: string }
  beforeAll(async () => {
    database = await createScratchDatabase("dbkit_cli_health_serve")
  })
  afterAll(async () => {
    await dropScratchDatabase(database.name)
  })

  it.effect("/livez 200; /readyz 200 when migrated and 503 with a pending migration; /health is the report; SIGTERM exits 0", () =>
    Effect.gen(function*() {
      const migrations = writeFolder({ "001_first.sql": "CREATE TABLE first (x int);" })
      const env = {
        DATABASE_URL: database.url,
        DBKIT_MIGRATIONS_DIR: migrations,
        DBKIT_BACKUP_DIR: tempDir("dbkit-cli-health-")
      }
      const migrated = yield* Effect.promise(() => runCli(["migrate"], env))
      expect(migrated.code).toBe(0)
      // As above: the limits on what other programs share are out of reach (the verdict is this database's).
      const serve = yield* Effect.promise(() =>
        startServe({
          ...env,
          DBKIT_HEALTH_LATENCY_MS: "5000",
          DBKIT_HEALTH_CONNECTIONS_WARN: "1",
          DBKIT_HEALTH_CONNECTIONS_CRITICAL: "1",
          ...hostNeutral
        })
      )
      const get = (route: string) =>
        Effect.promise(async () => {
          const response = await fetch(`${serve.url}${route}`)
          // eslint-disable-next-line @typescript-eslint/no-explicit-any
          return { status: response.status, body: (await response.json().catch(() => null)) as any }
        })
      const live = yield* get("/livez")
      expect(live).toEqual({ status: 200, body: { status: "ok" } })
      const ready = yield* get("/readyz")
      expect(ready.status).toBe(200)
      expect(ready.body.ready).toBe(true)
      const health = yield* get("/health")
      expect(health.status).toBe(200) // warn (no verified backup) is not critical
      expect(health.body.status).toBe("warn")
      expect(health.body.checks.map((c: { name: string }) => c.name)).toContain("tenants")
      const subset = yield* get("/health?check=connectivity&check=sequences")
      expect(subset.body.checks.map((c: { name: string }) => c.name)).toEqual(["connectivity", "sequences"])
      expect((yield* get("/health?check=nope")).status).toBe(400)
      expect((yield* get("/nowhere")).status).toBe(404)
      writeFolder({ "002_second.sql": "CREATE TABLE second (x int);" }, migrations)
      const notReady = yield* get("/readyz")
      expect(notReady.status).toBe(503)
      expect(notReady.body.ready).toBe(false)
      expect(notReady.body.checks[1]).toMatchObject({
        name: "migrations",
        status: "warn",
        detail: "002_second pending"
      })
      const code = yield* Effect.promise(() => serve.stop("SIGTERM"))
      expect(code).toBe(0)
    }))
})
