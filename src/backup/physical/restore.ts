/**
 * Point-in-time recovery into a NEW data directory: the running cluster is never touched.
 *
 * The target (a time, an LSN, a restore point name) picks the newest backup that ended before
 * it (a name, through dbkit's ledger of points; without an entry, the oldest backup); pgBackRest
 * restores that set into the new directory with `--target-action=promote`; pg_ctl starts it on
 * another port with archiving off (a copy must not push WAL into the source's repository); dbkit
 * waits until recovery has ended and reports the point actually reached — the last replayed
 * transaction's time, the LSN, the new timeline — and, with `expectSql`, whether the data is what
 * the caller expected.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"
import * as fs from "node:fs"
import * as path from "node:path"
import { type DatabaseUnavailable, describeUrl, PgLive } from "../../Database.js"
import type * as PgTools from "../../PgTools.js"
import {
  InvalidRecoveryTarget,
  NoBackupForTarget,
  RecoveryExpectationFailed,
  RecoveryFailed,
  RestoreDirectoryNotEmpty
} from "./errors.js"
import { readLedger } from "./home.js"
import { info, pgbackrest, runTool } from "./run.js"
import type { PitrSettings } from "./settings.js"
import { chooseBackup, parseTarget, type RecoveryTarget } from "./target.js"

export type { RecoveryTarget } from "./target.js"

export interface PhysicalRestoreOptions extends RecoveryTarget {
  /** The new data directory (created; an existing one must be empty). */
  readonly into: string
  /** The port the restored cluster listens on. */
  readonly port: number
  /** A query whose single value must be true on the restored data (`select count(*) = 2 from t`). */
  readonly expectSql?: string | undefined
}

export interface PhysicalRestoreResult {
  readonly dataDir: string
  readonly port: number
  /** user@127.0.0.1:port/database of the restored cluster (no password). */
  readonly target: string
  readonly recoveryTarget: { readonly type: "time" | "lsn" | "name"; readonly value: string }
  /** The pgBackRest backup it started from. */
  readonly backup: string
  readonly reached: {
    /** The last transaction replayed (commit time), or null when none was. */
    readonly time: string | null
    readonly lsn: string | null
    readonly timeline: number
    /** Where the server says recovery stopped ("recovery stopping before commit of transaction 745, time …"). */
    readonly stop: string | null
  }
  readonly expect: { readonly sql: string; readonly value: string | null } | null
  /** The restored server's log. */
  readonly logFile: string
  readonly durationMs: number
}

export type PhysicalRestoreError =
  | InvalidRecoveryTarget
  | NoBackupForTarget
  | RestoreDirectoryNotEmpty
  | RecoveryFailed
  | RecoveryExpectationFailed
  | PgTools.PgToolFailed
  | PgTools.PgToolMissing
  | DatabaseUnavailable
  | SqlError

const tail = (file: string) => {
  try {
    return fs.readFileSync(file, "utf8").split("\n").filter((l) => /FATAL|PANIC|ERROR/.test(l)).slice(-3).join("\n")
  } catch {
    return ""
  }
}

/** The server's own line on where recovery stopped, if it wrote one. */
const stopLine = (file: string): string | null => {
  try {
    return /LOG:\s+(recovery stopping [^\n]*)/.exec(fs.readFileSync(file, "utf8"))?.[1]?.trim() ?? null
  } catch {
    return null
  }
}

/** The restored cluster's URL: the source's role and database, on 127.0.0.1 at `port`. */
const restoredUrl = (source: Redacted.Redacted<string>, port: number) => {
  const url = new URL(Redacted.value(source))
  url.hostname = "127.0.0.1"
  url.port = String(port)
  return Redacted.make(url.toString())
}

/** Runs a query on the restored cluster (one short-lived connection). */
const onRestored = <A>(
  url: Redacted.Redacted<string>,
  query: (sql: SqlClient.SqlClient) => Effect.Effect<A, SqlError>
) => Effect.flatMap(SqlClient.SqlClient, query).pipe(Effect.provide(PgLive({ url, poolSize: 1 })))

/**
 * Restores into a new data directory and starts it (see the module comment). `confirm` (the
 * guard) runs once the target, directory, port and backup have been checked, before anything is written.
 */
export const restore = <E>(
  settings: PitrSettings,
  /** `home`: where the stanza's records are (home.ts), for the restore points' ledger. */
  source: { readonly url: Redacted.Redacted<string>; readonly home: string; readonly serverMajor: number },
  options: PhysicalRestoreOptions,
  confirm: Effect.Effect<unknown, E>
): Effect.Effect<PhysicalRestoreResult, PhysicalRestoreError | E> =>
  Effect.gen(function*() {
    const started = yield* Clock.currentTimeMillis
    const records = readLedger(source.home, settings.stanza)
    const recorded = (name: string) => records.filter((p) => p.name === name).at(-1)?.lsn
    const target = yield* parseTarget(options, recorded)
    const dataDir = path.resolve(options.into)
    if (fs.existsSync(dataDir) && fs.readdirSync(dataDir).length > 0) {
      return yield* new RestoreDirectoryNotEmpty({ directory: dataDir })
    }
    if (!Number.isInteger(options.port) || options.port < 1 || options.port > 65535) {
      return yield* new InvalidRecoveryTarget({ target: String(options.port), reason: "the port must be 1-65535" })
    }
    const { backup: backups } = yield* info(settings)
    const chosen = chooseBackup(backups, target, target.type !== "name" || recorded(target.value) !== undefined)
    if (chosen === undefined) {
      return yield* new NoBackupForTarget({
        target: target.value,
        reason: backups.length === 0
          ? "the stanza has no backups yet (run `dbkit backup --physical`)"
          : `the oldest backup (${backups[0]!.label}) ended at ${
            new Date(backups[0]!.timestamp.stop * 1000).toISOString()
          }, after the target`
      })
    }
    yield* confirm
    // A restore that fails half-way (a damaged file in the repository) leaves no half data directory behind.
    const existed = fs.existsSync(dataDir)
    yield* pgbackrest(settings, "restore", [
      `--pg1-path=${dataDir}`,
      `--set=${chosen.label}`,
      `--type=${target.type}`,
      `--target=${target.value}`,
      "--target-action=promote",
      `--tablespace-map-all=${dataDir}.tablespaces`
    ]).pipe(
      Effect.tapError(() =>
        Effect.sync(() =>
          existed
            ? fs.readdirSync(dataDir).forEach((name) =>
              fs.rmSync(path.join(dataDir, name), { recursive: true, force: true })
            )
            : fs.rmSync(dataDir, { recursive: true, force: true })
        )
      ),
      Effect.catchTag("PgToolFailed", (error) =>
        Effect.fail(
          new RecoveryFailed({
            dataDir,
            reason: `pgbackrest could not restore backup ${chosen.label}: ${error.message}`,
            log: ""
          })
        ))
    )
    if (!fs.existsSync(path.join(dataDir, "postgresql.conf"))) {
      return yield* new RecoveryFailed({
        dataDir,
        reason:
          "the restored data directory has no postgresql.conf (this server keeps its configuration elsewhere, e.g. /etc/postgresql/<version>/main): copy postgresql.conf, pg_hba.conf and pg_ident.conf into it and start it with pg_ctl",
        log: ""
      })
    }
    const binDir = settings.binDir ??
      [`/usr/lib/postgresql/${source.serverMajor}/bin`].find((dir) => fs.existsSync(path.join(dir, "pg_ctl")))
    const pgCtl = binDir === undefined ? "pg_ctl" : path.join(binDir, "pg_ctl")
    const logFile = path.join(dataDir, "dbkit-recovery.log")
    const failed = (reason: string) => new RecoveryFailed({ dataDir, reason, log: tail(logFile) })
    // Kept in the copy's own settings, so a later restart keeps them too: its own port (never the
    // source's), and archiving off — the copy is promoted onto a new timeline whose WAL must not
    // reach the source's repository.
    yield* Effect.try({
      try: () =>
        fs.appendFileSync(
          path.join(dataDir, "postgresql.auto.conf"),
          `\n# dbkit restore --physical: a copy on its own port, archiving nothing\nport = ${options.port}\narchive_mode = 'off'\n`
        ),
      catch: (cause) => failed(`could not write its settings: ${(cause as Error).message}`)
    })
    yield* runTool(settings, "pg_ctl", ["-D", dataDir, "-l", logFile, "-w", "-t", "300", "start"], pgCtl).pipe(
      Effect.catchTag("PgToolFailed", (error) => Effect.fail(failed(`pg_ctl could not start it (${error.message})`)))
    )
    const url = restoredUrl(source.url, options.port)
    // Until recovery has ended: promoted (done), or the server gone (it stops when the target is not reached).
    const alive = runTool(settings, "pg_ctl", ["-D", dataDir, "status"], pgCtl).pipe(
      Effect.as(true),
      Effect.catchTag("PgToolFailed", () => Effect.succeed(false))
    )
    const state = Effect.gen(function*() {
      if (!(yield* alive)) return "stopped" as const
      const recovering = yield* onRestored(url, (sql) => sql<{ r: boolean }>`SELECT pg_is_in_recovery() AS r`).pipe(
        Effect.map(([row]) => row!.r),
        Effect.orElseSucceed(() => true)
      )
      return recovering ? ("recovering" as const) : ("promoted" as const)
    })
    const end = yield* state.pipe(
      Effect.repeat(
        Schedule.recurWhile<"recovering" | "promoted" | "stopped">((s) => s === "recovering").pipe(
          Schedule.addDelay(() => "500 millis")
        )
      ),
      Effect.timeoutFail({ duration: "30 minutes", onTimeout: () => failed("recovery did not end within 30 minutes") })
    )
    if (end === "stopped") {
      return yield* failed(
        `the restored server stopped during recovery (is ${target.value} covered by the archived WAL?)`
      )
    }
    const reached = yield* onRestored(url, (sql) =>
      sql<{ time: string | null; lsn: string | null; wal: string }>`
        SELECT to_char(pg_last_xact_replay_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS time,
               pg_last_wal_replay_lsn()::text AS lsn,
               pg_walfile_name(pg_current_wal_lsn()) AS wal`)
    const row = reached[0]!
    let expect: PhysicalRestoreResult["expect"] = null
    if (options.expectSql !== undefined) {
      const rows = yield* onRestored(url, (sql) => sql.unsafe<Record<string, unknown>>(options.expectSql!))
      const first = rows[0] === undefined ? undefined : Object.values(rows[0])[0]
      const value = first === undefined || first === null ? null : String(first)
      expect = { sql: options.expectSql, value }
      if (first !== true && value !== "t" && value !== "true") {
        return yield* new RecoveryExpectationFailed({ sql: options.expectSql, value, port: options.port })
      }
    }
    return {
      dataDir,
      port: options.port,
      target: describeUrl(url).target,
      recoveryTarget: { type: target.type, value: target.value },
      backup: chosen.label,
      reached: {
        time: row.time,
        lsn: row.lsn,
        timeline: parseInt(row.wal.slice(0, 8), 16),
        stop: stopLine(logFile)
      },
      expect,
      logFile,
      durationMs: (yield* Clock.currentTimeMillis) - started
    }
  })
