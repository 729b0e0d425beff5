/**
 * Anonymize `into`: the copy (`pg_dump <source> | psql <target>`, streamed) and the guardian
 * process that drops the new database if this process dies without cleaning up.
 */
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Redacted from "effect/Redacted"
import { spawn } from "node:child_process"
import { PassThrough } from "node:stream"
import { pipeline } from "node:stream/promises"
import { quoteIdent } from "../Identifier.js"
import * as PgTools from "../PgTools.js"

export const NAME = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/

export const literal = (text: string) => `'${text.replace(/'/g, "''")}'`

/** `pg_dump <source> | psql <target>`: plain SQL streamed, stopping at the first error; the bytes it moved. */
export const copyDatabase = (source: Redacted.Redacted<string>, target: Redacted.Redacted<string>) =>
  Effect.scoped(Effect.gen(function*() {
    const dump = yield* PgTools.spawn("pg_dump", ["--format=p", "--no-password", "--no-subscriptions"], { url: source })
    const load = yield* PgTools.spawn("psql", [
      "-X",
      "-q",
      "--no-password",
      "-v",
      "ON_ERROR_STOP=1",
      "--single-transaction",
      "-f",
      "-"
    ], {
      url: target,
      stdin: "pipe",
      stdout: "ignore"
    })
    let bytes = 0
    // pipeline keeps backpressure; psql stopping closes pg_dump's pipe, and pg_dump stops too.
    const fed = Effect.promise(() =>
      pipeline(dump.stdout, new PassThrough().on("data", (chunk: Buffer) => (bytes += chunk.length)), load.stdin).catch(
        () => undefined
      )
    )
    const [dumped, loaded] = yield* Effect.all([Effect.exit(dump.finished), Effect.exit(load.finished), fed], {
      concurrency: "unbounded"
    })
    // psql stopping first breaks pg_dump's pipe: psql's message is the story then.
    if (Exit.isFailure(loaded)) return yield* Effect.failCause(loaded.cause)
    // psql committed what it got, but the dump was cut short: the caller drops it all.
    if (Exit.isFailure(dumped)) return yield* Effect.failCause(dumped.cause)
    return bytes
  }))

/**
 * A detached `sh` that drops the new database if this process dies without saying it is done
 * (SIGKILL, OOM): we tell it "creating" before CREATE DATABASE, "created" after it and "done" at
 * the end; end of input before "done" means we are gone. Dying after "created", the database
 * goes; dying while creating, it goes only if it is still unreachable (ALLOW_CONNECTIONS false,
 * as we create it), so another's database of the same name is never touched. Without `sh`, the
 * in-process cleanup is all there is.
 */
export const guardian = (url: Redacted.Redacted<string>, name: string) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const drop = `DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`
      const script = [
        "trap '' INT TERM HUP",
        `IFS= read -r step || exit 0`,
        `[ "$step" = creating ] || exit 0`,
        `IFS= read -r step`,
        `[ "$step" = done ] && exit 0`,
        `if [ "$step" = created ]; then`,
        `  IFS= read -r step`,
        `  [ "$step" = done ] && exit 0`,
        `  exec psql -X -q --no-password -c '${drop}'`,
        `fi`,
        `exec psql -X -q --no-password <<'SQL'`,
        `SELECT format('DROP DATABASE %I WITH (FORCE)', datname) FROM pg_database WHERE datname = '${name}' AND NOT datallowconn`,
        `\\gexec`,
        `SQL`
      ].join("\n")
      const child = spawn("sh", ["-c", script], {
        env: { ...process.env, ...PgTools.pgEnv(url, "dbkit-anonymize-guardian") },
        stdio: ["pipe", "ignore", "ignore"],
        detached: true
      })
      child.on("error", () => undefined)
      child.stdin.on("error", () => undefined)
      child.unref()
      ;(child.stdin as unknown as { unref?: () => void }).unref?.()
      let finished = false
      const say = (step: string) => () => void (finished || child.stdin.write(`${step}\n`))
      return {
        creating: say("creating"),
        created: say("created"),
        /** Nothing left for the guardian to do. */
        done: () => {
          if (!finished) (finished = true), child.stdin.end("done\n")
        },
        /** Leave the drop to the guardian (our own drop failed). */
        abandon: () => {
          if (!finished) (finished = true), child.stdin.end()
        }
      }
    }),
    (g) => Effect.sync(g.done)
  )
