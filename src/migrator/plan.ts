/**
 * Pure comparison of the migrations on disk (or in code) with the history in the database.
 * Pending is a set difference, never a high-water mark: an unapplied migration older than the
 * newest applied one is pending *and* out of order.
 */
import type { Migration } from "./source.js"

/** One row of the history table. */
export interface HistoryRow {
  readonly name: string
  readonly checksum: string
  readonly status: "applied" | "failed" | "running"
  readonly appliedAt: string
  readonly durationMs: number
  readonly appliedBy: string
  readonly failedStatement: number | null
  readonly error: string | null
}

/** Where every migration stands. */
export interface MigrationStatus {
  readonly applied: ReadonlyArray<{ readonly name: string; readonly appliedAt: string; readonly durationMs: number }>
  readonly pending: ReadonlyArray<string>
  readonly changed: ReadonlyArray<{ readonly name: string; readonly applied: string; readonly current: string }>
  readonly missing: ReadonlyArray<string>
  readonly outOfOrder: ReadonlyArray<string>
  readonly failed: ReadonlyArray<
    { readonly name: string; readonly status: string; readonly statement: number | null; readonly error: string | null }
  >
}

/** Compares source and history. */
export const compare = (migrations: ReadonlyArray<Migration>, history: ReadonlyArray<HistoryRow>): MigrationStatus => {
  const recorded = new Map(history.map((row) => [row.name, row]))
  const known = new Set(migrations.map((m) => m.name))
  let newestApplied = -1
  migrations.forEach((m, index) => {
    if (recorded.get(m.name)?.status === "applied") newestApplied = index
  })
  const pending = migrations.filter((m) => !recorded.has(m.name))
  return {
    applied: history
      .filter((row) => row.status === "applied")
      .map((row) => ({ name: row.name, appliedAt: row.appliedAt, durationMs: row.durationMs })),
    pending: pending.map((m) => m.name),
    changed: migrations.flatMap((m) => {
      const row = recorded.get(m.name)
      return row !== undefined && row.status === "applied" && row.checksum !== m.checksum
        ? [{ name: m.name, applied: row.checksum, current: m.checksum }]
        : []
    }),
    missing: history.filter((row) => !known.has(row.name)).map((row) => row.name),
    outOfOrder: pending.filter((m) => migrations.indexOf(m) < newestApplied).map((m) => m.name),
    failed: history
      .filter((row) => row.status !== "applied")
      .map((row) => ({ name: row.name, status: row.status, statement: row.failedStatement, error: row.error }))
  }
}

/** True when nothing is pending, changed, missing or failed. */
export const isUpToDate = (status: MigrationStatus): boolean =>
  status.pending.length === 0 && status.changed.length === 0 && status.missing.length === 0 &&
  status.failed.length === 0

/** The name of the newest applied migration in source order, if any. */
export const newestAppliedName = (
  migrations: ReadonlyArray<Migration>,
  history: ReadonlyArray<HistoryRow>
): string | undefined => {
  const applied = new Set(history.filter((r) => r.status === "applied").map((r) => r.name))
  return [...migrations].reverse().find((m) => applied.has(m.name))?.name
}
