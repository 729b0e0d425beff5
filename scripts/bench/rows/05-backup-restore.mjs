// Backup and restore of a pgbench-initialised database of about 500 MB (pgbench -i -s 34), whole process on both
// sides, reported in MB/s of that database (pg_database_size of the source, MiB; the same amount for both sides, so
// the ratio is the time ratio):
//   backup   dbkit backup --out DIR --json with DB_BACKUP_KEY set (pg_dump plain on an exported snapshot → gzip 6 →
//            AES-256-GCM → file, sha256 and row counts taken from the dump's COPY blocks on the way; a manifest signed
//            with a key derived from DB_BACKUP_KEY; fsynced)
//                                                     vs  sh -c "pg_dump --format=p DB | gzip -6 > out.sql.gz"
//   restore  dbkit restore FILE --into NEW --json of a backup made once with DB_BACKUP_KEY (signed by it, so it needs
//            no --trust-unsigned and no screening pass). dbkit checks first — the manifest's signature, the file's
//            size, the key — with the server's side meanwhile (its version, NEW free); then CREATE DATABASE NEW; then
//            it loads the dump itself, without psql: the file streams through decryption that authenticates each
//            64 KiB chunk before passing it on, gunzip and dbkit's own lexer and trust policy, and the statements it
//            accepts run on dbkit's own `pg` connection (application_name dbkit-load) in one transaction, COPY data
//            streamed with pg-copy-streams; the file's sha256, gzip's CRC and the manifest's size are checked before
//            COMMIT. Row counts from the COPYs are compared with the manifest (count(*) only for a table they do not
//            vouch for). (A custom-format archive would go through `pg_restore -f -`, which only writes a script, into
//            the same runner; this row's backups are plain.)
//                                                     vs  sh -c "gunzip -c base.sql.gz | psql -1 -q -X -v ON_ERROR_STOP=1 NEW2"
//            of a plain `pg_dump | gzip -6` of the same database, made once. NEW2 is created in untimed setup;
//            dbkit's --into creates NEW itself (inside its timed run, as it must); both are dropped in teardown.
// Setup once (untimed): the scratch database, pgbench -i, CHECKPOINT, both restore inputs. Every run (warmup too)
// starts with a CHECKPOINT (untimed) so no side inherits the previous run's dirty buffers, and is checked
// (untimed): backups must be complete (dbkit: its file matches its manifest — size, sha256, encryption on,
// pgbench_accounts count; pg_dump | gzip: the same size and gzip trailer as the reference dump), restores must hold
// pgbench_accounts with 100,000 × scale rows. Outputs are deleted after every run.
// The issue's bars, reported (never enforced): in the same run, backup >= 90% of the pg_dump | gzip throughput and
// restore >= 90% of the gunzip | psql -1 throughput; dbkit's peak RSS < 200 MB for both.
// Also logged (untimed, not in the table; in the JSON as `analysis`): where dbkit's time goes.
//   backup   one extra dbkit backup split by its pg_dump child (polled in /proc): before pg_dump starts / while it
//            runs / after it exits, with dbkit's peak RSS in each phase.
//   restore  one extra dbkit restore split by its dbkit-load backend, which the bench watches in pg_stat_activity
//            (application_name = 'dbkit-load' AND datname = NEW, polled every ~10 ms from the bench's own
//            connection): before the first byte (process start → the backend first seen running a statement of the
//            script: CLI startup, checks, CREATE DATABASE, connect, BEGIN), streaming (→ its COMMIT finished, or
//            the backend gone), after (→ process exit: closing, the count check, exit), with peak RSS in each; the
//            streaming phase is also sampled by what the backend was doing (COPY, building indexes and constraints,
//            other statements, idle in transaction between them, i.e. waiting for dbkit; a COPY is active also while
//            it waits for dbkit's next data, so its share includes dbkit's decryption, gunzip and lexing).
//   alone    the CLI's startup, pg_dump alone, gzip -6 vs dbkit's in-process pipeline
//            (Node zlib → AES-256-GCM → sha256) on the same dump, a backup without DB_BACKUP_KEY, `dbkit backups
//            verify FILE` (checksum, decryption and dbkit's reader over the whole dump), the in-process decrypt +
//            gunzip of the file (scripts/bench/backup-probe.mjs verify), gunzip -c of the plain dump, CREATE DATABASE.
// BENCH_PGBENCH_SCALE overrides the scale (default 34) for a quick try.
import { spawn } from "node:child_process"
import { closeSync, createReadStream, mkdirSync, openSync, readFileSync, readSync, readdirSync, rmSync, statSync } from "node:fs"
import { createHash } from "node:crypto"
import { join } from "node:path"
import pg from "pg"
import { fmt, median, pgEnvOf, q, withClient } from "../harness.mjs"

const SCALE = Number(process.env.BENCH_PGBENCH_SCALE ?? 34)
const DEFAULT_RUNS = 3 // a round of both sides of both rows takes ~20 s; --runs overrides
const PROBE_RUNS = 3 // each analysis probe: median of this many runs
const KEY = "dbkit-bench-backup-key (not a secret)"
const LEVEL = 6
const BARS = { throughput: 0.9, rssMb: 200 }
const TIMEOUT_MS = 15 * 60_000
const MB = 1024 * 1024

const mb = (bytes) => (bytes / MB).toFixed(bytes / MB >= 100 ? 0 : 1)

const sha256File = async (file) => {
  const h = createHash("sha256")
  for await (const c of createReadStream(file)) h.update(c)
  return h.digest("hex")
}

/** The gzip trailer's ISIZE (uncompressed size mod 2^32) and the file size: a cheap identity of a gzip output. */
const gzipIdentity = (file) => {
  const size = statSync(file).size
  const fd = openSync(file, "r")
  const b = Buffer.alloc(4)
  readSync(fd, b, 0, 4, size - 4)
  closeSync(fd)
  return { size, isize: b.readUInt32LE(0) }
}

/**
 * Runs cmd once, polling it every 20 ms: its RSS (VmRSS) and its children (by name), so a dbkit run can be split
 * into phases — before its pg tool starts, while it runs, after it exits. Returns { ms, children: { name: {
 * startMs, endMs } } (per name — a child's name after its exec — the longest-lived child of that name: dbkit
 * also runs `pg_dump --version`),
 * rssKb: { peak, samples: [[ms, kb]] }, stdout }. onStart(t0), if given, is called with the performance.now() the
 * timeline counts from, right after the spawn (for a watcher of its own, see watchBackend).
 */
export const timeline = (cmd, args, { cwd, env, onStart }) =>
  new Promise((resolve, reject) => {
    const t0 = performance.now()
    const child = spawn(cmd, args, { cwd, env, stdio: ["ignore", "pipe", "pipe"] })
    onStart?.(t0)
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (d) => (stdout += d))
    child.stderr.on("data", (d) => (stderr += d))
    const byPid = {}
    const samples = []
    const poll = setInterval(() => {
      const now = performance.now() - t0
      // Every read may race with a thread or child exiting: each is skipped on its own.
      const tryRead = (f) => {
        try {
          return readFileSync(f, "utf8")
        } catch {
          return ""
        }
      }
      const m = /^VmRSS:\s+(\d+)/m.exec(tryRead(`/proc/${child.pid}/status`))
      if (m) samples.push([now, Number(m[1])])
      let tids = []
      try {
        tids = readdirSync(`/proc/${child.pid}/task`)
      } catch {}
      const kids = new Set()
      for (const tid of tids) for (const k of tryRead(`/proc/${child.pid}/task/${tid}/children`).trim().split(/\s+/)) if (k) kids.add(k)
      for (const k of kids) {
        const name = tryRead(`/proc/${k}/comm`).trim()
        if (!name) continue
        byPid[k] ??= { name, startMs: now, endMs: now }
        // Its latest name: a child first seen between fork and exec still bears its parent's (node).
        byPid[k].name = name
        byPid[k].endMs = now
      }
    }, 20)
    child.on("error", (e) => {
      clearInterval(poll)
      reject(e)
    })
    child.on("close", (code) => {
      clearInterval(poll)
      if (code !== 0) return reject(new Error(`bench: ${cmd} ${args.join(" ")} exited with ${code}\n${stderr}`))
      const children = {}
      for (const c of Object.values(byPid)) {
        const had = children[c.name]
        if (!had || c.endMs - c.startMs > had.endMs - had.startMs) children[c.name] = { startMs: c.startMs, endMs: c.endMs }
      }
      resolve({ ms: performance.now() - t0, children, rssKb: { peak: Math.max(0, ...samples.map((s) => s[1])), samples }, stdout })
    })
  })

/** Peak sampled RSS (kB) within [from, to) ms of a timeline. */
const peakBetween = (t, from, to) => Math.max(0, ...t.rssKb.samples.filter(([ms]) => ms >= from && ms < to).map((s) => s[1]))

/**
 * Watches one backend in pg_stat_activity from the bench's own connection to `url`: the one with application_name
 * `app` in database `datname` (dbkit's load session). start(t0) polls every `everyMs` (one query at a time) with ms
 * counted from t0 (performance.now()); stop() ends the polling and returns the samples, { ms, present, pid, state,
 * query, backendStartMs, xactStartMs, queryStartMs, stateChangeMs } (the server's timestamps mapped onto the same
 * clock through the quickest poll's clock_timestamp()). Connect before start so the connection is not in the run.
 */
const watchBackend = async (url, { app, datname, everyMs = 10 }) => {
  const client = new pg.Client({ connectionString: url, application_name: "dbkit-bench-watch" })
  await client.connect()
  const raw = []
  let running = false
  let loop
  const once = async (t0) => {
    const before = performance.now() - t0
    const r = await client.query(
      `SELECT (extract(epoch FROM clock_timestamp()) * 1000)::float8 AS now, a.pid, a.state, left(a.query, 1024) AS query,
              (extract(epoch FROM a.backend_start) * 1000)::float8 AS backend_start,
              (extract(epoch FROM a.xact_start) * 1000)::float8 AS xact_start,
              (extract(epoch FROM a.query_start) * 1000)::float8 AS query_start,
              (extract(epoch FROM a.state_change) * 1000)::float8 AS state_change
         FROM (SELECT 1) one
         LEFT JOIN pg_stat_activity a ON a.application_name = $1 AND a.datname = $2
        ORDER BY a.backend_start LIMIT 1`,
      [app, datname]
    )
    raw.push({ before, after: performance.now() - t0, row: r.rows[0] })
  }
  return {
    start: (t0) => {
      running = true
      loop = (async () => {
        while (running) {
          const next = performance.now() + everyMs
          await once(t0)
          const wait = next - performance.now()
          if (wait > 0) await new Promise((r) => setTimeout(r, wait))
        }
      })()
    },
    stop: async () => {
      running = false
      await loop
      await client.end()
      if (raw.length === 0) return []
      // The server's clock onto the bench's: from the poll with the shortest round trip.
      const best = raw.reduce((a, b) => (b.after - b.before < a.after - a.before ? b : a))
      const offset = (best.before + best.after) / 2 - best.row.now
      const at = (serverMs) => (serverMs == null ? undefined : serverMs + offset)
      return raw.map(({ before, after, row: r }) => ({
        ms: (before + after) / 2,
        present: r.pid != null,
        pid: r.pid,
        state: r.state,
        query: r.query,
        backendStartMs: at(r.backend_start),
        xactStartMs: at(r.xact_start),
        queryStartMs: at(r.query_start),
        stateChangeMs: at(r.state_change)
      }))
    }
  }
}

/** What a load-session sample was doing, for the streaming phase's breakdown. */
const activityOf = (s) => {
  if (s.state === "idle in transaction") return "betweenStatements"
  if (s.state !== "active") return "other"
  const q = s.query ?? ""
  if (/^\s*COPY\b/i.test(q)) return "copy"
  if (/^\s*COMMIT\b/i.test(q)) return "commit"
  if (/\bCREATE\s+(UNIQUE\s+)?INDEX\b|\bADD\s+CONSTRAINT\b/i.test(q)) return "indexesAndConstraints"
  return "otherStatements"
}

/**
 * Splits a restore timeline by its load session's samples (watchBackend): before the first byte (until the session
 * is first seen running a statement of the script, i.e. past its BEGIN), streaming (until its COMMIT is seen
 * finished, else until it is seen gone), after (until the process exits); peak RSS in each, and the streaming
 * phase's samples by activity (ms, each sample standing for the time to the next).
 */
const splitRestore = (t, samples) => {
  const seen = samples.filter((s) => s.present)
  if (seen.length === 0) throw new Error("bench: the dbkit-load session never showed in pg_stat_activity during the restore")
  const pid = seen[0].pid
  const mine = (s) => s.present && s.pid === pid
  const running = seen.find((s) => mine(s) && s.xactStartMs !== undefined && !/^\s*BEGIN\b/i.test(s.query ?? ""))
  if (!running) throw new Error("bench: the dbkit-load session was never seen running a statement of the dump")
  const firstByteMs = running.ms
  const committed = samples.find((s) => mine(s) && s.state === "idle" && /^\s*COMMIT\b/i.test(s.query ?? ""))
  const lastSeen = seen.filter(mine).at(-1)
  const gone = samples.find((s) => s.ms > lastSeen.ms && !mine(s))
  // COMMIT's end is stamped by the server (state_change); else the first poll that no longer saw the session.
  const streamEndMs = committed?.stateChangeMs ?? gone?.ms ?? lastSeen.ms
  const activity = { copy: 0, indexesAndConstraints: 0, otherStatements: 0, betweenStatements: 0, commit: 0, other: 0 }
  for (let i = 0; i < samples.length - 1; i++) {
    const s = samples[i]
    if (!mine(s) || s.ms < firstByteMs || s.ms >= streamEndMs) continue
    activity[activityOf(s)] += Math.min(samples[i + 1].ms, streamEndMs) - s.ms
  }
  return {
    totalMs: t.ms,
    beforeFirstByteMs: firstByteMs,
    streamingMs: streamEndMs - firstByteMs,
    afterMs: t.ms - streamEndMs,
    streamEnd: committed ? "commit finished" : gone ? "session gone" : "last seen",
    lastStatementSeen: (lastSeen.query ?? "").slice(0, 60),
    connectedAtMs: seen[0].backendStartMs,
    beginAtMs: running.xactStartMs,
    sessionGoneAtMs: gone?.ms ?? null,
    polls: samples.length,
    pollMedianGapMs: median(samples.slice(1).map((s, i) => s.ms - samples[i].ms)),
    streamingActivityMs: activity,
    rssPeakBeforeFirstByteKb: peakBetween(t, 0, firstByteMs),
    rssPeakStreamingKb: peakBetween(t, firstByteMs, streamEndMs),
    rssPeakAfterKb: peakBetween(t, streamEndMs, Infinity)
  }
}

export async function rows(ctx) {
  const runs = ctx.runsSet ? ctx.runs : Math.min(ctx.runs, DEFAULT_RUNS)
  const work = ctx.tempDir("dbkit-bench-backup-")
  const expectedAccounts = 100_000 * SCALE

  // ---- Setup once (untimed): the source database and both restore inputs.
  const src = await ctx.scratchDb()
  const pgEnv = (url) => ctx.childEnv(pgEnvOf(url))
  const admin = (f) => withClient(src.url, f)
  const checkpoint = () => admin((c) => c.query("CHECKPOINT"))
  const srcPg = pgEnvOf(src.url)
  const t0 = performance.now()
  await ctx.runProcess(
    "pgbench",
    ["-i", "-q", "-s", String(SCALE), "-h", srcPg.PGHOST, "-p", srcPg.PGPORT, ...(srcPg.PGUSER ? ["-U", srcPg.PGUSER] : []), src.name],
    { env: pgEnv(src.url), timeoutMs: TIMEOUT_MS }
  )
  const initMs = performance.now() - t0
  const dbBytes = Number((await admin((c) => c.query("SELECT pg_database_size(current_database())::text AS n"))).rows[0].n)
  await checkpoint()
  ctx.log(
    `backup: pgbench -i -s ${SCALE} in ${(initMs / 1000).toFixed(1)} s; pg_database_size = ${fmt(dbBytes)} bytes ` +
      `(${mb(dbBytes)} MB); pgbench_accounts ${fmt(expectedAccounts)} rows`
  )

  const dbkitEnv = (url, key = KEY) => ctx.childEnv({ DATABASE_URL: url, DB_BACKUP_KEY: key })
  const fixtures = join(work, "fixtures")
  mkdirSync(fixtures)
  // The plain reference dump for the baseline restore and the backup check: pg_dump | gzip -6, as the baseline does.
  const baseGz = join(fixtures, "base.sql.gz")
  await ctx.runProcess("sh", ["-c", `pg_dump --format=p ${q(src.name)} | gzip -${LEVEL} > ${q(baseGz)}`], {
    env: pgEnv(src.url),
    timeoutMs: TIMEOUT_MS
  })
  const baseId = gzipIdentity(baseGz)
  // dbkit's encrypted backup for its restore side.
  const made = await ctx.runProcess(ctx.node, ["bin/dbkit.mjs", "backup", "--out", fixtures, "--json"], {
    env: dbkitEnv(src.url),
    timeoutMs: TIMEOUT_MS
  })
  const encFile = JSON.parse(made.stdout).file
  const encManifest = JSON.parse(readFileSync(`${encFile}.json`, "utf8"))
  if (encManifest.encryption?.algorithm !== "aes-256-gcm") throw new Error(`bench: ${encFile} is not encrypted`)
  ctx.log(
    `backup: inputs: pg_dump | gzip -${LEVEL} = ${fmt(baseId.size)} bytes; dbkit backup (encrypted) = ` +
      `${fmt(encManifest.sizes.file)} bytes of ${fmt(encManifest.sizes.dump)} bytes of SQL`
  )

  // ---- Row A: backup.
  const freshOut = () => {
    const dir = join(work, `out-${Math.random().toString(36).slice(2, 10)}`)
    mkdirSync(dir)
    return dir
  }
  const backupSides = [
    ctx.processSide("dbkit backup", ctx.node, [], {
      timeoutMs: TIMEOUT_MS,
      setup: async () => {
        await checkpoint()
        const dir = freshOut()
        return { dir, env: dbkitEnv(src.url), args: ["bin/dbkit.mjs", "backup", "--out", dir, "--json"] }
      },
      check: async (state, r) => {
        const { file, manifest } = JSON.parse(r.stdout)
        const onDisk = JSON.parse(readFileSync(`${file}.json`, "utf8"))
        const problems = []
        if (statSync(file).size !== manifest.sizes.file) problems.push(`size ${statSync(file).size} != manifest ${manifest.sizes.file}`)
        if (onDisk.sha256 !== manifest.sha256 || (await sha256File(file)) !== manifest.sha256) problems.push("sha256 does not match")
        if (manifest.encryption?.algorithm !== "aes-256-gcm") problems.push("not encrypted")
        if (manifest.tables["public.pgbench_accounts"] !== expectedAccounts) problems.push("pgbench_accounts count")
        if (Math.abs(manifest.sizes.dump - encManifest.sizes.dump) > 0.01 * encManifest.sizes.dump) problems.push("dump size")
        if (problems.length) throw new Error(`bench: dbkit backup ${file}: ${problems.join("; ")}`)
      },
      teardown: (state) => state && rmSync(state.dir, { recursive: true, force: true })
    }),
    ctx.processSide("pg_dump | gzip", "sh", [], {
      timeoutMs: TIMEOUT_MS,
      setup: async () => {
        await checkpoint()
        const dir = freshOut()
        const out = join(dir, "out.sql.gz")
        return { dir, out, env: pgEnv(src.url), args: ["-c", `pg_dump --format=p ${q(src.name)} | gzip -${LEVEL} > ${q(out)}`] }
      },
      check: (state) => {
        const id = gzipIdentity(state.out)
        // pg_dump's failure would not fail the pipeline (sh has no pipefail): a short file would show it.
        if (id.isize !== baseId.isize || Math.abs(id.size - baseId.size) > 0.01 * baseId.size) {
          throw new Error(`bench: pg_dump | gzip wrote ${id.size} bytes (ISIZE ${id.isize}); the reference has ${baseId.size} (${baseId.isize})`)
        }
      },
      teardown: (state) => state && rmSync(state.dir, { recursive: true, force: true })
    })
  ]
  const [dbkitBackup, baseBackup] = await ctx.compare(backupSides, { runs })

  // ---- Row B: restore.
  const countAccounts = (url) =>
    withClient(url, async (c) => Number((await c.query("SELECT count(*)::bigint::text AS n FROM pgbench_accounts")).rows[0].n))
  const restoredSizes = {}
  const checkRestored = (name) => async (state) => {
    const n = await countAccounts(state.db.url)
    if (n !== expectedAccounts) throw new Error(`bench: ${name} left ${n} rows in pgbench_accounts, expected ${expectedAccounts}`)
    restoredSizes[name] ??= Number(
      (await withClient(state.db.url, (c) => c.query("SELECT pg_database_size(current_database())::text AS n"))).rows[0].n
    )
  }
  const restoreSides = [
    ctx.processSide("dbkit restore --into", ctx.node, [], {
      timeoutMs: TIMEOUT_MS,
      setup: async () => {
        await checkpoint()
        const db = ctx.scratchName() // dbkit creates it (timed); dropped in teardown
        return { db, env: dbkitEnv(src.url), args: ["bin/dbkit.mjs", "restore", encFile, "--into", db.name, "--json"] }
      },
      check: async (state, r) => {
        const res = JSON.parse(r.stdout)
        if (res.database !== state.db.name) throw new Error(`bench: dbkit restore reported ${res.database}, not ${state.db.name}`)
        await checkRestored("dbkit")(state)
      },
      teardown: (state) => state?.db.drop()
    }),
    ctx.processSide("gunzip | psql -1", "sh", [], {
      timeoutMs: TIMEOUT_MS,
      setup: async () => {
        const db = await ctx.scratchDb()
        await checkpoint()
        return {
          db,
          env: pgEnv(db.url),
          args: ["-c", `gunzip -c ${q(baseGz)} | psql -1 -q -X -v ON_ERROR_STOP=1 -d ${q(db.name)}`]
        }
      },
      check: checkRestored("psql"),
      teardown: (state) => state?.db.drop()
    })
  ]
  const [dbkitRestore, baseRestore] = await ctx.compare(restoreSides, { runs })
  ctx.log(
    `restore: restored database sizes: dbkit ${mb(restoredSizes.dbkit)} MB, gunzip | psql ${mb(restoredSizes.psql)} MB ` +
      `(source ${mb(dbBytes)} MB)`
  )

  // ---- Rows.
  const size = `~${mb(dbBytes)} MB${SCALE === 34 ? "" : `, pgbench -s ${SCALE}`}`
  const out = [
    ctx.row({
      operation: `backup ${size} (server)`,
      dbkit: dbkitBackup,
      baseline: baseBackup,
      baselineName: `pg_dump -Fp | gzip -${LEVEL} (sh)`,
      dbkitBytes: dbBytes,
      baselineBytes: dbBytes
    }),
    ctx.row({
      operation: `restore ${size} (server)`,
      dbkit: dbkitRestore,
      baseline: baseRestore,
      baselineName: "gunzip -c | psql -1 (sh)",
      dbkitBytes: dbBytes,
      baselineBytes: dbBytes
    })
  ]
  const verdicts = out.map((r, i) => {
    const throughput = r.dbkit.bytesPerSec / r.baseline.bytesPerSec
    const rssMb = r.dbkit.peakRssKb / 1024
    const bar = {
      dbkitOverBaselineThroughput: throughput,
      atLeast: BARS.throughput,
      throughputMet: throughput >= BARS.throughput,
      dbkitPeakRssMb: rssMb,
      rssUnderMb: BARS.rssMb,
      rssMet: rssMb < BARS.rssMb,
      baselinePeakRssMb: r.baseline.peakRssKb / 1024
    }
    r.bar = bar
    ctx.log(
      `${["backup", "restore"][i]}: dbkit ${mb(r.dbkit.bytesPerSec)} MB/s vs ${mb(r.baseline.bytesPerSec)} MB/s = ` +
        `${(throughput * 100).toFixed(0)}% (bar >= ${BARS.throughput * 100}%: ${bar.throughputMet ? "met" : "MISSED"}); ` +
        `dbkit peak RSS ${rssMb.toFixed(0)} MB (bar < ${BARS.rssMb} MB: ${bar.rssMet ? "met" : "MISSED"}); ` +
        `baseline's largest process ${bar.baselinePeakRssMb.toFixed(0)} MB`
    )
    return bar
  })

  // ---- Analysis (untimed): where dbkit's time and memory go.
  const analysis = { scale: SCALE, databaseBytes: dbBytes, initMs, dumpBytes: encManifest.sizes.dump, fileBytes: { dbkit: encManifest.sizes.file, pgDumpGzip: baseId.size } }
  const probe = async (name, f) => {
    const ms = []
    let last
    for (let i = 0; i < PROBE_RUNS; i++) {
      const t = performance.now()
      last = await f()
      ms.push(last?.ms ?? performance.now() - t)
    }
    analysis[name] = { medianMs: median(ms), ...(last && typeof last === "object" ? last : {}), ms: undefined }
    return analysis[name]
  }
  const cli = (args, env) => ctx.runProcess(ctx.node, ["bin/dbkit.mjs", ...args], { env, timeoutMs: TIMEOUT_MS })

  // Phase timelines of one dbkit backup and one dbkit restore.
  await checkpoint()
  const bDir = freshOut()
  const bt = await timeline(ctx.node, ["bin/dbkit.mjs", "backup", "--out", bDir, "--json"], { cwd: ctx.repoRoot, env: dbkitEnv(src.url) })
  rmSync(bDir, { recursive: true, force: true })
  const dump = bt.children.pg_dump
  if (!dump) throw new Error("bench: no pg_dump child was seen during the dbkit backup's timeline")
  analysis.backupTimeline = {
    totalMs: bt.ms,
    beforePgDumpMs: dump.startMs,
    pgDumpMs: dump.endMs - dump.startMs,
    afterPgDumpMs: bt.ms - dump.endMs,
    rssPeakBeforePgDumpKb: peakBetween(bt, 0, dump.startMs),
    rssPeakDuringPgDumpKb: peakBetween(bt, dump.startMs, dump.endMs + 20),
    rssPeakAfterKb: peakBetween(bt, dump.endMs + 20, Infinity)
  }
  await checkpoint()
  const rDb = ctx.scratchName()
  const watcher = await watchBackend(src.url, { app: "dbkit-load", datname: rDb.name, everyMs: 10 })
  let rt
  let polls
  try {
    rt = await timeline(ctx.node, ["bin/dbkit.mjs", "restore", encFile, "--into", rDb.name, "--json"], {
      cwd: ctx.repoRoot,
      env: dbkitEnv(src.url),
      onStart: watcher.start
    })
  } finally {
    polls = await watcher.stop()
    await rDb.drop()
  }
  analysis.restoreTimeline = splitRestore(rt, polls) // only the polls' summary goes into the JSON

  // The pieces, each alone.
  await probe("cliStartup", () => cli(["--help"], ctx.childEnv()).then(() => undefined))
  const dumpSql = join(work, "dump.sql")
  await probe("pgDumpToFile", () =>
    ctx.runProcess("sh", ["-c", `pg_dump --format=p ${q(src.name)} > ${q(dumpSql)}`], { env: pgEnv(src.url), timeoutMs: TIMEOUT_MS }).then(() => undefined)
  )
  await probe("gzipCliOfDump", () =>
    ctx.runProcess("sh", ["-c", `gzip -${LEVEL} < ${q(dumpSql)} > /dev/null`], { timeoutMs: TIMEOUT_MS }).then(() => undefined)
  )
  const probeScript = (args, env = ctx.childEnv()) =>
    ctx.runProcess(ctx.node, ["scripts/bench/backup-probe.mjs", ...args], { env, timeoutMs: TIMEOUT_MS }).then((r) => JSON.parse(r.stdout))
  await probe("nodeGzipOfDump", () => probeScript(["gzip", dumpSql, String(LEVEL)]))
  await probe("nodeGzipAesSha256OfDump", () => probeScript(["pipeline", dumpSql, String(LEVEL)]))
  rmSync(dumpSql, { force: true })
  await probe("dbkitBackupWithoutKey", async () => {
    await checkpoint()
    const dir = freshOut()
    const t = performance.now()
    const r = await cli(["backup", "--out", dir, "--json"], dbkitEnv(src.url, ""))
    const ms = performance.now() - t
    rmSync(dir, { recursive: true, force: true })
    return { ms, rssKb: r.rssKb }
  })
  await probe("dbkitBackupsVerify", async () => {
    const t = performance.now()
    const r = await cli(["backups", "verify", encFile, "--json"], dbkitEnv(src.url))
    return { ms: performance.now() - t, rssKb: r.rssKb }
  })
  await probe("verifyWorkInProcess", () => probeScript(["verify", encFile], ctx.childEnv({ DB_BACKUP_KEY: KEY })))
  await probe("gunzipOfBaseDump", () =>
    ctx.runProcess("sh", ["-c", `gunzip -c ${q(baseGz)} > /dev/null`], { timeoutMs: TIMEOUT_MS }).then(() => undefined)
  )
  await probe("createDatabase", async () => {
    const db = ctx.scratchName()
    const t = performance.now()
    await admin((c) => c.query(`CREATE DATABASE "${db.name}"`))
    const ms = performance.now() - t
    await db.drop()
    return { ms }
  })

  const a = analysis
  const s = (ms) => `${(ms / 1000).toFixed(2)} s`
  const kb = (k) => `${(k / 1024).toFixed(0)} MB`
  const bk = a.backupTimeline
  ctx.log(
    `backup analysis: one dbkit backup ${s(bk.totalMs)} = ${s(bk.beforePgDumpMs)} before pg_dump starts ` +
      `(CLI startup, connect, exported snapshot, pg_dump --version; peak ${kb(bk.rssPeakBeforePgDumpKb)}) + ` +
      `${s(bk.pgDumpMs)} while pg_dump runs (gzip, AES-256-GCM, sha256, COPY rows counted on the way; peak ${kb(bk.rssPeakDuringPgDumpKb)}) + ` +
      `${s(bk.afterPgDumpMs)} after it (flush, fsync, signed manifest, exit; peak ${kb(bk.rssPeakAfterKb)}). ` +
      `Alone: dbkit --help ${s(a.cliStartup.medianMs)}; ` +
      `pg_dump > file ${s(a.pgDumpToFile.medianMs)}; on that ${mb(a.dumpBytes)} MB dump: gzip -${LEVEL} ${s(a.gzipCliOfDump.medianMs)}, ` +
      `Node zlib ${s(a.nodeGzipOfDump.medianMs)}, Node zlib + AES-256-GCM + sha256 ${s(a.nodeGzipAesSha256OfDump.medianMs)} ` +
      `(scrypt ${s(a.nodeGzipAesSha256OfDump.scryptMs)}); dbkit backup without DB_BACKUP_KEY ${s(a.dbkitBackupWithoutKey.medianMs)} ` +
      `(peak ${kb(a.dbkitBackupWithoutKey.rssKb)}). Files: dbkit ${fmt(a.fileBytes.dbkit)} bytes, gzip ${fmt(a.fileBytes.pgDumpGzip)} bytes`
  )
  const rs = a.restoreTimeline
  const act = rs.streamingActivityMs
  ctx.log(
    `restore analysis: one dbkit restore ${s(rs.totalMs)} = ${s(rs.beforeFirstByteMs)} before the first byte ` +
      `(CLI startup, checks: signature, size, key — scrypt — beside the server's version and NEW free, CREATE DATABASE, ` +
      `connect, BEGIN; the session connected at ${s(rs.connectedAtMs)}; peak ${kb(rs.rssPeakBeforeFirstByteKb)}) + ` +
      `${s(rs.streamingMs)} streaming into the dbkit-load session until ` +
      `${rs.streamEnd === "commit finished" ? "its COMMIT finished" : `the session was ${rs.streamEnd === "session gone" ? "seen gone" : "last seen"} (its last statement seen: ${JSON.stringify(rs.lastStatementSeen)})`} ` +
      `(peak ${kb(rs.rssPeakStreamingKb)}; sampled every ${rs.pollMedianGapMs.toFixed(0)} ms: COPY ${s(act.copy)}, ` +
      `indexes and constraints ${s(act.indexesAndConstraints)}, other statements ${s(act.otherStatements)}, ` +
      `idle in transaction between statements ${s(act.betweenStatements)}, COMMIT ${s(act.commit)}) + ` +
      `${s(rs.afterMs)} after it (disconnect, count check, exit; peak ${kb(rs.rssPeakAfterKb)}). ` +
      `Alone: dbkit backups verify ${s(a.dbkitBackupsVerify.medianMs)} (checksum, decryption and dbkit's reader over the whole dump; ` +
      `peak ${kb(a.dbkitBackupsVerify.rssKb)}); in-process: sha256 ${s(a.verifyWorkInProcess.shaMs)}, scrypt ${s(a.verifyWorkInProcess.scryptMs)}, ` +
      `decrypt + gunzip ${s(a.verifyWorkInProcess.decryptGunzipMs - a.verifyWorkInProcess.scryptMs)}; ` +
      `gunzip -c of the plain dump ${s(a.gunzipOfBaseDump.medianMs)}; CREATE DATABASE ${s(a.createDatabase.medianMs)}`
  )
  for (const r of out) r.analysis = analysis
  return out
}
