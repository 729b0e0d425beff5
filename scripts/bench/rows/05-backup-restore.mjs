// Backup and restore of a pgbench-initialised database of about 500 MB (pgbench -i -s 34), whole process on both
// sides, reported in MB/s of that database (pg_database_size of the source, MiB; the same amount for both sides, so
// the ratio is the time ratio):
//   backup   dbkit backup --out DIR --json with DB_BACKUP_KEY set (pg_dump plain → gzip 6 → AES-256-GCM → file,
//            sha256 and manifest, fsynced)            vs  sh -c "pg_dump --format=p DB | gzip -6 > out.sql.gz"
//   restore  dbkit restore FILE --into NEW --json of a backup made once with DB_BACKUP_KEY (it checks first: the
//            manifest, the file's size, the key, with the server's side — NEW free, psql new enough — meanwhile; then
//            CREATE DATABASE NEW, psql --single-transaction fed through decryption that authenticates each 64 KiB
//            chunk before passing it on, gunzip, with the file's sha256, gzip's CRC and the manifest's size checked
//            before psql's end of input; row counts from psql's COPY tags compared with the manifest)
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
// Also logged (untimed, not in the table; in the JSON as `analysis`): where dbkit's time goes — phase timelines of
// one extra dbkit backup and restore (when pg_dump / psql start and stop, RSS before and during them), the CLI's
// startup, the manifest's count(*) pass, pg_dump alone, gzip -6 vs dbkit's in-process pipeline (Node zlib →
// AES-256-GCM → sha256) on the same dump, `dbkit backups verify FILE` (a pass restores of older single-tag files
// still make), and a check of
// whether the stream that feeds psql honours backpressure (scripts/bench/backup-probe.mjs).
// BENCH_PGBENCH_SCALE overrides the scale (default 34) for a quick try.
import { spawn } from "node:child_process"
import { closeSync, createReadStream, mkdirSync, openSync, readFileSync, readSync, readdirSync, rmSync, statSync } from "node:fs"
import { createHash } from "node:crypto"
import { join } from "node:path"
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
 * startMs, endMs } } (per name, the longest-lived child of that name: dbkit also runs `pg_dump --version`),
 * rssKb: { peak, samples: [[ms, kb]] }, stdout }.
 */
export const timeline = (cmd, args, { cwd, env }) =>
  new Promise((resolve, reject) => {
    const t0 = performance.now()
    const child = spawn(cmd, args, { cwd, env, stdio: ["ignore", "pipe", "pipe"] })
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
  const dump = bt.children.pg_dump ?? { startMs: NaN, endMs: NaN }
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
  const rt = await timeline(ctx.node, ["bin/dbkit.mjs", "restore", encFile, "--into", rDb.name, "--json"], {
    cwd: ctx.repoRoot,
    env: dbkitEnv(src.url)
  })
  await rDb.drop()
  const psqlPhase = rt.children.psql ?? { startMs: NaN, endMs: NaN }
  analysis.restoreTimeline = {
    totalMs: rt.ms,
    beforePsqlMs: psqlPhase.startMs,
    psqlMs: psqlPhase.endMs - psqlPhase.startMs,
    afterPsqlMs: rt.ms - psqlPhase.endMs,
    rssPeakBeforePsqlKb: peakBetween(rt, 0, psqlPhase.startMs),
    rssPeakDuringPsqlKb: peakBetween(rt, psqlPhase.startMs, psqlPhase.endMs + 20),
    rssPeakAfterKb: peakBetween(rt, psqlPhase.endMs + 20, Infinity)
  }

  // The pieces, each alone.
  await probe("cliStartup", () => cli(["--help"], ctx.childEnv()).then(() => undefined))
  await probe("manifestCounts", () =>
    admin(async (c) => {
      const t = performance.now()
      await c.query("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
      const tables = (
        await c.query(`SELECT format('%I.%I', n.nspname, c.relname) AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'`)
      ).rows
      for (const { name } of tables) await c.query(`SELECT count(*)::bigint::text AS n FROM ${name}`)
      await c.query("ROLLBACK")
      return { ms: performance.now() - t, tables: tables.length }
    })
  )
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
  analysis.stdinBackpressure = await probeScript(["backpressure", "128"])
  // dbkit's load step done with Node's stream.pipeline into psql (no verify pass, no CREATE DATABASE, no counts),
  // interleaved with the baseline again: what the load alone costs once the stream honours backpressure.
  const [nodeLoad, baseAgain] = await ctx.compare(
    [
      ctx.processSide("node pipeline load", ctx.node, ["scripts/bench/backup-probe.mjs", "load", encFile], {
        timeoutMs: TIMEOUT_MS,
        setup: async () => {
          const db = await ctx.scratchDb()
          await checkpoint()
          return { db, env: ctx.childEnv({ ...pgEnvOf(db.url), DB_BACKUP_KEY: KEY }) }
        },
        check: checkRestored("node pipeline load"),
        teardown: (state) => state?.db.drop()
      }),
      restoreSides[1]
    ],
    { runs: PROBE_RUNS, warmup: 0 }
  )
  analysis.nodePipelineLoad = {
    medianMs: median(nodeLoad.timesMs),
    peakRssKb: Math.max(...nodeLoad.rssKb),
    baselineMedianMs: median(baseAgain.timesMs)
  }

  const a = analysis
  const s = (ms) => `${(ms / 1000).toFixed(2)} s`
  const kb = (k) => `${(k / 1024).toFixed(0)} MB`
  ctx.log(
    `backup analysis: one dbkit backup ${s(a.backupTimeline.totalMs)} = ${s(a.backupTimeline.beforePgDumpMs)} before pg_dump starts ` +
      `(CLI startup, connect, snapshot, manifest counts; peak ${kb(a.backupTimeline.rssPeakBeforePgDumpKb)}) + ` +
      `${s(a.backupTimeline.pgDumpMs)} while pg_dump runs (peak ${kb(a.backupTimeline.rssPeakDuringPgDumpKb)}) + ` +
      `${s(a.backupTimeline.afterPgDumpMs)} after it (flush, fsync, manifest, exit; peak ${kb(a.backupTimeline.rssPeakAfterKb)}). ` +
      `Alone: dbkit --help ${s(a.cliStartup.medianMs)}; manifest count(*) of ${a.manifestCounts.tables} tables ${s(a.manifestCounts.medianMs)}; ` +
      `pg_dump > file ${s(a.pgDumpToFile.medianMs)}; on that ${mb(a.dumpBytes)} MB dump: gzip -${LEVEL} ${s(a.gzipCliOfDump.medianMs)}, ` +
      `Node zlib ${s(a.nodeGzipOfDump.medianMs)}, Node zlib + AES-256-GCM + sha256 ${s(a.nodeGzipAesSha256OfDump.medianMs)} ` +
      `(scrypt ${s(a.nodeGzipAesSha256OfDump.scryptMs)}); dbkit backup without DB_BACKUP_KEY ${s(a.dbkitBackupWithoutKey.medianMs)} ` +
      `(peak ${kb(a.dbkitBackupWithoutKey.rssKb)}). Files: dbkit ${fmt(a.fileBytes.dbkit)} bytes, gzip ${fmt(a.fileBytes.pgDumpGzip)} bytes`
  )
  ctx.log(
    `restore analysis: one dbkit restore ${s(a.restoreTimeline.totalMs)} = ${s(a.restoreTimeline.beforePsqlMs)} before psql starts ` +
      `(CLI startup, checks: manifest, size, key — scrypt — beside the server's, CREATE DATABASE; peak ${kb(a.restoreTimeline.rssPeakBeforePsqlKb)}) + ` +
      `${s(a.restoreTimeline.psqlMs)} while psql loads (peak ${kb(a.restoreTimeline.rssPeakDuringPsqlKb)}) + ` +
      `${s(a.restoreTimeline.afterPsqlMs)} after it (row counts vs manifest, exit). ` +
      `Alone: dbkit backups verify ${s(a.dbkitBackupsVerify.medianMs)} (peak ${kb(a.dbkitBackupsVerify.rssKb)}); its work in-process: ` +
      `sha256 ${s(a.verifyWorkInProcess.shaMs)}, scrypt ${s(a.verifyWorkInProcess.scryptMs)}, decrypt + gunzip ` +
      `${s(a.verifyWorkInProcess.decryptGunzipMs - a.verifyWorkInProcess.scryptMs)}; gunzip -c of the plain dump ${s(a.gunzipOfBaseDump.medianMs)}; ` +
      `CREATE DATABASE ${s(a.createDatabase.medianMs)}. The load step alone with Node's stream.pipeline ` +
      `(file → decrypt → gunzip → psql --single-transaction, whole process) ${s(a.nodePipelineLoad.medianMs)} ` +
      `(peak ${kb(a.nodePipelineLoad.peakRssKb)}) vs gunzip -c | psql -1 ${s(a.nodePipelineLoad.baselineMedianMs)}, interleaved. Feeding a child that reads nothing for 1.5 s, 128 MB: Node's ` +
      `pipeline had produced ${fmt(a.stdinBackpressure.nodePipelineAheadKb)} kB, @effect/platform Command stdin ` +
      `${fmt(a.stdinBackpressure.effectCommandStdinAheadKb)} kB (no backpressure: the dump is buffered in memory)`
  )
  for (const r of out) r.analysis = analysis
  return out
}
