/**
 * The limits maintenance plans and stats recommendations compare with. Where health has the
 * same notion (dead-tuple ratio, unused index size) the default is health's, so the two agree.
 */
import { defaultThresholds as health } from "../Thresholds.js"

/** Every limit; counts are rows, ratios 0–1. */
export interface MaintenanceThresholds {
  /** ANALYZE when at least this many rows changed since the last analyze… */
  readonly analyzeMinChanges: number
  /** …and they are more than this share of the live rows (or the table was never analyzed). */
  readonly analyzeRatio: number
  /** VACUUM when at least this many dead rows… */
  readonly vacuumMinDeadRows: number
  /** …are more than this share of the table (live + dead). */
  readonly vacuumDeadRatio: number
  /** A table with at least this many rows, read by sequential scans of about that size… */
  readonly seqScanMinRows: number
  /** …at least this many times, more often than through an index: a missing-index candidate. */
  readonly seqScanMinScans: number
  /** Never-scanned indexes at least this large are proposed for dropping (bytes). */
  readonly unusedIndexMinBytes: number
}

/** The defaults. */
export const defaultMaintenanceThresholds: MaintenanceThresholds = {
  analyzeMinChanges: 1_000,
  analyzeRatio: 0.1,
  vacuumMinDeadRows: 1_000,
  vacuumDeadRatio: health.bloatWarn,
  seqScanMinRows: 10_000,
  seqScanMinScans: 50,
  unusedIndexMinBytes: health.unusedIndexBytes
}
