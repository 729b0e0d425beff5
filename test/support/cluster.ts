/**
 * A private PostgreSQL 15 cluster for the point-in-time recovery tests: initdb into a temp folder,
 * a free loopback port, trust auth on 127.0.0.1, `wal_level=replica`, `archive_mode=on` and an
 * `archive_command` that pushes into a pgBackRest repository in the same folder, with a
 * pgBackRest config file of its own (repository, logs, locks, spool: all in the temp folder;
 * nothing in /etc or /var). The shared server on 5432 is never touched.
 *
 * initdb and postgres refuse to run as root, so as root the folder is handed to the `postgres`
 * system user and every server-side program (initdb, pg_ctl, pgbackrest) runs as that user
 * through `runuser -u postgres --`; dbkit is told the same with DBKIT_PGBACKREST_USER.
 *
 * Scoped: the release stops every cluster started in the folder (the original and any restored
 * copy) with `pg_ctl stop -m immediate`, then deletes the folder. With CI=true a missing
 * pgbackrest or initdb fails the file; otherwise `pitrTools()` says why the tests are skipped.
 */
import * as ConfigProvider from "effect/ConfigProvider"
import * as Effect from "effect/Effect"
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { ci, which } from "./binaries.js"

const binDirs = ["/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/16/bin", "/usr/lib/postgresql/17/bin"]

/** What the tests need, or why they are skipped (throws under CI=true when something is missing). */
export const pitrTools = (): { readonly binDir: string } | { readonly skip: string } => {
  const binDir = binDirs.find((dir) => fs.existsSync(path.join(dir, "initdb")))
    ?? (which("initdb") === undefined ? undefined : path.dirname(which("initdb")!))
  const missing = which("pgbackrest") === undefined
    ? "pgbackrest is not installed (apt-get install pgbackrest)"
    : binDir === undefined
    ? "the PostgreSQL server binaries (initdb, pg_ctl) are not installed"
    : process.getuid?.() === 0 && which("runuser") === undefined
    ? "running as root without runuser: initdb cannot run as another user"
    : undefined
  if (missing !== undefined && ci) {
    throw new Error(`${missing} (required under CI=true; .ci/run installs pgbackrest)`)
  }
  return missing === undefined ? { binDir: binDir! } : { skip: missing }
}

/** A free TCP port on the loopback interface. */
export const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const probe = net.createServer()
    probe.once("error", reject)
    probe.listen(0, "127.0.0.1", () => {
      const address = probe.address()
      probe.close(() => typeof address === "object" && address !== null ? resolve(address.port) : reject(address))
    })
  })

export interface PitrCluster {
  /** The temp folder holding everything; restored copies go in here too. */
  readonly dir: string
  readonly dataDir: string
  readonly port: number
  /** `postgres://postgres@127.0.0.1:PORT/postgres` (trust). */
  readonly url: string
  readonly stanza: string
  readonly configFile: string
  readonly repoPath: string
  /** The system user the server programs run as (`postgres` as root), or undefined: this process's user. */
  readonly runAs: string | undefined
  readonly binDir: string
  /** The variables that point dbkit at this cluster's pgBackRest (DBKIT_PGBACKREST_*). */
  readonly env: Readonly<Record<string, string>>
  /** The server's log, for failure messages. */
  readonly log: () => string
  /** Runs a program as the cluster's user (root: through runuser), returning its stdout. */
  readonly run: (program: string, args: ReadonlyArray<string>) => string
}

export interface ClusterOptions {
  /** Extra `[global]` lines of the pgBackRest config, e.g. repository encryption. */
  readonly pgbackrest?: ReadonlyArray<string>
  /** Environment for the programs the cluster runs (a cipher pass for `stanza-create`). */
  readonly env?: Readonly<Record<string, string>>
  /** The server's archive_command instead of the push into this stanza (what `pitr setup` then changes). */
  readonly archiveCommand?: string
  /** More postgresql.conf lines, e.g. `shared_preload_libraries = 'pg_stat_statements'`. */
  readonly settings?: ReadonlyArray<string>
}

/** A running archiving cluster for the scope; stopped and deleted with it. */
export const startCluster = (binDir: string, options: ClusterOptions = {}) =>
  Effect.acquireRelease(
    Effect.promise(async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "dbkit-pitr-"))
      const port = await freePort()
      const asRoot = process.getuid?.() === 0
      const runAs = asRoot ? "postgres" : undefined
      const stanza = "dbkit_test"
      const dataDir = path.join(dir, "data")
      const repoPath = path.join(dir, "repo")
      const configFile = path.join(dir, "pgbackrest.conf")
      const socketDir = path.join(dir, "sock")
      for (const sub of ["repo", "log", "lock", "spool", "sock"]) fs.mkdirSync(path.join(dir, sub), { mode: 0o700 })
      fs.writeFileSync(
        configFile,
        [
          "[global]",
          `repo1-path=${repoPath}`,
          `log-path=${path.join(dir, "log")}`,
          `lock-path=${path.join(dir, "lock")}`,
          `spool-path=${path.join(dir, "spool")}`,
          "log-level-console=warn",
          "log-level-file=off",
          "start-fast=y",
          ...(options.pgbackrest ?? []),
          "",
          `[${stanza}]`,
          `pg1-path=${dataDir}`,
          `pg1-port=${port}`,
          `pg1-socket-path=${socketDir}`,
          "pg1-user=postgres",
          ""
        ].join("\n"),
        { mode: 0o600 }
      )
      if (asRoot) {
        const [uid, gid] = ["-u", "-g"].map((flag) =>
          Number(execFileSync("id", [flag, "postgres"], { encoding: "utf8" }))
        )
        for (const entry of [dir, ...fs.readdirSync(dir).map((name) => path.join(dir, name))]) {
          fs.chownSync(entry, uid!, gid!)
        }
      }
      const run = (program: string, args: ReadonlyArray<string>) =>
        execFileSync(
          runAs === undefined ? program : "runuser",
          runAs === undefined ? args : ["-u", runAs, "--", program, ...args],
          { encoding: "utf8", env: { ...process.env, ...options.env }, stdio: ["ignore", "pipe", "pipe"] }
        )
      run(path.join(binDir, "initdb"), ["-D", dataDir, "-A", "trust", "-U", "postgres", "--no-sync"])
      fs.appendFileSync(
        path.join(dataDir, "postgresql.conf"),
        [
          "",
          "# dbkit test cluster",
          `port = ${port}`,
          "listen_addresses = '127.0.0.1'",
          `unix_socket_directories = '${socketDir}'`,
          "wal_level = replica",
          "archive_mode = on",
          `archive_command = '${
            options.archiveCommand ?? `pgbackrest --config=${configFile} --stanza=${stanza} archive-push %p`
          }'`,
          "fsync = off",
          "full_page_writes = on",
          "max_wal_size = 256MB",
          ...(options.settings ?? []),
          ""
        ].join("\n")
      )
      const logFile = path.join(dir, "server.log")
      run(path.join(binDir, "pg_ctl"), ["-D", dataDir, "-l", logFile, "-w", "-t", "60", "start"])
      const cluster: PitrCluster = {
        dir,
        dataDir,
        port,
        url: `postgres://postgres@127.0.0.1:${port}/postgres`,
        stanza,
        configFile,
        repoPath,
        runAs,
        binDir,
        env: {
          DBKIT_PGBACKREST_STANZA: stanza,
          DBKIT_PGBACKREST_CONFIG: configFile,
          DBKIT_PG_BINDIR: binDir,
          ...(runAs === undefined ? {} : { DBKIT_PGBACKREST_USER: runAs })
        },
        log: () => (fs.existsSync(logFile) ? fs.readFileSync(logFile, "utf8") : ""),
        run
      }
      return cluster
    }),
    (cluster) =>
      Effect.sync(() => {
        // Every cluster started in the folder: the original and the restored copies.
        const running = fs.readdirSync(cluster.dir)
          .map((name) => path.join(cluster.dir, name))
          .filter((d) => fs.existsSync(path.join(d, "postmaster.pid")))
        for (const dataDir of running) {
          try {
            cluster.run(path.join(cluster.binDir, "pg_ctl"), ["-D", dataDir, "-m", "immediate", "-w", "stop"])
          } catch {
            // already stopped
          }
        }
        fs.rmSync(cluster.dir, { recursive: true, force: true })
      })
  )

/** Runs an effect with the process's environment plus the cluster's (its pgBackRest settings) as its Config. */
export const withClusterEnv = (cluster: PitrCluster) =>
  Effect.withConfigProvider(
    ConfigProvider.fromMap(
      new Map(
        Object.entries({ ...process.env, ...cluster.env }).filter((e): e is [string, string] => e[1] !== undefined)
      )
    )
  )
