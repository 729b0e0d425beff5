/**
 * Health thresholds: one typed record with defaults a DBA would start from, overridable in code
 * (`Partial<Thresholds>`), from the environment (`DBKIT_HEALTH_<NAME>`, e.g.
 * DBKIT_HEALTH_LONG_QUERY_SECONDS=120) and from the command line (`--threshold name=value`).
 */
import * as Config from "effect/Config"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"

/** A threshold override that cannot be used (unknown name, not a number). */
export class InvalidThreshold extends Data.TaggedError("InvalidThreshold")<{
  readonly name: string
  readonly reason: string
}> {
  override get message() {
    return `threshold ${this.name}: ${this.reason}`
  }
}

/** Every limit the checks compare against. Ratios are 0–1; `Infinity` means "no limit". */
export interface Thresholds {
  /** Per-check time limit (ms); a check that takes longer is `unknown`. */
  readonly checkTimeoutMs: number
  /** Round-trip latency of `SELECT 1` above which connectivity warns (ms). */
  readonly latencyMs: number
  /** Oldest supported PostgreSQL major version; older warns. */
  readonly minServerVersion: number
  /** Client connections / max_connections: warn and critical ratios. */
  readonly connectionsWarn: number
  readonly connectionsCritical: number
  /** Queries running longer than this warn / are critical (seconds). */
  readonly longQuerySeconds: number
  readonly longQueryCriticalSeconds: number
  /** Sessions idle inside a transaction longer than this warn / are critical (seconds). */
  readonly idleInTransactionSeconds: number
  readonly idleInTransactionCriticalSeconds: number
  /** Sessions waiting on a lock longer than this warn / are critical (seconds; 0 = any wait). */
  readonly blockedSeconds: number
  readonly blockedCriticalSeconds: number
  /** Buffer cache hit ratio below which the cache-hit check warns… */
  readonly cacheHitRatio: number
  /** …once at least this many blocks were requested (fewer says nothing about the cache). */
  readonly cacheMinBlocks: number
  /** age(datfrozenxid) / 2^31: warn and critical ratios. */
  readonly wraparoundWarn: number
  readonly wraparoundCritical: number
  /** Share of a sequence's range used: warn and critical ratios. */
  readonly sequenceWarn: number
  readonly sequenceCritical: number
  /** Never-scanned indexes larger than this are reported (bytes). */
  readonly unusedIndexBytes: number
  /** Dead tuples / (live + dead) per table: warn and critical ratios… */
  readonly bloatWarn: number
  readonly bloatCritical: number
  /** …for tables holding at least this many tuples. */
  readonly bloatMinRows: number
  /** Replica replay lag: warn and critical (seconds). */
  readonly replicationLagSeconds: number
  readonly replicationLagCriticalSeconds: number
  /** Database size above which the size check warns (bytes; Infinity = never). */
  readonly databaseSizeBytes: number
  /** The newest verified backup older than this warns (hours). */
  readonly backupMaxAgeHours: number
  /**
   * Age of the newest archived WAL segment while completed segments wait to be archived: warn /
   * critical (seconds). An idle server that fills no segment is not graded by age.
   */
  readonly archiveAgeSeconds: number
  readonly archiveAgeCriticalSeconds: number
  /** Redis PING latency above which the redis check warns (ms). */
  readonly redisLatencyMs: number
  /** Free share of the filesystem backups are written to, at or below which backup-disk warns / is critical. */
  readonly diskFreeWarn: number
  readonly diskFreeCritical: number
  /** The database host's available memory share (MemAvailable / MemTotal): warn / critical at or below. */
  readonly memoryAvailableWarn: number
  readonly memoryAvailableCritical: number
  /**
   * The database host's 1-minute load average per CPU: warn / critical above. Load is bursty (a
   * deploy's own migration raises it), so by default it only warns: no critical limit.
   */
  readonly loadPerCpuWarn: number
  readonly loadPerCpuCritical: number
}

/** The defaults. */
export const defaultThresholds: Thresholds = {
  checkTimeoutMs: 5_000,
  latencyMs: 250,
  minServerVersion: 13,
  connectionsWarn: 0.8,
  connectionsCritical: 0.95,
  longQuerySeconds: 300,
  longQueryCriticalSeconds: 3_600,
  idleInTransactionSeconds: 60,
  idleInTransactionCriticalSeconds: 600,
  blockedSeconds: 10,
  blockedCriticalSeconds: 120,
  cacheHitRatio: 0.9,
  cacheMinBlocks: 10_000,
  wraparoundWarn: 0.5,
  wraparoundCritical: 0.75,
  sequenceWarn: 0.75,
  sequenceCritical: 0.9,
  unusedIndexBytes: 1024 * 1024,
  bloatWarn: 0.2,
  bloatCritical: 0.5,
  bloatMinRows: 10_000,
  replicationLagSeconds: 30,
  replicationLagCriticalSeconds: 300,
  databaseSizeBytes: Number.POSITIVE_INFINITY,
  backupMaxAgeHours: 26,
  archiveAgeSeconds: 3_600,
  archiveAgeCriticalSeconds: 21_600,
  redisLatencyMs: 100,
  diskFreeWarn: 0.15,
  diskFreeCritical: 0.05,
  memoryAvailableWarn: 0.1,
  memoryAvailableCritical: 0.05,
  loadPerCpuWarn: 2,
  loadPerCpuCritical: Number.POSITIVE_INFINITY
}

/** The threshold names, as `--threshold` and DBKIT_HEALTH_* accept them. */
export const thresholdNames = Object.keys(defaultThresholds) as ReadonlyArray<keyof Thresholds>

const isName = (name: string): name is keyof Thresholds => (thresholdNames as ReadonlyArray<string>).includes(name)

/** `longQuerySeconds` → `DBKIT_HEALTH_LONG_QUERY_SECONDS`. */
export const environmentVariable = (name: keyof Thresholds): string =>
  `DBKIT_HEALTH_${name.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`

/** A number, or `none`/`off`/`infinity` for "no limit". */
const parseValue = (text: string): number | undefined => {
  const trimmed = text.trim().toLowerCase()
  if (["none", "off", "infinity", "inf"].includes(trimmed)) return Number.POSITIVE_INFINITY
  if (trimmed === "") return undefined
  const value = Number(trimmed)
  return Number.isFinite(value) && value >= 0 ? value : undefined
}

/** Parses one `name=value` override. */
export const parseOverride = (text: string): Either.Either<Partial<Thresholds>, InvalidThreshold> => {
  const at = text.indexOf("=")
  const name = (at < 0 ? text : text.slice(0, at)).trim()
  if (at < 0) return Either.left(new InvalidThreshold({ name, reason: "expected name=value" }))
  if (!isName(name)) {
    return Either.left(new InvalidThreshold({ name, reason: `unknown threshold; known: ${thresholdNames.join(", ")}` }))
  }
  const value = parseValue(text.slice(at + 1))
  return value === undefined
    ? Either.left(new InvalidThreshold({ name, reason: "expected a non-negative number (or none)" }))
    : Either.right({ [name]: value } as Partial<Thresholds>)
}

/** Parses repeated `name=value` overrides; later ones win. */
export const parseOverrides = (texts: ReadonlyArray<string>): Either.Either<Partial<Thresholds>, InvalidThreshold> =>
  Either.map(Either.all(texts.map(parseOverride)), (parts) => Object.assign({}, ...parts) as Partial<Thresholds>)

/** Overrides from DBKIT_HEALTH_* variables (only the ones set). */
export const fromEnvironment: Effect.Effect<Partial<Thresholds>, InvalidThreshold> = Effect.gen(function*() {
  const overrides: Record<string, number> = {}
  for (const name of thresholdNames) {
    const variable = environmentVariable(name)
    const raw = yield* Config.option(Config.string(variable)).pipe(Effect.orElseSucceed(() => Option.none<string>()))
    if (Option.isNone(raw)) continue
    const value = parseValue(raw.value)
    if (value === undefined) {
      return yield* new InvalidThreshold({ name: variable, reason: "expected a non-negative number (or none)" })
    }
    overrides[name] = value
  }
  return overrides as Partial<Thresholds>
})

/** Human text for a limit: "300 s", "none". */
export const limit = (value: number, unit = ""): string =>
  value === Number.POSITIVE_INFINITY ? "none" : `${value}${unit}`
