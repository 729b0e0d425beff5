/**
 * Loading a verified dump into a database with PostgreSQL's own tools — psql for plain dumps,
 * pg_restore for custom ones — in one transaction that stops at the first error, then comparing
 * the result's row counts with the manifest. Used by `backups verify --restore-test` and by
 * `restore`.
 */
import * as Command from "@effect/platform/Command"
import type * as CommandExecutor from "@effect/platform/CommandExecutor"
import * as NodeStream from "@effect/platform-node/NodeStream"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"
import type * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { pipeline as nodePipeline, type Readable } from "node:stream"
import * as PgTools from "../PgTools.js"
import type { Manifest } from "./Backup.js"
import { BackupCorrupt, RestoreTestMismatch } from "./errors.js"
import * as Files from "./files.js"

/** Streams the dump in `file` into the database at `url`; fails (and loads nothing) on any error. */
export const loadDump = (file: string, manifest: Manifest, key: Redacted.Redacted<string> | undefined, url: Redacted.Redacted<string>) =>
  Effect.gen(function*() {
    const tool = manifest.format === "plain" ? "psql" : "pg_restore"
    const args = tool === "psql"
      ? ["-X", "-q", "-v", "ON_ERROR_STOP=1", "--single-transaction", "-f", "-"]
      : ["--no-owner", "--single-transaction", "--exit-on-error", "-d", PgTools.pgEnv(url).PGDATABASE!]
    const process_ = yield* Command.start(PgTools.command(tool, args, url)).pipe(
      Effect.mapError(() => new PgTools.PgToolMissing({ tool }))
    )
    const stderr = yield* process_.stderr.pipe(Stream.decodeText(), Stream.runFold("", (a, b) => a + b), Effect.fork)
    const stages = yield* Files.openDump(file, manifest, key)
    const last = (stages.length === 1 ? stages[0] : nodePipeline(stages as never, () => {})) as Readable
    // If the tool stops reading early (it failed), the pipe breaks: its exit code says why.
    yield* Stream.run(
      NodeStream.fromReadable(() => last, (cause) => new BackupCorrupt({ file, reason: String(cause) })),
      process_.stdin
    ).pipe(Effect.catchTag("SystemError", () => Effect.void), Effect.catchTag("BadArgument", () => Effect.void))
    const exitCode = Number(yield* process_.exitCode.pipe(Effect.orElseSucceed(() => -1)))
    if (exitCode !== 0) {
      const text = PgTools.scrub(yield* stderr.await.pipe(Effect.flatMap(Effect.orElseSucceed(() => ""))), url)
      return yield* new PgTools.PgToolFailed({ tool, exitCode, stderr: text })
    }
  }) satisfies Effect.Effect<void, unknown, CommandExecutor.CommandExecutor | Scope.Scope>

/** Row counts of the manifest's tables in the current database; fails on any difference. */
export const compareCounts = (file: string, manifest: Manifest) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const rows: Array<{ table: string; expected: number; actual: number | null }> = []
    for (const [table, expected] of Object.entries(manifest.tables)) {
      const [schema, name] = table.split(".") as [string, string]
      const [found] = yield* sql<{ present: boolean }>`
        SELECT to_regclass(format('%I.%I', ${schema}::text, ${name}::text)) IS NOT NULL AS present`
      const quoted = `"${schema.replace(/"/g, "\"\"")}"."${name.replace(/"/g, "\"\"")}"`
      const actual = found?.present ? Number((yield* sql.unsafe<{ n: string }>(`SELECT count(*)::text AS n FROM ${quoted}`))[0]!.n) : null
      rows.push({ table, expected, actual })
    }
    const mismatched = rows.filter((r) => r.actual !== r.expected)
    if (mismatched.length > 0) return yield* new RestoreTestMismatch({ file, tables: mismatched })
    return { tables: rows.length, rows: rows.reduce((sum, r) => sum + (r.actual ?? 0), 0) }
  })
