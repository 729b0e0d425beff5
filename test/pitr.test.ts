// Point-in-time recovery through pgBackRest, for real: a private PostgreSQL cluster archiving into
// a pgBackRest repository in a temp folder (test/support/cluster.ts; the shared server is never
// reconfigured), dbkit's Backup.physical driving setup, full and incremental backups, restore
// points and restores into new data directories on other ports.
import * as NodeContext from "@effect/platform-node/NodeContext"
import { describe, expect, it } from "@effect/vitest"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"
import * as fs from "node:fs"
import * as path from "node:path"
import { Backup, layer as backupLayer } from "../src/backup/Backup.js"
import type { BackrestBackup } from "../src/backup/physical/run.js"
import { plan } from "../src/backup/physical/setup.js"
import { chooseBackup, type Parsed, parseTarget } from "../src/backup/physical/target.js"
import * as Config from "../src/Config.js"
import { PgLive } from "../src/Database.js"
import type { Guard } from "../src/Guard.js"
import { runCli } from "./support/cli.js"
import { freePort, type PitrCluster, pitrTools, startCluster, withClusterEnv } from "./support/cluster.js"
import { queryAt } from "./support/databases.js"
import { NonInteractiveGuard } from "./support/terminal.js"

const tools = pitrTools()

const sql = <A = Record<string, unknown>>(url: string, text: string) => Effect.promise(() => queryAt<A>(url, text))
const portUrl = (cluster: PitrCluster, port: number) => cluster.url.replace(`:${cluster.port}/`, `:${port}/`)

/** Backup (and the guard a restore asks) on the cluster, pgBackRest settings from its env. */
const onCluster = (cluster: PitrCluster, backupDir: string) =>
  Layer.mergeAll(backupLayer, NonInteractiveGuard("test")).pipe(
    Layer.provide(PgLive({ url: Redacted.make(cluster.url) })),
    Layer.provide(Config.layerFrom({ backupDir, environment: "test" })),
    Layer.provide(NodeContext.layer)
  )
/** Runs one of Backup.physical's operations on the cluster. */
const physicalOn =
  (cluster: PitrCluster, backupDir: string) =>
  <A, E>(f: (physical: Backup["Type"]["physical"]) => Effect.Effect<A, E, Guard>) =>
    Effect.flatMap(Backup, (b) => f(b.physical)).pipe(
      Effect.provide(onCluster(cluster, backupDir)),
      withClusterEnv(cluster)
    )

describe("pitr setup plan (what the server must change)", () => {
  const settings = {
    stanza: "main",
    configFile: undefined,
    repoPath: undefined,
    runAs: undefined,
    binDir: undefined,
    cipherPass: undefined
  }
  it("asks for wal_level and archive_mode in postgresql.conf with a restart, archive_command with a reload", () => {
    const { reload, restart } = plan({ walLevel: "minimal", archiveMode: "off", archiveCommand: "" }, settings)
    expect(restart.map((c) => [c.setting, c.wanted])).toEqual([["wal_level", "replica"], ["archive_mode", "on"]])
    expect(restart[0]!.where).toMatch(/postgresql\.conf.*restart/)
    expect(reload).toEqual([expect.objectContaining({
      setting: "archive_command",
      wanted: "pgbackrest --stanza=main archive-push %p"
    })])
  })
  it("accepts a server already archiving into the stanza, and refuses one archiving into another", () => {
    const ready = { walLevel: "replica", archiveMode: "on" }
    expect(plan({ ...ready, archiveCommand: "pgbackrest --stanza=main archive-push %p" }, settings))
      .toEqual({ restart: [], reload: [] })
    expect(plan({ ...ready, archiveCommand: "pgbackrest --stanza=other archive-push %p" }, settings).reload)
      .toHaveLength(1)
  })
})

describe("recovery targets", () => {
  const backup = (label: string, stop: number, lsn: string) =>
    ({ label, timestamp: { start: stop - 5, stop }, lsn: { start: "0/1000000", stop: lsn } }) as BackrestBackup
  const backups = [backup("F", 1_000, "0/3000000"), backup("F_I", 2_000, "0/5000000")]
  const parse = (target: Parameters<typeof parseTarget>[0], recorded?: string) =>
    Effect.runSync(Effect.either(parseTarget(target, () => recorded)))

  it("a time with its zone is written as PostgreSQL reads it, and served by the newest backup that ended before it", () => {
    const target = parse({ toTime: "1970-01-01T00:25:00.250Z" })
    expect(target).toMatchObject({ right: { type: "time", value: "1970-01-01 00:25:00.250+00" } })
    expect(chooseBackup(backups, (target as { right: Parsed }).right, true)?.label).toBe("F")
    const later = parse({ toTime: "1970-01-01 00:40:00+00" }) as { right: Parsed }
    expect(chooseBackup(backups, later.right, true)?.label).toBe("F_I")
    const before = parse({ toTime: "1970-01-01 00:10:00+00" }) as { right: Parsed }
    expect(chooseBackup(backups, before.right, true)).toBeUndefined()
  })
  it("a time without a zone, a malformed LSN, a quoted name or two targets at once are refused", () => {
    for (
      const target of [
        { toTime: "2026-12-06 14:03:00" },
        { toTime: "yesterday+00" },
        { toLsn: "0/XYZ" },
        { toName: "x'; DROP" },
        { toTime: "2026-12-06 14:03:00+00", toName: "p" },
        {}
      ]
    ) {
      expect([target, parse(target)]).toEqual([target, expect.objectContaining({ _tag: "Left" })])
    }
  })
  it("an LSN or a recorded restore point picks the newest backup that ended before it; an unrecorded point the oldest", () => {
    expect(chooseBackup(backups, (parse({ toLsn: "0/4000000" }) as { right: Parsed }).right, true)?.label).toBe("F")
    const recorded = parse({ toName: "p" }, "0/6000000") as { right: Parsed }
    expect(chooseBackup(backups, recorded.right, true)?.label).toBe("F_I")
    expect(chooseBackup(backups, (parse({ toName: "p" }) as { right: Parsed }).right, false)?.label).toBe("F")
  })
})

describe.skipIf("skip" in tools)("point-in-time recovery on a private cluster", () => {
  const binDir = "binDir" in tools ? tools.binDir : ""

  it.live(
    "restores to a time between two batches: exactly the first two batches are there",
    () =>
      Effect.scoped(Effect.gen(function*() {
        const cluster = yield* startCluster(binDir)
        const backupDir = path.join(cluster.dir, "manifests")
        const layer = onCluster(cluster, backupDir)
        const physical = Effect.map(Backup, (b) => b.physical)

        const setup = yield* Effect.flatMap(physical, (p) => p.setup()).pipe(
          Effect.provide(layer),
          withClusterEnv(cluster)
        )
        expect(setup).toMatchObject({ stanza: cluster.stanza, applied: [], checked: true })
        // Idempotent: a second run changes nothing and passes again.
        expect(yield* Effect.flatMap(physical, (p) => p.setup()).pipe(Effect.provide(layer), withClusterEnv(cluster)))
          .toMatchObject({ applied: [], checked: true })

        yield* sql(cluster.url, "CREATE TABLE events (batch int, n int, at timestamptz DEFAULT clock_timestamp())")
        const batch = (n: number) =>
          sql(cluster.url, `INSERT INTO events (batch, n) SELECT ${n}, g FROM generate_series(1, 100) g`)
        /** The server's clock, between two pauses: a moment with nothing written around it. */
        const moment = Effect.gen(function*() {
          yield* Effect.sleep("1500 millis")
          const [row] = yield* sql<{ now: string }>(cluster.url, "SELECT clock_timestamp()::text AS now")
          yield* Effect.sleep("1500 millis")
          return row!.now
        })

        yield* batch(1)
        const full = yield* Effect.flatMap(physical, (p) => p.backup({ type: "full" })).pipe(
          Effect.provide(layer),
          withClusterEnv(cluster)
        )
        yield* batch(2)
        const incr = yield* Effect.flatMap(physical, (p) => p.backup({ type: "incr" })).pipe(
          Effect.provide(layer),
          withClusterEnv(cluster)
        )
        const afterSecond = yield* moment
        yield* batch(3)
        // The WAL holding batch 3 reaches the repository (setup's `check` switches and waits for it).
        yield* Effect.flatMap(physical, (p) => p.setup()).pipe(Effect.provide(layer), withClusterEnv(cluster))

        expect(full.manifest).toMatchObject({
          kind: "physical",
          type: "full",
          stanza: cluster.stanza,
          encryption: null
        })
        expect(incr.manifest).toMatchObject({ type: "incr", prior: full.manifest.label })
        expect(incr.manifest.stop.lsn).toMatch(/^[0-9A-F]+\/[0-9A-F]+$/)
        expect(fs.statSync(incr.manifestFile).mode & 0o777).toBe(0o600)
        expect(JSON.parse(fs.readFileSync(incr.manifestFile, "utf8"))).toEqual(incr.manifest)

        const into = path.join(cluster.dir, "restored")
        const port = yield* Effect.promise(freePort)
        const restored = yield* Effect.flatMap(physical, (p) =>
          p.restore({
            toTime: afterSecond,
            into,
            port,
            expectSql: "select count(*) = 200 from events",
            yes: true
          })).pipe(Effect.provide(layer), withClusterEnv(cluster))

        const counts = yield* sql<{ batch: number; rows: string }>(
          portUrl(cluster, port),
          "SELECT batch, count(*)::text AS rows FROM events GROUP BY batch ORDER BY batch"
        )
        expect(counts).toEqual([{ batch: 1, rows: "100" }, { batch: 2, rows: "100" }])
        expect(restored).toMatchObject({ dataDir: into, port, backup: incr.manifest.label, expect: { value: "true" } })
        expect(restored.reached.timeline).toBe(2)
        // The copy archives nothing into the source's repository (its timeline 2 stays its own), even after a restart.
        expect(fs.readFileSync(path.join(into, "postgresql.auto.conf"), "utf8")).toContain(
          `port = ${port}\narchive_mode = 'off'`
        )
        const archived = fs.readdirSync(path.join(cluster.repoPath, "archive", cluster.stanza, "15-1"))
        expect(archived.filter((name) => name.startsWith("00000002"))).toEqual([])
        // Recovery stopped at batch 3's commit: the server says so, and no later transaction was replayed.
        expect(restored.reached.stop).toMatch(/^recovery stopping before commit of transaction \d+, time /)
        const at = (text: string) => Date.parse(text.replace(" ", "T").replace(/([+-]\d\d)$/, "$1:00"))
        if (restored.reached.time !== null) expect(at(restored.reached.time)).toBeLessThanOrEqual(at(afterSecond))
        expect(at(restored.reached.stop!.replace(/^.*, time /, ""))).toBeGreaterThan(at(afterSecond))
        // The running cluster was not touched: all three batches, still timeline 1.
        const [live] = yield* sql<{ rows: string; recovery: boolean }>(
          cluster.url,
          "SELECT count(*)::text AS rows, pg_is_in_recovery() AS recovery FROM events"
        )
        expect(live).toEqual({ rows: "300", recovery: false })
      })),
    240_000
  )

  it.live(
    "through the CLI: a table dropped after `pitr point` is back after `restore --physical --to-name`",
    () =>
      Effect.scoped(Effect.gen(function*() {
        const cluster = yield* startCluster(binDir)
        const backupDir = path.join(cluster.dir, "manifests")
        const env = {
          ...cluster.env,
          DATABASE_URL: cluster.url,
          DBKIT_BACKUP_DIR: backupDir,
          DBKIT_MIGRATIONS_DIR: path.join(cluster.dir, "migrations")
        }
        const dbkit = (...args: Array<string>) =>
          Effect.promise(() => runCli(args, env, { cwd: cluster.dir, timeoutMs: 180_000 }))

        const setup = yield* dbkit("pitr", "setup")
        expect([setup.code, setup.stderr]).toEqual([0, ""])
        expect(setup.stdout).toContain(`stanza ${cluster.stanza} ready`)
        yield* sql(cluster.url, "CREATE TABLE keep (x int); INSERT INTO keep SELECT generate_series(1, 50)")
        const full = yield* dbkit("backup", "--physical", "--type", "full", "--json")
        expect(full.code).toBe(0)
        expect(JSON.parse(full.stdout)).toMatchObject({ manifest: { kind: "physical", type: "full" } })

        const point = yield* dbkit("pitr", "point", "before_release_7")
        expect(point.code).toBe(0)
        expect(point.stdout).toMatch(/^restore point before_release_7 at [0-9A-F]+\/[0-9A-F]+/)
        const ledger = path.join(backupDir, `${cluster.stanza}.restore-points.json`)
        expect(fs.statSync(ledger).mode & 0o777).toBe(0o600)
        yield* sql(cluster.url, "DROP TABLE keep")
        expect((yield* dbkit("pitr", "setup")).code).toBe(0) // archives the WAL holding the point and the drop

        const port = yield* Effect.promise(freePort)
        const into = path.join(cluster.dir, "at-point")
        const target = ["restore", "--physical", "--to-name", "before_release_7", "--into-cluster", into]
        // Guarded like every restore: without confirmation nothing is written (exit 4).
        const refused = yield* dbkit(...target, "--port", String(port))
        expect([refused.code, refused.stderr]).toEqual([4, expect.stringContaining("DB_RESTORE_CONFIRM")])
        expect(fs.existsSync(into)).toBe(false)
        // A name that is no restore point name is refused before anything is written (exit 2).
        const bad = yield* dbkit(
          "restore",
          "--physical",
          "--to-name",
          "x'; DROP",
          "--into-cluster",
          into,
          "--port",
          "1"
        )
        expect(bad.code).toBe(2)

        const restored = yield* dbkit(
          ...target,
          "--port",
          String(port),
          "--expect-sql",
          "select count(*) = 50 from keep",
          "--yes",
          "--json"
        )
        expect([restored.code, restored.stderr.split("\n").filter((l) => l.startsWith("error"))]).toEqual([0, []])
        expect(JSON.parse(restored.stdout)).toMatchObject({
          dataDir: into,
          port,
          recoveryTarget: { type: "name", value: "before_release_7" },
          expect: { value: "true" },
          reached: { stop: expect.stringContaining("recovery stopping at restore point \"before_release_7\"") }
        })
        const [kept] = yield* sql<{ rows: string }>(portUrl(cluster, port), "SELECT count(*)::text AS rows FROM keep")
        expect(kept).toEqual({ rows: "50" })
        // Still gone on the running cluster.
        const [live] = yield* sql<{ t: string | null }>(cluster.url, "SELECT to_regclass('keep')::text AS t")
        expect(live).toEqual({ t: null })
      })),
    300_000
  )

  it.live(
    "a corrupted repository file: verify fails and the restore refuses, leaving no directory behind",
    () =>
      Effect.scoped(Effect.gen(function*() {
        const cluster = yield* startCluster(binDir)
        const backupDir = path.join(cluster.dir, "manifests")
        const run = physicalOn(cluster, backupDir)

        yield* run((p) => p.setup())
        yield* sql(cluster.url, "CREATE TABLE big AS SELECT g, md5(g::text) AS h FROM generate_series(1, 20000) g")
        const full = yield* run((p) => p.backup({ type: "full" }))
        expect(yield* run((p) => p.verify())).toMatchObject({ stanza: cluster.stanza, backups: 1 })

        // The largest file of the backup gets a few bytes changed in its middle.
        const setDir = path.join(cluster.repoPath, "backup", cluster.stanza, full.manifest.label, "pg_data")
        const files = (dir: string): Array<string> =>
          fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
            e.isDirectory() ? files(path.join(dir, e.name)) : [path.join(dir, e.name)]
          )
        const largest = files(setDir).sort((a, b) => fs.statSync(b).size - fs.statSync(a).size)[0]!
        const bytes = fs.readFileSync(largest)
        bytes.fill(0x5a, Math.floor(bytes.length / 2), Math.floor(bytes.length / 2) + 64)
        fs.writeFileSync(largest, bytes)

        const failed = yield* Effect.flip(run((p) => p.verify()))
        expect(failed._tag).toBe("PhysicalVerifyFailed")
        const cli = yield* Effect.promise(() =>
          runCli(["backups", "verify", "--physical"], { ...cluster.env, DATABASE_URL: cluster.url }, {
            cwd: cluster.dir
          })
        )
        expect([cli.code, cli.stderr]).toEqual([14, expect.stringContaining("failed verification")])
        const into = path.join(cluster.dir, "from-corrupt")
        const refused = yield* Effect.flip(run((p) =>
          p.restore({ toTime: new Date(Date.now() + 60_000).toISOString(), into, port: cluster.port + 2, yes: true })
        ))
        expect([refused._tag, refused.message]).toEqual([
          "RecoveryFailed",
          expect.stringContaining(`pgbackrest could not restore backup ${full.manifest.label}`)
        ])
        expect(fs.existsSync(into) && fs.readdirSync(into).length > 0).toBe(false)
      })),
    240_000
  )

  it.live(
    "an encrypted repository: the key reaches pgBackRest only through its environment, never argv, output or manifest",
    () =>
      Effect.scoped(Effect.gen(function*() {
        const key = "k3y-" + Math.random().toString(36).slice(2) + "-never-printed"
        const cluster = yield* startCluster(binDir, {
          pgbackrest: ["repo1-cipher-type=aes-256-cbc"],
          env: { PGBACKREST_REPO1_CIPHER_PASS: key } // the server's archive_command needs it too
        })
        const backupDir = path.join(cluster.dir, "manifests")
        const withKey = (pass: string) =>
          Effect.withConfigProvider(
            ConfigProvider.fromMap(new Map([...Object.entries(cluster.env), ["PGBACKREST_REPO1_CIPHER_PASS", pass]]))
          )
        const run = <A, E>(pass: string, f: (physical: Backup["Type"]["physical"]) => Effect.Effect<A, E, Guard>) =>
          Effect.flatMap(Backup, (b) => f(b.physical)).pipe(
            Effect.provide(onCluster(cluster, backupDir)),
            withKey(pass)
          )

        // Every pgbackrest command line while dbkit works, read from /proc.
        const seen = new Set<string>()
        const watch = Effect.sync(() => {
          for (const pid of fs.readdirSync("/proc").filter((d) => /^\d+$/.test(d))) {
            try {
              const cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" ")
              if (cmdline.includes("pgbackrest")) seen.add(cmdline)
            } catch {
              // gone
            }
          }
        }).pipe(Effect.repeat(Schedule.spaced("20 millis")), Effect.fork)
        const watcher = yield* watch

        yield* run(key, (p) => p.setup())
        yield* sql(cluster.url, "CREATE TABLE secret_rows AS SELECT generate_series(1, 10) AS x")
        const full = yield* run(key, (p) => p.backup({ type: "full" }))
        expect(full.manifest.encryption).toEqual({ cipher: "aes-256-cbc" })
        expect(fs.readFileSync(full.manifestFile, "utf8")).not.toContain(key)

        // A wrong key: pgBackRest refuses, nothing claims a backup, and neither key is in the error.
        const wrong = "wrong-" + key
        const failed = yield* Effect.flip(run(wrong, (p) => p.backup({ type: "incr" })))
        expect(failed._tag).toBe("PgToolFailed")
        expect(String(failed.message)).not.toContain(key)
        expect(fs.readdirSync(backupDir).filter((f) => f.endsWith(".pgbackrest.json"))).toHaveLength(1)

        // The restored copy reads the encrypted WAL with the key from its environment too.
        yield* run(key, (p) => p.point("encrypted_point"))
        yield* run(key, (p) => p.setup())
        const port = yield* Effect.promise(freePort)
        const restored = yield* run(key, (p) =>
          p.restore({
            toName: "encrypted_point",
            into: path.join(cluster.dir, "decrypted"),
            port,
            expectSql: "select count(*) = 10 from secret_rows",
            yes: true
          }))
        expect(JSON.stringify(restored)).not.toContain(key)
        expect(fs.readFileSync(path.join(cluster.dir, "decrypted", "postgresql.auto.conf"), "utf8")).not.toContain(key)

        yield* Fiber.interrupt(watcher)
        expect(seen.size).toBeGreaterThan(0)
        expect([...seen].filter((cmdline) => cmdline.includes(key))).toEqual([])
      })),
    300_000
  )
})
