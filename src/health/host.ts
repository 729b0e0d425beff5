/**
 * Host checks: what the machines under the database have left.
 *
 * - `backup-disk`: free space on the filesystem backups are written to, seen from the dbkit host
 *   (`statfs` of the backup folder, or of its nearest existing parent before the first backup).
 * - `server-host`: the database host's available memory, load per CPU and the space the data
 *   directory's databases and WAL take — read by the server itself (`pg_read_file` of /proc),
 *   so only where it lets dbkit: a superuser, or a member of `pg_read_server_files` granted
 *   EXECUTE on `pg_read_file(text)` (restricted to superusers by default). Otherwise,
 *   or on a host without /proc, `unknown` saying why; never an error.
 */
import * as Effect from "effect/Effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { reason as reasonOf } from "../ServerError.js"
import type { Thresholds } from "../Thresholds.js"
import type { Check } from "./checks.js"
import { type CheckStatus, grade, type Outcome, overall, percent, round } from "./status.js"

/** Lower is worse: critical at or below `critical`, warn at or below `warn`. */
const gradeFree = (ratio: number, warn: number, critical: number): CheckStatus =>
  ratio <= critical ? "critical" : ratio <= warn ? "warn" : "ok"

const gigabytes = (bytes: number) =>
  bytes < 1024 ** 3 ? `${(bytes / 1024 ** 2).toFixed(0)} MB` : `${(bytes / 1024 ** 3).toFixed(1)} GB`

const freeLimits = (warn: number, critical: number) =>
  `free ≤ ${percent(warn)} → warn, ≤ ${percent(critical)} → critical`

/** The folder itself, or the nearest parent that exists (backups may not have been written yet). */
const existingAncestor = (dir: string): string => {
  let current = path.resolve(dir)
  while (!fs.existsSync(current)) {
    const parent = path.dirname(current)
    if (parent === current) break
    current = parent
  }
  return current
}

/** Free space where backups are written, on the dbkit host. */
export const backupDisk: Check = {
  name: "backup-disk",
  requires: "services",
  run: (db, { thresholds }) =>
    Effect.tryPromise(async () => {
      const folder = existingAncestor(db.backup.directory)
      const stats = await fs.promises.statfs(folder)
      return { folder, total: stats.blocks * stats.bsize, free: stats.bavail * stats.bsize }
    }).pipe(Effect.map(({ folder, free, total }): Outcome => {
      const ratio = total === 0 ? 0 : free / total
      return {
        status: gradeFree(ratio, thresholds.diskFreeWarn, thresholds.diskFreeCritical),
        value: round(ratio, 3),
        unit: "ratio",
        threshold: freeLimits(thresholds.diskFreeWarn, thresholds.diskFreeCritical),
        detail: `${gigabytes(free)} free of ${gigabytes(total)} (${percent(ratio)}) where backups are written (${
          path.relative(process.cwd(), db.backup.directory) || "."
        }${folder === path.resolve(db.backup.directory) ? "" : ", not created yet"})`
      }
    }))
}

interface HostFiles {
  readonly meminfo: string
  readonly loadavg: string
  readonly cpus: string
  readonly dataBytes: number
  readonly walBytes: number | null
}

/** /proc/meminfo's "MemAvailable: 123 kB" in bytes, or undefined. */
const meminfoBytes = (meminfo: string, field: string): number | undefined => {
  const match = new RegExp(`^${field}:\\s+(\\d+)\\s*kB`, "m").exec(meminfo)
  return match === null ? undefined : Number(match[1]) * 1024
}

/** "0-1,4" (sysfs' online CPUs) → 3. */
const cpuCount = (online: string): number =>
  online.trim().split(",").reduce((sum, range) => {
    const [from, to] = range.split("-").map(Number)
    return sum + (to === undefined ? 1 : to - from! + 1)
  }, 0)

const hostThreshold = (t: Thresholds) =>
  `${freeLimits(t.memoryAvailableWarn, t.memoryAvailableCritical).replace("free", "memory available")}; ` +
  `load per CPU > ${t.loadPerCpuWarn} → warn` +
  (Number.isFinite(t.loadPerCpuCritical) ? `, > ${t.loadPerCpuCritical} → critical` : "")

/** The database host's memory, load and data directory use, read through the server. */
export const serverHost: Check = {
  name: "server-host",
  requires: "answer",
  notOnEmbedded: "the embedded database runs inside this process, on dbkit's host (see backup-disk)",
  run: (db, { thresholds }) =>
    Effect.gen(function*() {
      const threshold = hostThreshold(thresholds)
      const [access] = yield* db.query<{ allowed: boolean; monitor: boolean }>(
        `SELECT coalesce((SELECT rolsuper FROM pg_roles WHERE rolname = current_user), false)
                  OR (pg_has_role(current_user, 'pg_read_server_files', 'USAGE')
                      AND has_function_privilege('pg_read_file(text)', 'EXECUTE')) AS allowed,
                coalesce((SELECT rolsuper FROM pg_roles WHERE rolname = current_user), false)
                  OR pg_has_role(current_user, 'pg_monitor', 'USAGE') AS monitor`
      )
      if (!access?.allowed) {
        return {
          status: "unknown",
          value: null,
          unit: null,
          threshold,
          detail: "reading the database host's memory and load (/proc, through the server) needs a superuser, or: " +
            "GRANT pg_read_server_files TO <role>; GRANT EXECUTE ON FUNCTION pg_read_file(text) TO <role>"
        } satisfies Outcome
      }
      const read = db.query<HostFiles>(
        `SELECT pg_read_file('/proc/meminfo') AS meminfo,
                pg_read_file('/proc/loadavg') AS loadavg,
                pg_read_file('/sys/devices/system/cpu/online') AS cpus,
                (SELECT sum(pg_database_size(oid)) FROM pg_database WHERE datallowconn AND has_database_privilege(oid, 'CONNECT'))::float8 AS "dataBytes",
                ${access.monitor ? "(SELECT sum(size) FROM pg_ls_waldir())::float8" : "NULL::float8"} AS "walBytes"`
      )
      const files = yield* read.pipe(Effect.either)
      if (files._tag === "Left") {
        return {
          status: "unknown",
          value: null,
          unit: null,
          threshold,
          detail: `could not read the database host's /proc (not a Linux host?): ${reasonOf(files.left)}`
        } satisfies Outcome
      }
      const host = files.right[0]!
      const total = meminfoBytes(host.meminfo, "MemTotal") ?? 0
      const available = meminfoBytes(host.meminfo, "MemAvailable") ?? 0
      const memoryRatio = total === 0 ? 0 : available / total
      const load1 = Number(host.loadavg.split(/\s+/)[0])
      const cpus = Math.max(1, cpuCount(host.cpus))
      const loadPerCpu = load1 / cpus
      const memoryStatus = gradeFree(memoryRatio, thresholds.memoryAvailableWarn, thresholds.memoryAvailableCritical)
      const loadStatus = grade(loadPerCpu, thresholds.loadPerCpuWarn, thresholds.loadPerCpuCritical)
      const data = `databases ${gigabytes(host.dataBytes)}` +
        (host.walBytes === null ? "" : `, WAL ${gigabytes(host.walBytes)}`)
      return {
        status: overall([memoryStatus, loadStatus]),
        value: round(memoryRatio, 3),
        unit: "ratio",
        threshold,
        detail: `memory ${gigabytes(available)} available of ${gigabytes(total)} (${percent(memoryRatio)}); ` +
          `load ${load1.toFixed(2)} on ${cpus} CPU${cpus === 1 ? "" : "s"}; ${data}`
      } satisfies Outcome
    })
}
