/**
 * The `archiving` health check: is WAL reaching the archive, and how much would be lost now?
 *
 * Reads `pg_stat_archiver` and `archive_mode`. Critical while archiving fails (the last failure
 * is newer than the last success) or when completed WAL segments have waited longer than
 * `archiveAgeCriticalSeconds` (warn past `archiveAgeSeconds`); an idle server that fills no
 * segment is not graded by age. The figure is the recovery point objective that follows:
 * now − last_archived_time, the span of changes a restore from the archive would lose. With a
 * pgBackRest stanza configured (DBKIT_PGBACKREST_STANZA) it also names the newest physical
 * backup from dbkit's manifests, and warns when there is none. Not applicable when archive_mode
 * is off and no stanza is configured, and on a standby (its primary archives).
 */
import * as Effect from "effect/Effect"
import type { PhysicalBackups } from "../backup/physical/Physical.js"
import { limit, type Thresholds } from "../Thresholds.js"
import type { Check } from "./checks.js"
import { type CheckStatus, grade, type Outcome, round, seconds } from "./status.js"

interface ArchiverRow {
  readonly mode: string
  readonly standby: boolean
  readonly archived: number
  readonly lastWal: string | null
  readonly lastTime: string | null
  /** Seconds since last_archived_time (the RPO), by the server's clock. */
  readonly age: number | null
  readonly failed: number
  readonly failedWal: string | null
  readonly failedTime: string | null
  /** The last failure is newer than the last success. */
  readonly failing: boolean
  readonly currentLsn: string | null
  readonly segmentBytes: number
}

const threshold = (t: Thresholds) =>
  `failing → critical; WAL waiting, newest archived older than ${limit(t.archiveAgeSeconds, " s")} → warn, ` +
  `${limit(t.archiveAgeCriticalSeconds, " s")} → critical`

const FIX = "check archive_command (SHOW archive_command), the server log and pgBackRest's log, then `dbkit pitr setup`"

const lsnBytes = (lsn: string): bigint => {
  const [high, low] = lsn.split("/")
  return (BigInt(`0x${high ?? "0"}`) << 32n) + BigInt(`0x${low ?? "0"}`)
}

/**
 * Completed WAL segments not yet archived: those between the last archived one and the one
 * being written (a `.backup` or `.partial` file counts as its segment). Undefined when the last
 * archived file names no segment (a `.history` file).
 */
export const waitingSegments = (lastWal: string, currentLsn: string, segmentBytes: number): number | undefined => {
  const name = /^[0-9A-F]{8}([0-9A-F]{8})([0-9A-F]{8})(?:\.|$)/i.exec(lastWal)
  if (name === null || segmentBytes <= 0) return undefined
  const size = BigInt(segmentBytes)
  const perLog = 0x1_0000_0000n / size
  const archivedSegment = BigInt(`0x${name[1]}`) * perLog + BigInt(`0x${name[2]}`)
  const writing = lsnBytes(currentLsn) / size
  const waiting = writing - archivedSegment - 1n
  return Number(waiting > 0n ? waiting : 0n)
}

const backupLine = (physical: PhysicalBackups | null): { readonly text: string; readonly missing: boolean } => {
  if (physical === null) return { text: "", missing: false }
  const newest = physical.manifests[0]
  if (newest === undefined) {
    return {
      text: `; no physical backup of stanza ${physical.stanza} in ${physical.backupDir} (run dbkit backup --physical)`,
      missing: true
    }
  }
  return {
    text: `; newest physical backup ${newest.label} (${newest.type}) finished ${newest.stop.time}`,
    missing: false
  }
}

const worse = (a: CheckStatus, b: CheckStatus): CheckStatus =>
  a === "critical" || b === "critical" ? "critical" : a === "warn" || b === "warn" ? "warn" : "ok"

export const archiving: Check = {
  name: "archiving",
  requires: "answer",
  notOnEmbedded: "the embedded database writes and archives no WAL",
  run: (db, { thresholds }) =>
    Effect.gen(function*() {
      const [row] = yield* db.query<ArchiverRow>(
        `SELECT current_setting('archive_mode') AS mode, pg_is_in_recovery() AS standby,
                a.archived_count::float8 AS archived, a.last_archived_wal AS "lastWal",
                to_char(a.last_archived_time AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS "lastTime",
                extract(epoch FROM clock_timestamp() - a.last_archived_time)::float8 AS age,
                a.failed_count::float8 AS failed, a.last_failed_wal AS "failedWal",
                to_char(a.last_failed_time AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS "failedTime",
                coalesce(a.last_failed_time > a.last_archived_time
                         OR (a.last_failed_time IS NOT NULL AND a.last_archived_time IS NULL), false) AS failing,
                CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_current_wal_lsn()::text END AS "currentLsn",
                (SELECT setting::float8 * CASE unit WHEN 'MB' THEN 1048576 WHEN 'kB' THEN 1024 ELSE 1 END
                   FROM pg_settings WHERE name = 'wal_segment_size') AS "segmentBytes"
           FROM pg_stat_archiver a`
      )
      const physical = yield* db.backup.physical.manifests()
      const t = threshold(thresholds)
      const none = (detail: string): Outcome => ({
        status: "not applicable",
        value: null,
        unit: null,
        threshold: t,
        detail
      })
      if (row === undefined) return none("pg_stat_archiver returned no row")
      if (row.mode === "off") {
        return physical === null
          ? none("archive_mode is off and no pgBackRest stanza is configured (DBKIT_PGBACKREST_STANZA)")
          : {
            status: "critical",
            value: null,
            unit: "s",
            threshold: t,
            detail: `archive_mode is off but stanza ${physical.stanza} is configured: no WAL reaches the archive, ` +
              "point-in-time recovery is impossible; run dbkit pitr setup (archive_mode needs a restart)"
          }
      }
      if (row.standby && row.mode !== "always") return none("a standby: its primary archives the WAL")
      const backup = backupLine(physical)
      const rpo = row.age === null ? null : round(row.age)
      const lost = row.lastTime === null
        ? "no WAL segment archived yet"
        : `last WAL ${row.lastWal} archived ${row.lastTime}; RPO ${seconds(row.age ?? 0)}: ` +
          `data written since ${row.lastTime} would be lost`
      if (row.failing) {
        return {
          status: "critical",
          value: rpo,
          unit: "s",
          threshold: t,
          detail:
            `archiving is failing: ${row.failed} failure${
              row.failed === 1 ? "" : "s"
            }, the last on ${row.failedWal} at ${row.failedTime}; ` +
            `${lost}${backup.text}; ${FIX}`
        }
      }
      const waiting = row.lastWal === null || row.currentLsn === null
        ? undefined
        : waitingSegments(row.lastWal, row.currentLsn, row.segmentBytes)
      const aged = waiting !== undefined && waiting > 0 && row.age !== null
        ? grade(row.age, thresholds.archiveAgeSeconds, thresholds.archiveAgeCriticalSeconds)
        : "ok"
      const status = worse(aged, backup.missing || row.lastTime === null ? "warn" : "ok")
      const behind = waiting !== undefined && waiting > 0
        ? `; ${waiting} completed WAL segments wait to be archived`
        : ""
      return {
        status,
        value: rpo,
        unit: "s",
        threshold: t,
        detail: `${lost}${behind}${backup.text}${aged === "ok" ? "" : `; ${FIX}`}`
      } satisfies Outcome
    })
}
