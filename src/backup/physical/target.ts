/**
 * Recovery targets: a time, an LSN or a restore point's name, checked and written the way
 * pgBackRest and PostgreSQL read them, and the backup a restore to one starts from.
 */
import * as Effect from "effect/Effect"
import { checkPointName } from "./backup.js"
import { InvalidRecoveryTarget } from "./errors.js"
import { type BackrestBackup, lsnValue } from "./run.js"

/** Where to recover to: exactly one of a time, an LSN or a restore point's name. */
export interface RecoveryTarget {
  /** A time PostgreSQL reads, with its zone: "2026-12-06 14:03:00+00". */
  readonly toTime?: string | undefined
  /** A WAL position: "0/3000138". */
  readonly toLsn?: string | undefined
  /** A restore point (`pitr point NAME`, or one `deploy` made). */
  readonly toName?: string | undefined
}

export interface Parsed {
  readonly type: "time" | "lsn" | "name"
  readonly value: string
  /** Whether a backup that ended by then can serve the target. */
  readonly serves: (backup: BackrestBackup) => boolean
}

/** Checks the target and puts it in the form pgBackRest and PostgreSQL read. */
export const parseTarget = (
  target: RecoveryTarget,
  ledger: (name: string) => string | undefined
): Effect.Effect<Parsed, InvalidRecoveryTarget> => {
  const given = [target.toTime, target.toLsn, target.toName].filter((t) => t !== undefined)
  if (given.length !== 1) {
    return Effect.fail(
      new InvalidRecoveryTarget({ target: given.join(", "), reason: "give exactly one of a time, an LSN or a name" })
    )
  }
  if (target.toTime !== undefined) {
    const at = Date.parse(target.toTime.trim().replace(" ", "T").replace(/([+-]\d\d)$/, "$1:00"))
    if (Number.isNaN(at) || !/(Z|[+-]\d\d(:?\d\d)?)$/.test(target.toTime.trim())) {
      return Effect.fail(
        new InvalidRecoveryTarget({
          target: target.toTime,
          reason: "expected a time with its zone, e.g. \"2026-12-06 14:03:00+00\" or \"2026-12-06T14:03:00.250Z\""
        })
      )
    }
    // The moment, written the way both pgBackRest and PostgreSQL read it.
    const value = new Date(at).toISOString().replace("T", " ").replace("Z", "+00")
    return Effect.succeed({ type: "time", value, serves: (b) => (b.timestamp.stop + 1) * 1000 <= at })
  }
  if (target.toLsn !== undefined) {
    const lsn = target.toLsn.trim()
    if (!/^[0-9A-Fa-f]{1,8}\/[0-9A-Fa-f]{1,8}$/.test(lsn)) {
      return Effect.fail(new InvalidRecoveryTarget({ target: lsn, reason: "expected an LSN such as \"0/3000138\"" }))
    }
    return Effect.succeed({
      type: "lsn",
      value: lsn.toUpperCase(),
      serves: (b) => b.lsn !== undefined && lsnValue(b.lsn.stop) <= lsnValue(lsn)
    })
  }
  const name = target.toName!
  return Effect.map(checkPointName(name), (value) => {
    const lsn = ledger(value)
    // Without dbkit's record of the point, only the oldest backup is sure to precede it.
    return {
      type: "name" as const,
      value,
      serves: (b: BackrestBackup) => lsn === undefined || (b.lsn !== undefined && lsnValue(b.lsn.stop) <= lsnValue(lsn))
    }
  })
}

/** The newest backup that can serve the target (for a name without a record: the oldest). */
export const chooseBackup = (backups: ReadonlyArray<BackrestBackup>, target: Parsed, hasRecord: boolean) => {
  const usable = backups.filter((b) => b.error !== true)
  if (target.type === "name" && !hasRecord) return usable[0]
  return usable.filter(target.serves).at(-1)
}
