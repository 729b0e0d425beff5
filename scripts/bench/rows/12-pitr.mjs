// Physical backups and point-in-time recovery through pgBackRest, on a private PostgreSQL cluster (initdb into a temp
// folder, a free loopback port, wal_level=replica, archive_mode=on, archive_command = pgbackrest archive-push into a
// repository in the same folder; as root every server-side program runs as `postgres` through runuser, as dbkit
// does with DBKIT_PGBACKREST_USER). The shared server is never touched. The database: pgbench -i -s 34 (~500 MB),
// as in 05-backup-restore. pgBackRest runs with its defaults (gz level 6, one process) and keeps two full backups
// (repo1-retention-full=2, so the repository stays small over the runs). dbkit's own share is fixed (the CLI's start,
// a connection, two `pgbackrest info` calls and the manifest: ~0.3-0.5 s here, measured by polling /proc), so the
// ratio approaches 1 as the backup grows; with zst, a 500 MB full backup takes ~4 s and that share is ~8%.
//   full     dbkit backup --physical --type full --json        (pgbackrest backup, then info, then a manifest)
//                                                     vs  pgbackrest --config … --stanza … --type=full backup  (the same
//            options, run directly: dbkit adds orchestration only; the bar: ratio ≤ 1/0.95)
//                                                     and dbkit backup --json (logical: pg_dump → gzip 6 → AES-256-GCM)
//   incr     after 1% of pgbench_accounts changed (one contiguous range of aid, UPDATEd and CHECKPOINTed, untimed):
//            dbkit backup --physical --type incr  vs  pgbackrest --type=incr backup; bytes added to the repository
//            logged (pgBackRest 2.45's incremental is per file: a changed 1 GB segment is copied whole)
//   restore  dbkit restore --physical --to-time T --into DIR --port P --yes (pgbackrest restore of the newest
//            backup before T, start with pg_ctl, replay the archived WAL to T, promote; checked with --expect-sql)
//                                                     vs  dbkit restore FILE --into NEW (the logical backup, loaded)
//            each run's copy is stopped and deleted (teardown, untimed)
// Few runs (default 2, no warmup: each sample is seconds of I/O); --runs overrides. BENCH_PITR_SCALE overrides the
// pgbench scale for a quick try. Skipped (with a log line) when pgbackrest or the server binaries are missing.
import { execFileSync } from "node:child_process"
import { chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fmt, freePort, which, withClient } from "../harness.mjs"

const SCALE = Number(process.env.BENCH_PITR_SCALE ?? 34)
const DEFAULT_RUNS = 2
const TIMEOUT_MS = 15 * 60_000
const MB = 1024 * 1024
const STANZA = "bench"

export async function rows(ctx) {
  const binDir = ["/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/16/bin", "/usr/lib/postgresql/17/bin"].find((d) =>
    existsSync(join(d, "initdb"))
  )
  if (!which("pgbackrest") || binDir === undefined) {
    ctx.log("pitr: skipped (pgbackrest or the PostgreSQL server binaries are not installed)")
    return []
  }
  const runs = ctx.runsSet ? ctx.runs : DEFAULT_RUNS
  const warmup = ctx.runsSet ? ctx.warmup : 0
  const asRoot = process.getuid?.() === 0
  const runAs = asRoot ? "postgres" : undefined
  /** argv for a server-side program: through runuser as root. */
  const as = (program, args) => (runAs === undefined ? [program, args] : ["runuser", ["-u", runAs, "--", program, ...args]])
  const run = (program, args) => execFileSync(...as(program, args), { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] })

  // ---- The cluster (untimed).
  const dir = mkdtempSync(join(tmpdir(), "dbkit-bench-pitr-"))
  const port = await freePort()
  const dataDir = join(dir, "data")
  const repoPath = join(dir, "repo")
  const configFile = join(dir, "pgbackrest.conf")
  const socketDir = join(dir, "sock")
  for (const sub of ["repo", "log", "lock", "spool", "sock", "manifests", "logical", "restores"]) mkdirSync(join(dir, sub))
  writeFileSync(
    configFile,
    [
      "[global]",
      `repo1-path=${repoPath}`,
      `log-path=${join(dir, "log")}`,
      `lock-path=${join(dir, "lock")}`,
      `spool-path=${join(dir, "spool")}`,
      "log-level-console=warn",
      "log-level-file=off",
      "start-fast=y",
      "repo1-retention-full=2",
      "",
      `[${STANZA}]`,
      `pg1-path=${dataDir}`,
      `pg1-port=${port}`,
      `pg1-socket-path=${socketDir}`,
      "pg1-user=postgres",
      ""
    ].join("\n")
  )
  if (asRoot) {
    const [uid, gid] = ["-u", "-g"].map((flag) => Number(execFileSync("id", [flag, "postgres"], { encoding: "utf8" })))
    for (const entry of [dir, ...readdirSync(dir).map((name) => join(dir, name))]) chownSync(entry, uid, gid)
  }
  const pgCtl = join(binDir, "pg_ctl")
  const clusters = () => readdirSync(join(dir, "restores")).map((n) => join(dir, "restores", n)).concat([dataDir])
  const stop = (data) => {
    try {
      if (existsSync(join(data, "postmaster.pid"))) run(pgCtl, ["-D", data, "-m", "immediate", "-w", "stop"])
    } catch {
      // already stopped
    }
  }
  try {
    run(join(binDir, "initdb"), ["-D", dataDir, "-A", "trust", "-U", "postgres", "--no-sync"])
    writeFileSync(
      join(dataDir, "postgresql.conf"),
      readFileSync(join(dataDir, "postgresql.conf"), "utf8") +
        [
          "",
          `port = ${port}`,
          "listen_addresses = '127.0.0.1'",
          `unix_socket_directories = '${socketDir}'`,
          "wal_level = replica",
          "archive_mode = on",
          `archive_command = 'pgbackrest --config=${configFile} --stanza=${STANZA} archive-push %p'`,
          "max_wal_size = 1GB",
          ""
        ].join("\n")
    )
    run(pgCtl, ["-D", dataDir, "-l", join(dir, "server.log"), "-w", "-t", "120", "start"])
    const url = `postgres://postgres@127.0.0.1:${port}/postgres`
    const sql = (text, target = url) => withClient(target, (c) => c.query(text))
    const t0 = performance.now()
    await ctx.runProcess("pgbench", ["-i", "-q", "-s", String(SCALE), "-h", "127.0.0.1", "-p", String(port), "-U", "postgres", "postgres"], {
      env: ctx.childEnv({}),
      timeoutMs: TIMEOUT_MS
    })
    const dbBytes = Number((await sql("SELECT pg_database_size(current_database())::text AS n")).rows[0].n)
    const accounts = 100_000 * SCALE
    ctx.log(`pitr: pgbench -i -s ${SCALE} in ${((performance.now() - t0) / 1000).toFixed(1)} s; ${fmt(dbBytes / MB)} MB`)

    const dbkitEnv = ctx.childEnv({
      DATABASE_URL: url,
      DBKIT_BACKUP_DIR: join(dir, "manifests"),
      DBKIT_PGBACKREST_STANZA: STANZA,
      DBKIT_PGBACKREST_CONFIG: configFile,
      DBKIT_PG_BINDIR: binDir,
      DB_BACKUP_KEY: "dbkit-bench-backup-key (not a secret)",
      ...(runAs === undefined ? {} : { DBKIT_PGBACKREST_USER: runAs })
    })
    const dbkit = (args) => ctx.runProcess(ctx.node, ["bin/dbkit.mjs", ...args], { env: dbkitEnv, timeoutMs: TIMEOUT_MS })
    await dbkit(["pitr", "setup"])
    const info = () =>
      JSON.parse(run("pgbackrest", [`--config=${configFile}`, `--stanza=${STANZA}`, "info", "--output=json"]))[0].backup
    const checkpoint = () => sql("CHECKPOINT")
    const newBackup = (type) => {
      const before = new Set(info().map((b) => b.label))
      return {
        check: () => {
          const made = info().filter((b) => !before.has(b.label))
          if (made.length !== 1 || made[0].type !== type) throw new Error(`bench: expected one new ${type} backup, got ${JSON.stringify(made.map((b) => b.label))}`)
          return made[0]
        }
      }
    }
    /** A pgBackRest backup side and dbkit's, alike but for the tool. */
    const physicalSides = (type) => {
      const [cmd, args] = as("pgbackrest", [`--config=${configFile}`, `--stanza=${STANZA}`, `--type=${type}`, "backup"])
      const sizes = { dbkit: [], pgbackrest: [] }
      return {
        sizes,
        sides: [
          ctx.processSide(`dbkit backup --physical --type ${type}`, ctx.node, ["bin/dbkit.mjs", "backup", "--physical", "--type", type, "--json"], {
            env: dbkitEnv,
            timeoutMs: TIMEOUT_MS,
            setup: async () => {
              await checkpoint()
              return newBackup(type)
            },
            check: (state, r) => {
              const made = state.check()
              const { manifest } = JSON.parse(r.stdout)
              if (manifest.label !== made.label) throw new Error(`bench: dbkit's manifest names ${manifest.label}, pgBackRest made ${made.label}`)
              sizes.dbkit.push(made.info.repository.delta)
            }
          }),
          ctx.processSide(`pgbackrest --type=${type} backup`, cmd, args, {
            env: ctx.childEnv({}),
            timeoutMs: TIMEOUT_MS,
            setup: async () => {
              await checkpoint()
              return newBackup(type)
            },
            check: (state) => sizes.pgbackrest.push(state.check().info.repository.delta)
          })
        ]
      }
    }

    // ---- Full backups: dbkit physical, pgBackRest directly, dbkit logical.
    const full = physicalSides("full")
    let logicalBytes = 0
    const logicalSide = ctx.processSide("dbkit backup (logical)", ctx.node, [], {
      env: dbkitEnv,
      timeoutMs: TIMEOUT_MS,
      setup: async () => {
        await checkpoint()
        const out = mkdtempSync(join(dir, "logical", "run-"))
        return { out, args: ["bin/dbkit.mjs", "backup", "--out", out, "--json"] }
      },
      check: (_state, r) => {
        const { manifest } = JSON.parse(r.stdout)
        if (manifest.tables["public.pgbench_accounts"] !== accounts) throw new Error("bench: the logical backup's pgbench_accounts count is wrong")
        logicalBytes = manifest.sizes.file
      },
      teardown: (state) => state && rmSync(state.out, { recursive: true, force: true })
    })
    const [dbkitFull, backrestFull, logicalFull] = await ctx.compare([...full.sides, logicalSide], { runs, warmup })

    // ---- Incremental after 1% of the accounts changed (a contiguous range; untimed setup).
    let round = 0
    const touch = async () => {
      const from = (round++ % 50) * (accounts / 100)
      await sql(`UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid > ${from} AND aid <= ${from + accounts / 100}`)
    }
    const incr = physicalSides("incr")
    for (const s of incr.sides) {
      const setup = s.setup
      s.setup = async () => {
        await touch()
        return setup()
      }
    }
    const [dbkitIncr, backrestIncr] = await ctx.compare(incr.sides, { runs, warmup })

    // ---- Restore to a point in time vs the logical restore.
    await sql("CREATE TABLE bench_marker (at timestamptz DEFAULT clock_timestamp()); INSERT INTO bench_marker DEFAULT VALUES")
    await new Promise((r) => setTimeout(r, 1100))
    const target = (await sql("SELECT clock_timestamp()::text AS t")).rows[0].t
    await new Promise((r) => setTimeout(r, 1100))
    await sql("INSERT INTO bench_marker DEFAULT VALUES")
    await dbkit(["pitr", "setup"]) // its `pgbackrest check` archives the WAL up to here
    const fixtureDir = join(dir, "logical", "fixture")
    mkdirSync(fixtureDir)
    const fixture = JSON.parse((await dbkit(["backup", "--out", fixtureDir, "--json"])).stdout).file
    let restoredDbs = 0
    const restoreSides = [
      ctx.processSide("dbkit restore --physical --to-time", ctx.node, [], {
        env: dbkitEnv,
        timeoutMs: TIMEOUT_MS,
        setup: async () => {
          const into = join(dir, "restores", `r${Math.random().toString(36).slice(2, 8)}`)
          const p = await freePort()
          return {
            into,
            args: ["bin/dbkit.mjs", "restore", "--physical", "--to-time", target, "--into-cluster", into, "--port", String(p), "--yes", "--json",
              "--expect-sql", `select count(*) = ${accounts} and (select count(*) = 1 from bench_marker) from pgbench_accounts`]
          }
        },
        teardown: (state) => {
          if (!state) return
          stop(state.into)
          rmSync(state.into, { recursive: true, force: true })
          rmSync(`${state.into}.tablespaces`, { recursive: true, force: true })
        }
      }),
      ctx.processSide("dbkit restore FILE --into (logical)", ctx.node, [], {
        env: dbkitEnv,
        timeoutMs: TIMEOUT_MS,
        setup: () => {
          const name = `bench_restored_${restoredDbs++}`
          return { name, args: ["bin/dbkit.mjs", "restore", fixture, "--into", name, "--json"] }
        },
        check: async (state) => {
          const n = Number((await sql("SELECT count(*)::text AS n FROM pgbench_accounts", url.replace(/\/postgres$/, `/${state.name}`))).rows[0].n)
          if (n !== accounts) throw new Error(`bench: the logical restore holds ${n} accounts`)
        },
        teardown: (state) => state && sql(`DROP DATABASE IF EXISTS ${state.name}`)
      })
    ]
    const [physicalRestore, logicalRestore] = await ctx.compare(restoreSides, { runs, warmup })

    const med = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0
    ctx.log(
      `pitr: bytes added to the repository: full dbkit ${fmt(med(full.sizes.dbkit) / MB)} MB, pgbackrest ${fmt(med(full.sizes.pgbackrest) / MB)} MB; ` +
        `incr dbkit ${fmt(med(incr.sizes.dbkit) / MB)} MB, pgbackrest ${fmt(med(incr.sizes.pgbackrest) / MB)} MB; logical file ${fmt(logicalBytes / MB)} MB`
    )
    const size = `~${fmt(dbBytes / MB)} MB`
    const rows = [
      ctx.row({ operation: `physical full backup ${size}`, dbkit: dbkitFull, baseline: backrestFull, baselineName: "pgbackrest backup --type=full", dbkitBytes: dbBytes, baselineBytes: dbBytes }),
      ctx.row({ operation: `physical full vs logical backup ${size}`, dbkit: dbkitFull, baseline: logicalFull, baselineName: "dbkit backup (logical)", dbkitBytes: dbBytes, baselineBytes: dbBytes }),
      ctx.row({ operation: `physical incr after 1% changed (${fmt(med(incr.sizes.dbkit) / MB)} MB to the repo)`, dbkit: dbkitIncr, baseline: backrestIncr, baselineName: "pgbackrest backup --type=incr" }),
      ctx.row({ operation: `restore to a time ${size}`, dbkit: physicalRestore, baseline: logicalRestore, baselineName: "dbkit restore FILE (logical)", dbkitBytes: dbBytes, baselineBytes: dbBytes })
    ]
    const ratio = rows[0].ratio
    ctx.log(`pitr: dbkit's full backup at ${(100 / ratio).toFixed(0)}% of pgbackrest's own speed (bar >= 95%: ${1 / ratio >= 0.95 ? "met" : "MISSED"})`)
    return rows
  } finally {
    for (const data of clusters()) stop(data)
    rmSync(dir, { recursive: true, force: true })
  }
}
