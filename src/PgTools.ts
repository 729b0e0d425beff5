/**
 * PostgreSQL's own tools (pg_dump, pg_restore, psql) as child processes, through
 * @effect/platform's Command. Credentials travel in PG* environment variables, never in argv
 * (where `ps` would show them); stderr is drained while stdout streams, and messages are
 * scrubbed of the password before they reach an error.
 */
import * as Command from "@effect/platform/Command"
import type * as CommandExecutor from "@effect/platform/CommandExecutor"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import { execFile } from "node:child_process"
import * as Redact from "./Redact.js"

export type Tool = "pg_dump" | "pg_restore" | "psql"

/** The tool is not installed (or not on PATH). */
export class PgToolMissing extends Data.TaggedError("PgToolMissing")<{ readonly tool: Tool }> {
  override get message() {
    return `${this.tool} was not found on PATH; install the PostgreSQL client tools (e.g. apt install postgresql-client)`
  }
}

/**
 * The tool is older than what it must handle: the server it talks to, or the pg_dump that
 * wrote the backup it reads (a newer dump can use syntax or meta-commands it does not know).
 */
export class PgToolTooOld extends Data.TaggedError("PgToolTooOld")<{
  readonly tool: Tool
  readonly toolMajor: number
  /** The major version it must be at least. */
  readonly serverMajor: number
  readonly because?: "server" | "backup" | undefined
}> {
  override get message() {
    const what = this.because === "backup"
      ? `a backup written by pg_dump ${this.serverMajor}`
      : `a PostgreSQL ${this.serverMajor} server`
    return `${this.tool} ${this.toolMajor} is too old for ${what}; install PostgreSQL client tools ${this.serverMajor} or newer`
  }
}

/** The tool ran and failed. */
export class PgToolFailed extends Data.TaggedError("PgToolFailed")<{
  readonly tool: Tool
  readonly exitCode: number
  readonly stderr: string
}> {
  override get message() {
    return `${this.tool} exited with code ${this.exitCode}: ${this.stderr.trim().split("\n").slice(-3).join(" / ") || "no message"}`
  }
}

/** PG* variables for a URL: the child connects with these and no argv secrets. */
export const pgEnv = (url: Redacted.Redacted<string>, applicationName = "dbkit"): Record<string, string> => {
  const parsed = new URL(Redacted.value(url))
  const env: Record<string, string> = {
    PGHOST: parsed.hostname.replace(/^\[(.*)\]$/, "$1"), // [::1] → ::1: libpq wants the bare address
    PGPORT: parsed.port || "5432",
    PGDATABASE: decodeURIComponent(parsed.pathname.replace(/^\//, "")),
    PGAPPNAME: applicationName
  }
  if (parsed.username) env.PGUSER = decodeURIComponent(parsed.username)
  if (parsed.password) env.PGPASSWORD = decodeURIComponent(parsed.password)
  const sslmode = parsed.searchParams.get("sslmode")
  if (sslmode) env.PGSSLMODE = sslmode
  return env
}

/** Removes a password from text that came back from a tool. */
export const scrub = (text: string, url: Redacted.Redacted<string>): string => Redact.scrubUrl(text, url)

/** `TOOL --version`'s answers, per tool and PATH (tests stand other tools in by changing PATH). */
const majors = new Map<string, Promise<number | undefined>>()

/**
 * The tool's major version (`pg_dump (PostgreSQL) 15.20` → 15), asked once per process, tool and
 * PATH: on Debian each of these is a Perl wrapper, ~50 ms a call.
 */
export const major = (tool: Tool): Effect.Effect<number, PgToolMissing> =>
  Effect.flatMap(
    Effect.promise(() => {
      const key = `${tool}\0${process.env.PATH ?? ""}`
      let found = majors.get(key)
      if (found === undefined) {
        found = new Promise((resolve) => execFile(tool, ["--version"], (error, stdout) => resolve(error ? undefined : parseMajor(stdout))))
        majors.set(key, found)
      }
      return found
    }),
    (found) => (found === undefined ? Effect.fail(new PgToolMissing({ tool })) : Effect.succeed(found))
  )

/** The major version in a tool's `--version` line ("psql (PostgreSQL) 15.19 (Debian …)" → 15). */
export const parseMajor = (text: string): number | undefined => {
  const match = /\(PostgreSQL\)\s+(\d+)/.exec(text) ?? /(\d+)(?:\.\d+)?/.exec(text)
  return match ? Number(match[1]) : undefined
}

/** A tool process with the database's credentials in its environment. */
export const command = (tool: Tool, args: ReadonlyArray<string>, url: Redacted.Redacted<string>): Command.Command =>
  Command.make(tool, ...args).pipe(Command.env(pgEnv(url, `dbkit-${tool}`)))
