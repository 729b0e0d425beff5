/**
 * Loading a verified dump into a database with PostgreSQL's own tools — psql for plain dumps,
 * pg_restore for custom ones — in one transaction that stops at the first error, then comparing
 * the result's row counts with the manifest. Used by `backups verify --restore-test` and by
 * `restore`.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"
import type * as Redacted from "effect/Redacted"
import { spawn } from "node:child_process"
import type { Readable } from "node:stream"
import { pipeline } from "node:stream/promises"
import { quoteIdent } from "../Identifier.js"
import * as PgTools from "../PgTools.js"
import type { Manifest } from "./Backup.js"
import { BackupCorrupt, RestoreTestMismatch } from "./errors.js"
import * as Files from "./files.js"

/**
 * Streams the dump in `file` into the database at `url` and fails on any error. Callers load
 * into a new or staging database and drop it on failure, so a partial load never survives.
 *
 * This child is spawned with node:child_process rather than @effect/platform's Command: that
 * stdin writer does not wait for `drain`, so a slow psql made it buffer the whole dump (364 MB
 * peak for a 516 MB database, measured); stream.pipeline keeps memory to a few chunks.
 */
export const loadDump = (file: string, manifest: Manifest, key: Redacted.Redacted<string> | undefined, url: Redacted.Redacted<string>) =>
  Effect.gen(function*() {
    const tool = manifest.format === "plain" ? "psql" : "pg_restore"
    const args = tool === "psql"
      ? ["-X", "-q", "-v", "ON_ERROR_STOP=1", "--single-transaction", "-f", "-"]
      : ["--no-owner", "--single-transaction", "--exit-on-error", "-d", PgTools.pgEnv(url).PGDATABASE!]
    const stages = yield* Files.openDump(file, manifest, key)
    return yield* Effect.async<void, PgTools.PgToolFailed | PgTools.PgToolMissing | BackupCorrupt>((resume) => {
      const child = spawn(tool, args, {
        env: { ...process.env, ...PgTools.pgEnv(url, `dbkit-${tool}`) },
        stdio: ["pipe", "ignore", "pipe"]
      })
      let stderr = ""
      let feedError: NodeJS.ErrnoException | undefined
      child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()))
      pipeline(...(stages as [Readable]), child.stdin).catch((error: NodeJS.ErrnoException) => (feedError = error))
      child.once("error", () => resume(Effect.fail(new PgTools.PgToolMissing({ tool }))))
      child.once("close", (code) => {
        if (code !== 0) {
          resume(Effect.fail(new PgTools.PgToolFailed({ tool, exitCode: code ?? -1, stderr: PgTools.scrub(stderr, url) })))
        } else if (feedError !== undefined && feedError.code !== "EPIPE") {
          resume(Effect.fail(new BackupCorrupt({ file, reason: feedError.message })))
        } else {
          resume(Effect.void)
        }
      })
      return Effect.sync(() => void child.kill("SIGTERM"))
    })
  })

/** Row counts of the manifest's tables in the current database; fails on any difference. */
export const compareCounts = (file: string, manifest: Manifest) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const rows: Array<{ table: string; expected: number; actual: number | null }> = []
    for (const [table, expected] of Object.entries(manifest.tables)) {
      const [schema, name] = table.split(".") as [string, string]
      const [found] = yield* sql<{ present: boolean }>`
        SELECT to_regclass(format('%I.%I', ${schema}::text, ${name}::text)) IS NOT NULL AS present`
      const actual = found?.present ? Number((yield* sql.unsafe<{ n: string }>(`SELECT count(*)::text AS n FROM ${quoteIdent(schema)}.${quoteIdent(name)}`))[0]!.n) : null
      rows.push({ table, expected, actual })
    }
    const mismatched = rows.filter((r) => r.actual !== r.expected)
    if (mismatched.length > 0) return yield* new RestoreTestMismatch({ file, tables: mismatched })
    return { tables: rows.length, rows: rows.reduce((sum, r) => sum + (r.actual ?? 0), 0) }
  })
