/**
 * Retention for physical backups: dbkit's rules (keep the newest N, keep those younger than D
 * days — retention.ts) handed to `pgbackrest expire` as full-backup retention, never
 * re-implemented. pgBackRest expires whole backup sets (a full one and the differential and
 * incremental backups built on it) and the WAL only they needed; dbkit then removes its manifests
 * of backups pgBackRest no longer lists, so no manifest claims a backup that is gone.
 *
 * Both rules given keep the union (as logical prune does): of count and time retention, the one
 * that keeps more full backups is passed. Days are whole for pgBackRest: rounded up, at least 1.
 */
import * as Effect from "effect/Effect"
import * as fs from "node:fs"
import * as path from "node:path"
import * as PgTools from "../../PgTools.js"
import type { InvalidBackupOptions } from "../errors.js"
import { checkRules, type RetentionRules } from "../retention.js"
import type { PitrNotConfigured } from "./errors.js"
import * as Manifests from "./manifests.js"
import { type BackrestBackup, pgbackrest, readableInfo } from "./run.js"
import { fromEnvironment, type PitrSettings, stanzaNamed } from "./settings.js"

/** How the rules reach pgBackRest: `--repo1-retention-full-type=TYPE --repo1-retention-full=FULL`. */
export interface FullRetention {
  readonly type: "count" | "time"
  readonly full: number
}

export interface PhysicalPruneResult {
  readonly stanza: string
  readonly retention: FullRetention
  readonly dryRun: boolean
  /** Backups pgBackRest expired (with dryRun: would expire), oldest first. */
  readonly expired: ReadonlyArray<string>
  /** Backups the repository keeps, oldest first. */
  readonly kept: ReadonlyArray<string>
  /** dbkit manifests removed (with dryRun: would be) because pgBackRest no longer has their backup. */
  readonly manifestsRemoved: ReadonlyArray<string>
}

/** The full backup a backup set starts from ("…F" for "…F_…I"). */
const setOf = (backup: BackrestBackup) => backup.label.split("_")[0]!

/** Which full backups each kind of retention keeps, as pgBackRest 2.x decides (oldest first). */
const keptFulls = (fulls: ReadonlyArray<BackrestBackup>, retention: FullRetention, now: Date) => {
  if (retention.type === "count") return fulls.slice(Math.max(0, fulls.length - retention.full))
  // Time: every full younger than the cutoff, and the newest older one (recovery to the cutoff needs it).
  const cutoff = now.getTime() / 1000 - retention.full * 86_400
  const younger = fulls.findIndex((b) => b.timestamp.stop >= cutoff)
  return fulls.slice(Math.max(0, (younger === -1 ? fulls.length : younger) - 1))
}

/** The rules as pgBackRest's full retention, and what it would keep of `backups` (oldest first). */
export const plan = (
  backups: ReadonlyArray<BackrestBackup>,
  rules: RetentionRules,
  now: Date
): Effect.Effect<{ readonly retention: FullRetention; readonly kept: ReadonlyArray<string> }, InvalidBackupOptions> =>
  Effect.gen(function*() {
    yield* checkRules(rules)
    const fulls = backups.filter((b) => b.type === "full")
    const options: Array<FullRetention> = [
      ...(rules.keepLast === undefined ? [] : [{ type: "count" as const, full: rules.keepLast }]),
      ...(rules.keepDays === undefined ? [] : [{ type: "time" as const, full: Math.max(1, Math.ceil(rules.keepDays)) }])
    ]
    const [retention, keptSets] = options
      .map((option) => [option, new Set(keptFulls(fulls, option, now).map((b) => b.label))] as const)
      .reduce((best, next) => (next[1].size > best[1].size ? next : best))
    // A backup whose full backup is not in the repository (none yet) is left to pgBackRest.
    const fullLabels = new Set(fulls.map((b) => b.label))
    const kept = backups.filter((b) => keptSets.has(setOf(b)) || !fullLabels.has(setOf(b))).map((b) => b.label)
    return { retention, kept }
  })

/**
 * Expires backups outside the rules with pgBackRest, then deletes the manifests in `home` of
 * backups it no longer has (also those a manual `pgbackrest expire` left). `dryRun`: nothing
 * changes; the result says what would go.
 */
export const prune = (
  settings: PitrSettings,
  home: string,
  rules: RetentionRules & { readonly dryRun?: boolean | undefined; readonly environment?: string | undefined },
  now: Date = new Date()
): Effect.Effect<PhysicalPruneResult, InvalidBackupOptions | PgTools.PgToolFailed | PgTools.PgToolMissing> =>
  Effect.gen(function*() {
    const described = yield* readableInfo(settings)
    const before = described.backup
    const { kept: planned, retention } = yield* plan(before, rules, now)
    const dryRun = rules.dryRun === true
    // No backups yet (a stanza named before `pitr setup`): nothing for pgBackRest to expire.
    if (!dryRun && before.length > 0) {
      yield* pgbackrest(settings, "expire", [
        `--repo1-retention-full-type=${retention.type}`,
        `--repo1-retention-full=${retention.full}`
      ])
    }
    const remaining = dryRun ? planned : (yield* readableInfo(settings)).backup.map((b) => b.label)
    const left = new Set(remaining)
    const stale = (yield* Manifests.list(home, settings.stanza, rules.environment)).filter((m) => !left.has(m.label))
    const manifestsRemoved = stale.map((m) => path.join(home, Manifests.fileName(settings.stanza, m.label)))
    if (!dryRun) yield* Effect.sync(() => manifestsRemoved.forEach((file) => fs.rmSync(file, { force: true })))
    return {
      stanza: settings.stanza,
      retention,
      dryRun,
      expired: before.map((b) => b.label).filter((label) => !left.has(label)),
      kept: remaining,
      manifestsRemoved
    }
  })

/** `prune` on the configured stanza (settings from the environment), or null when no stanza is named. */
export const pruneConfigured = (
  home: string,
  rules: RetentionRules & { readonly dryRun?: boolean | undefined; readonly environment?: string | undefined }
): Effect.Effect<
  PhysicalPruneResult | null,
  PitrNotConfigured | InvalidBackupOptions | PgTools.PgToolFailed | PgTools.PgToolMissing
> =>
  Effect.flatMap(
    stanzaNamed(),
    (named) =>
      named ? Effect.flatMap(fromEnvironment, (settings) => prune(settings, home, rules)) : Effect.succeed(null)
  )
