/**
 * Pure pieces of a health report: statuses and their order, the one-line results checks return,
 * and the helpers that keep query text and server messages out of reports.
 */

/** A check's verdict. `unknown`: it could not run (the reason is its detail). */
export type CheckStatus = "ok" | "warn" | "critical" | "unknown" | "not applicable"

/** The report's verdict: the worst check, with `unknown` counting as `warn`. */
export type OverallStatus = "ok" | "warn" | "critical"

/** One check in a report. */
export interface CheckResult {
  readonly name: string
  readonly status: CheckStatus
  /** The measured figure (in `unit`), or null when there is none. */
  readonly value: number | string | null
  readonly unit: "ms" | "s" | "h" | "ratio" | "bytes" | "count" | null
  /** The limits the figure is compared with, as text ("warn > 300 s, critical > 3600 s"). */
  readonly threshold: string
  /** One line: what was found, or why the check could not run. */
  readonly detail: string
}

/** What a check computes; the runner adds its name. */
export type Outcome = Omit<CheckResult, "name">

const rank: Record<CheckStatus, number> = { "not applicable": 0, ok: 0, unknown: 1, warn: 1, critical: 2 }

/** The worst of the checks: ok < warn (and unknown) < critical. */
export const overall = (statuses: ReadonlyArray<CheckStatus>): OverallStatus => {
  const worst = Math.max(0, ...statuses.map((s) => rank[s]))
  return worst === 2 ? "critical" : worst === 1 ? "warn" : "ok"
}

/** `critical` at or past the critical limit, `warn` past the warn limit, else `ok`. */
export const grade = (value: number, warn: number, critical: number = Number.POSITIVE_INFINITY): CheckStatus =>
  value > critical ? "critical" : value > warn ? "warn" : "ok"

/** The same, for figures where lower is worse (cache hit ratio, server version). */
export const gradeBelow = (value: number, warn: number): CheckStatus => (value < warn ? "warn" : "ok")

/**
 * The first keyword of a query ("SELECT", "UPDATE"…), after leading comments: all a report ever
 * says about a query, since its text may hold personal data in literals. Letters only.
 */
export const firstKeyword = (query: string | null | undefined): string => {
  if (query === null || query === undefined) return "?"
  let text = query
  for (;;) {
    const trimmed = text.replace(/^\s+/, "")
    if (trimmed.startsWith("--")) text = trimmed.replace(/^--[^\n]*(\n|$)/, "")
    else if (trimmed.startsWith("/*")) {
      const end = trimmed.indexOf("*/")
      text = end < 0 ? "" : trimmed.slice(end + 2)
    } else if (trimmed.startsWith("(")) text = trimmed.slice(1)
    else {
      text = trimmed
      break
    }
  }
  const word = /^[A-Za-z]+/.exec(text)?.[0]
  return word === undefined ? "(not visible)" : word.toUpperCase()
}

/** "a, b, c (+4 more)". */
export const listSome = (items: ReadonlyArray<string>, max = 3): string =>
  items.length <= max ? items.join("; ") : `${items.slice(0, max).join("; ")} (+${items.length - max} more)`

/** Seconds, short: "0.4 s", "12 s", "3.5 min", "2.0 h". */
export const seconds = (s: number): string =>
  s < 10
    ? `${s.toFixed(1)} s`
    : s < 120
    ? `${Math.round(s)} s`
    : s < 7200
    ? `${(s / 60).toFixed(1)} min`
    : `${(s / 3600).toFixed(1)} h`

/** A ratio as a percentage: "94.9%". */
export const percent = (ratio: number): string => `${(ratio * 100).toFixed(1)}%`

/** Rounds a figure for reports (3 significant decimals for ratios, 1 for the rest). */
export const round = (value: number, decimals = 1): number => {
  const f = 10 ** decimals
  return Math.round(value * f) / f
}

/**
 * Invalid indexes (left by a failed CREATE INDEX CONCURRENTLY or REINDEX CONCURRENTLY), for the
 * health check and for `db maintain`. One being built right now is invalid until it finishes:
 * not a finding.
 */
export const INVALID_INDEXES =
  `SELECT n.nspname AS schema, c.relname AS index, t.relname AS table, i.indisunique AS unique
   FROM pg_index i
   JOIN pg_class c ON c.oid = i.indexrelid
   JOIN pg_class t ON t.oid = i.indrelid
   JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE NOT i.indisvalid
    AND NOT EXISTS (SELECT 1 FROM pg_stat_progress_create_index p WHERE p.index_relid = i.indexrelid)
  ORDER BY 1, 2`
