/**
 * Which backups retention keeps, per database: the newest `keepLast`, those younger than
 * `keepDays`, and — whatever the rules say — the newest backup (verified or not) and the newest
 * backup that passed verification, so pruning can never leave a database without a backup, nor
 * without one known to be good. The same rules reach pgBackRest for physical backups
 * (physical/prune.ts).
 */
import * as Effect from "effect/Effect"
import { InvalidBackupOptions } from "./errors.js"

export interface RetentionCandidate {
  readonly file: string
  readonly database?: string
  readonly createdAt: string
  readonly verified: unknown
}

export interface RetentionRules {
  readonly keepLast?: number | undefined
  readonly keepDays?: number | undefined
}

/** Refuses rules that say nothing, or would delete the newest backup. */
export const checkRules = (rules: RetentionRules): Effect.Effect<RetentionRules, InvalidBackupOptions> => {
  const refuse = (reason: string) => Effect.fail(new InvalidBackupOptions({ reason }))
  if (rules.keepLast === undefined && rules.keepDays === undefined) {
    return refuse("say what to keep: --keep-last N and/or --keep-days D")
  }
  if (rules.keepLast !== undefined && !(Number.isInteger(rules.keepLast) && rules.keepLast >= 1)) {
    return refuse("--keep-last must be at least 1: the newest backup is always kept")
  }
  if (rules.keepDays !== undefined && !(rules.keepDays >= 0)) return refuse("--keep-days must not be negative")
  return Effect.succeed(rules)
}

/** Splits backups into kept and pruned (each newest first), applying the rules per database. */
export const selectForPruning = <A extends RetentionCandidate>(
  backups: ReadonlyArray<A>,
  rules: RetentionRules,
  now: Date
): { readonly keep: ReadonlyArray<A>; readonly prune: ReadonlyArray<A> } => {
  const groups = new Map<string, Array<A>>()
  for (const backup of backups) {
    const key = backup.database ?? ""
    groups.set(key, [...(groups.get(key) ?? []), backup])
  }
  const keep: Array<A> = []
  const prune: Array<A> = []
  for (const group of groups.values()) {
    const result = selectInGroup(group, rules, now)
    keep.push(...result.keep)
    prune.push(...result.prune)
  }
  const newestFirst = (a: A, b: A) => b.createdAt.localeCompare(a.createdAt)
  return { keep: keep.sort(newestFirst), prune: prune.sort(newestFirst) }
}

const selectInGroup = <A extends RetentionCandidate>(
  backups: ReadonlyArray<A>,
  rules: RetentionRules,
  now: Date
): { readonly keep: ReadonlyArray<A>; readonly prune: ReadonlyArray<A> } => {
  const sorted = [...backups].sort((a, b) => b.createdAt.localeCompare(a.createdAt))
  const newestVerified = sorted.find((b) => b.verified !== null && b.verified !== undefined)
  const cutoff = rules.keepDays === undefined ? undefined : now.getTime() - rules.keepDays * 86_400_000
  const keep: Array<A> = []
  const prune: Array<A> = []
  sorted.forEach((backup, index) => {
    const byCount = rules.keepLast !== undefined && index < rules.keepLast
    const byAge = cutoff !== undefined && Date.parse(backup.createdAt) >= cutoff
    if (index === 0 || byCount || byAge || backup === newestVerified) keep.push(backup)
    else prune.push(backup)
  })
  return { keep, prune }
}
