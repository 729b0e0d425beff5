// `kill -9` in the middle of `dbkit backup --physical --type full` (the real CLI bundle, on a
// private cluster archiving into its own pgBackRest repository, test/support/cluster.ts): first
// pgBackRest alone is killed, then dbkit and everything it started at once. Neither leaves a
// dbkit manifest claiming a backup, pgBackRest lists no backup for either, and the next backup
// succeeds (pgBackRest resumes the aborted one or starts clean) with a manifest that matches
// what pgBackRest recorded, in a repository that verifies.
import * as NodeContext from "@effect/platform-node/NodeContext"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import * as Backup from "../src/backup/Backup.js"
import * as Config from "../src/Config.js"
import { PgLive } from "../src/Database.js"
import { nodeFlags, runCli } from "./support/cli.js"
import { type PitrCluster, pitrTools, startCluster, withClusterEnv } from "./support/cluster.js"
import { queryAt } from "./support/databases.js"

const tools = pitrTools()
const bin = path.resolve(import.meta.dirname, "../bin/dbkit.mjs")

/** The pids of this cluster's running `pgbackrest … backup` processes (its main one and its workers). */
const backupProcesses = (cluster: PitrCluster): Array<number> =>
  fs.readdirSync("/proc").filter((d) => /^\d+$/.test(d)).flatMap((pid) => {
    try {
      const argv = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter((a) => a !== "")
      return path.basename(argv[0] ?? "") === "pgbackrest" && argv.includes(`--config=${cluster.configFile}`) &&
          /^backup(:|$)/.test(argv.at(-1) ?? "")
        ? [Number(pid)]
        : []
    } catch {
      return [] // gone
    }
  })

/** Backup folders in the repository with files being written (a backup under way). */
const backupsUnderWay = (cluster: PitrCluster, known: ReadonlySet<string>) => {
  const dir = path.join(cluster.repoPath, "backup", cluster.stanza)
  return (fs.existsSync(dir) ? fs.readdirSync(dir) : []).filter((label) => {
    if (!/F$/.test(label) || known.has(label)) return false
    const data = path.join(dir, label, "pg_data", "base")
    return fs.existsSync(data) && fs.readdirSync(data).length > 0
  })
}

const until = <A>(what: string, probe: () => A | undefined) =>
  Effect.suspend(() => {
    const found = probe()
    return found === undefined ? Effect.fail(what) : Effect.succeed(found)
  }).pipe(
    Effect.retry(Schedule.spaced("50 millis").pipe(Schedule.upTo("120 seconds"))),
    Effect.orDie
  )

describe.skipIf("skip" in tools)("kill -9 during a physical backup", () => {
  const binDir = "binDir" in tools ? tools.binDir : ""

  it.live(
    "no manifest claims a killed backup, pgBackRest lists none, and the next full backup succeeds with a correct manifest",
    () =>
      Effect.scoped(Effect.gen(function*() {
        // The slowest compression, so a full backup of ~150 MB takes seconds: time to be killed in.
        const cluster = yield* startCluster(binDir, { pgbackrest: ["compress-type=gz", "compress-level=9"] })
        const backupDir = path.join(cluster.dir, "manifests")
        const env = { ...cluster.env, DATABASE_URL: cluster.url, DBKIT_BACKUP_DIR: backupDir }
        const manifests = () =>
          fs.existsSync(backupDir) ? fs.readdirSync(backupDir).filter((f) => f.endsWith(".pgbackrest.json")) : []
        const info = () =>
          (JSON.parse(
            cluster.run("pgbackrest", [
              `--config=${cluster.configFile}`,
              `--stanza=${cluster.stanza}`,
              "info",
              "--output=json"
            ])
          ) as Array<{ backup: Array<{ label: string; type: string; lsn: { stop: string } }> }>)[0]!.backup

        expect((yield* Effect.promise(() => runCli(["pitr", "setup"], env, { cwd: cluster.dir }))).code).toBe(0)
        yield* Effect.promise(() =>
          queryAt(
            cluster.url,
            "CREATE TABLE big AS SELECT g, md5(g::text) || md5((g * 7)::text) AS h FROM generate_series(1, 1500000) g"
          )
        )

        /** Starts the CLI's full backup in its own process group, waits until pgBackRest is copying files. */
        const startBackup = Effect.gen(function*() {
          const known = new Set(info().map((b) => b.label))
          const child = spawn(process.execPath, [...nodeFlags, bin, "backup", "--physical", "--type", "full"], {
            cwd: cluster.dir,
            env: { ...process.env, ...env, CI: "true" },
            stdio: ["ignore", "pipe", "pipe"],
            detached: true
          })
          let stderr = ""
          child.stderr.on("data", (d) => (stderr += d))
          child.stdout.resume()
          const exited = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)))
          let code: number | null | undefined
          void exited.then((c) => (code = c))
          yield* until("pgBackRest copying files", () => {
            if (code !== undefined) throw new Error(`the backup ended (exit ${code}) before it could be killed`)
            return backupsUnderWay(cluster, known).length > 0 && backupProcesses(cluster).length > 0 ? true : undefined
          })
          return { child, exited, stderr: () => stderr }
        })
        const allGone = until(
          "the killed processes gone",
          () => backupProcesses(cluster).length === 0 ? true : undefined
        )

        // 1. pgBackRest itself is killed: dbkit reports the failure, writes nothing.
        const first = yield* startBackup
        for (const pid of backupProcesses(cluster)) process.kill(pid, "SIGKILL")
        const code = yield* Effect.promise(() => first.exited)
        expect([code, first.stderr()]).toEqual([13, expect.stringContaining("pgbackrest")])
        yield* allGone
        expect(manifests()).toEqual([])
        expect(info()).toEqual([])

        // 2. dbkit and everything it started, at once (its process group), as an OOM killer or a host would.
        const second = yield* startBackup
        process.kill(-second.child.pid!, "SIGKILL")
        for (const pid of backupProcesses(cluster)) process.kill(pid, "SIGKILL")
        yield* Effect.promise(() => second.exited)
        yield* allGone
        expect(manifests()).toEqual([])
        expect(info()).toEqual([])

        // 3. The next backup succeeds, and its manifest is what pgBackRest recorded.
        const next = yield* Effect.promise(() =>
          runCli(["backup", "--physical", "--type", "full", "--json"], env, { cwd: cluster.dir, timeoutMs: 300_000 })
        )
        expect(next.code, next.stderr).toBe(0)
        const made = JSON.parse(next.stdout) as {
          manifestFile: string
          manifest: { label: string; type: string; stop: { lsn: string }; sizes: { database: number } }
        }
        const listed = info()
        expect(listed.map((b) => [b.label, b.type])).toEqual([[made.manifest.label, "full"]])
        expect(made.manifest).toMatchObject({ type: "full", stop: { lsn: listed[0]!.lsn.stop } })
        expect(made.manifest.sizes.database).toBeGreaterThan(100_000_000)
        expect(manifests()).toEqual([path.basename(made.manifestFile)])
        const verified = yield* Effect.promise(() =>
          runCli(["backups", "verify", "--physical", "--json"], env, { cwd: cluster.dir, timeoutMs: 300_000 })
        )
        expect([verified.code, JSON.parse(verified.stdout).backups]).toEqual([0, 1])

        // 4. A program's backup hears how far pgBackRest is (what the CLI draws on a terminal).
        const heard: Array<number> = []
        const library = Backup.layer.pipe(
          Layer.provideMerge(PgLive({ url: Redacted.make(cluster.url) })),
          Layer.provide(Config.layerFrom({ backupDir, environment: "test" })),
          Layer.provide(NodeContext.layer)
        )
        const again = yield* Effect.flatMap(
          Backup.Backup,
          (b) => b.physical.backup({ type: "full", onProgress: (percent) => heard.push(percent) })
        ).pipe(Effect.provide(library), withClusterEnv(cluster))
        expect(again.manifest.type).toBe("full")
        // One reading per file copied, rising to 100%.
        expect(heard.length).toBeGreaterThan(10)
        expect(heard).toEqual([...heard].sort((a, b) => a - b))
        expect(heard.at(-1)).toBeGreaterThan(99)
      })),
    600_000
  )
})
