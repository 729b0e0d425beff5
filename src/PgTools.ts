/**
 * PostgreSQL's own tools (pg_dump, pg_restore, psql) as child processes: the one place dbkit
 * starts them. Credentials travel in PG* environment variables, never in argv (where `ps` would
 * show them); stdout is a back-pressured stream, stderr is kept (bounded) while it runs and
 * scrubbed of the password before it reaches an error, and a process still running when its
 * scope closes is stopped (SIGTERM, then SIGKILL).
 *
 * Node's child_process rather than @effect/platform's Command: every caller pipes the bytes
 * through Node streams (gzip, the cipher, dbkit's dump reader, a file), and no service then
 * needs a CommandExecutor.
 */
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import { type ChildProcess, execFile, spawn as spawnChild } from "node:child_process"
import { PassThrough, Readable, Writable } from "node:stream"
import * as Redact from "./Redact.js"

export type Tool = "pg_dump" | "pg_restore" | "psql" | "pgbackrest" | "pg_ctl"

/** The tool is not installed (or not on PATH). */
export class PgToolMissing extends Data.TaggedError("PgToolMissing")<{ readonly tool: Tool }> {
  override get message() {
    return this.tool === "pgbackrest"
      ? "pgbackrest was not found on PATH; install pgBackRest (e.g. apt install pgbackrest)"
      : this.tool === "pg_ctl"
      ? "pg_ctl was not found; install the PostgreSQL server binaries, or set DBKIT_PG_BINDIR to the folder holding them"
      : `${this.tool} was not found on PATH; install the PostgreSQL client tools (e.g. apt install postgresql-client)`
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
    return `${this.tool} exited with code ${this.exitCode}: ${
      this.stderr.trim().split("\n").slice(-3).join(" / ") || "no message"
    }`
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
        found = new Promise((resolve) =>
          execFile(tool, ["--version"], (error, stdout) => resolve(error ? undefined : parseMajor(stdout)))
        )
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

/** How much of a tool's stderr is kept: its last 64 KiB (the error is at the end). */
const STDERR_LIMIT = 64 * 1024

/** How long a tool has to exit after SIGTERM before it gets SIGKILL. */
const KILL_GRACE_MS = 3_000

export interface SpawnOptions {
  /** The database the tool connects to, handed over in PG* variables; none when it connects nowhere (`pg_restore -f -`). */
  readonly url?: Redacted.Redacted<string> | undefined
  /**
   * The tool's input: "ignore" (default); "pipe", where writing after the tool has stopped
   * reading fails; "drain", where those bytes are discarded instead, so a pipeline that feeds the
   * tool still reads its source to the end (checks on the way see every byte).
   */
  readonly stdin?: "ignore" | "pipe" | "drain" | undefined
  /** "ignore": nobody wants the tool's output (psql running a script). Default "pipe". */
  readonly stdout?: "pipe" | "ignore" | undefined
  /** More environment for the child (pgBackRest's PGBACKREST_* settings, a cipher pass): never argv. */
  readonly env?: Readonly<Record<string, string>> | undefined
  /** The program to start instead of `tool` on PATH (pg_ctl from the server's bin folder). */
  readonly executable?: string | undefined
  /** Run it as this system user (`runuser -u USER --`, root only): pgBackRest and pg_ctl run as the server's owner. */
  readonly runAs?: string | undefined
  /** Secrets to remove from its stderr besides the URL's password. */
  readonly secrets?: ReadonlyArray<string> | undefined
}

/** A running tool, alive until its scope closes. */
export interface PgProcess {
  readonly tool: Tool
  /**
   * Its output, back-pressured: the tool waits while nobody reads. Destroyed before its end, the
   * tool's pipe is closed too, so it stops instead of waiting forever; that stop is then the
   * caller's doing, not a failure of the tool (`finished` succeeds). Empty when ignored.
   */
  readonly stdout: Readable
  /**
   * Its input, as the end of a pipeline. Destroyed with an error (the feed failed), it kills the
   * tool before its stdin closes, so the tool never takes a cut-short input for a whole one.
   */
  readonly stdin: Writable
  /**
   * Waits for the tool to exit; fails with PgToolFailed (stderr scrubbed) unless it exits 0 or
   * was stopped because its output was abandoned.
   */
  readonly finished: Effect.Effect<void, PgToolFailed>
}

/** Keeps the last `limit` bytes of what a stream says. */
const tail = (limit: number) => {
  let kept = Buffer.alloc(0)
  let cut = false
  return {
    add: (chunk: Buffer) => {
      kept = Buffer.concat([kept, chunk])
      if (kept.length > limit) (kept = kept.subarray(kept.length - limit)), (cut = true)
    },
    text: () => (cut ? "…" : "") + kept.toString("utf8")
  }
}

/** The child's stdin as a pipeline's end (see PgProcess.stdin and SpawnOptions.stdin). */
const inputOf = (child: ChildProcess, mode: "pipe" | "drain"): Writable => {
  const stdin = child.stdin!
  let open = true
  const brokenPipe = () => Object.assign(new Error("the tool stopped reading its input"), { code: "EPIPE" })
  const input = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      if (!open || stdin.destroyed) return mode === "drain" ? callback() : callback(brokenPipe())
      if (stdin.write(chunk)) return callback()
      const go = () => {
        stdin.off("drain", go)
        stdin.off("close", go)
        callback()
      }
      stdin.on("drain", go)
      stdin.on("close", go)
    },
    final(callback) {
      if (!open || stdin.destroyed) return callback()
      stdin.end(() => callback())
    },
    destroy(error, callback) {
      if (error !== null && child.exitCode === null && child.signalCode === null) child.kill("SIGKILL")
      stdin.destroy()
      callback(error)
    }
  })
  stdin.on("error", (error) => {
    open = false // EPIPE: the child stopped reading
    if (mode === "pipe") input.destroy(error)
  })
  stdin.on("close", () => void (open = false))
  return input
}

/** A stdin that takes nothing, for a tool started without one. */
const noInput = (tool: Tool) =>
  new Writable({ write: (_chunk, _encoding, callback) => callback(new Error(`${tool} was started without an input`)) })

/** Stops a tool that is still running: SIGTERM, SIGKILL after a grace period; waits (bounded) for it to go. */
const stop = (child: ChildProcess) =>
  Effect.async<void>((resume) => {
    if (child.exitCode !== null || child.signalCode !== null) return resume(Effect.void)
    const timers: Array<NodeJS.Timeout> = []
    const done = () => {
      for (const timer of timers) clearTimeout(timer)
      resume(Effect.void)
    }
    child.once("exit", done)
    child.kill("SIGTERM")
    timers.push(setTimeout(() => child.kill("SIGKILL"), KILL_GRACE_MS))
    timers.push(setTimeout(done, KILL_GRACE_MS + 1_000)) // a process SIGKILL cannot end is not waited for
  })

/**
 * Starts `tool` with `args` (never a credential: those go in PG* variables from `url`). Fails
 * with PgToolMissing when it cannot be started; stopped with its scope if still running.
 */
export const spawn = (
  tool: Tool,
  args: ReadonlyArray<string>,
  options: SpawnOptions = {}
): Effect.Effect<PgProcess, PgToolMissing, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.async<{ readonly child: ChildProcess; readonly process: PgProcess }, PgToolMissing>((resume) => {
      const stdinMode = options.stdin ?? "ignore"
      const stdoutMode = options.stdout ?? "pipe"
      const program = options.executable ?? tool
      const child = spawnChild(
        options.runAs === undefined ? program : "runuser",
        options.runAs === undefined ? args : ["-u", options.runAs, "--", program, ...args],
        {
          env: {
            ...process.env,
            ...(options.url === undefined ? {} : pgEnv(options.url, `dbkit-${tool}`)),
            ...options.env
          },
          stdio: [stdinMode === "ignore" ? "ignore" : "pipe", stdoutMode, "pipe"]
        }
      )
      // Both streams are taken at once: Node discards the output of an exited child that nobody
      // listens to (measured: a pipeline attached 300 ms late read nothing). pipe() keeps
      // backpressure, so the PassThrough holds one buffer, not the dump.
      const stdout = child.stdout === null ? Readable.from([]) : child.stdout.pipe(new PassThrough())
      // Output abandoned while the tool runs: its pipe is closed so it stops, and what it then
      // says about the closed pipe is no failure of its own.
      let abandoned = false
      if (child.stdout !== null) {
        const source = child.stdout
        stdout.once("close", () => {
          if (source.readableEnded || child.exitCode !== null || child.signalCode !== null) return
          abandoned = true
          source.destroy()
        })
      }
      const stderr = tail(STDERR_LIMIT)
      child.stderr!.on("data", stderr.add)
      const closed = new Promise<number>((done) => child.once("close", (code) => done(code ?? -1)))
      const finished = Effect.flatMap(Effect.promise(() => closed), (exitCode) =>
        exitCode === 0 || abandoned
          ? Effect.void
          : Effect.fail(
            new PgToolFailed({
              tool,
              exitCode,
              stderr: Redact.scrubber(options.secrets ?? [])(
                options.url === undefined ? stderr.text() : scrub(stderr.text(), options.url)
              )
            })
          ))
      const stdin = stdinMode === "ignore" ? noInput(tool) : inputOf(child, stdinMode)
      let started = false
      child.on("error", () => {
        // Before "spawn": it could not be started. After it, a failed kill: the exit code tells.
        if (!started) (started = true), resume(Effect.fail(new PgToolMissing({ tool })))
      })
      child.once("spawn", () => {
        started = true
        resume(Effect.succeed({ child, process: { tool, stdout, stdin, finished } }))
      })
    }),
    ({ child }) => stop(child)
  ).pipe(Effect.map(({ process }) => process))
