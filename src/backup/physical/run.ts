/**
 * pgBackRest (and pg_ctl) as child processes, through the floor's one spawner (PgTools.spawn):
 * scoped, stderr kept and scrubbed, the exit code mapped to PgToolFailed. The cipher pass goes in
 * the child's environment only. Also the one reader of `pgbackrest info --output=json`.
 */
import * as Effect from "effect/Effect"
import * as PgTools from "../../PgTools.js"
import { childEnv, commonArgs, type PitrSettings, secrets } from "./settings.js"

/** Runs a tool to its end; its stdout as text (`onOutput` also hears it as it comes). */
export const runTool = (
  settings: PitrSettings,
  tool: "pgbackrest" | "pg_ctl",
  args: ReadonlyArray<string>,
  executable?: string,
  onOutput?: (text: string) => void
): Effect.Effect<string, PgTools.PgToolFailed | PgTools.PgToolMissing> =>
  Effect.scoped(
    Effect.gen(function*() {
      const child = yield* PgTools.spawn(tool, args, {
        env: childEnv(settings),
        runAs: settings.runAs,
        secrets: secrets(settings),
        executable
      })
      const chunks: Array<Buffer> = []
      // Read while it runs (a tool blocks on a full pipe), and wait for both its end and the exit.
      const output = Effect.async<string>((resume) => {
        child.stdout.on("data", (chunk: Buffer) => {
          chunks.push(chunk)
          onOutput?.(chunk.toString("utf8"))
        })
        child.stdout.once("close", () => resume(Effect.succeed(Buffer.concat(chunks).toString("utf8"))))
      })
      const [text] = yield* Effect.all([output, child.finished], { concurrency: 2 })
      return text
    })
  )

/** `pgbackrest STANZA-OPTIONS COMMAND …`. */
export const pgbackrest = (
  settings: PitrSettings,
  command: string,
  args: ReadonlyArray<string> = [],
  onOutput?: (text: string) => void
) => runTool(settings, "pgbackrest", [...commonArgs(settings), ...args, command], undefined, onOutput)

/** One backup as `pgbackrest info --output=json` describes it (the fields dbkit reads). */
export interface BackrestBackup {
  readonly label: string
  readonly type: "full" | "diff" | "incr"
  readonly prior: string | null
  readonly error?: boolean
  readonly archive: { readonly start: string | null; readonly stop: string | null }
  readonly lsn?: { readonly start: string; readonly stop: string }
  readonly timestamp: { readonly start: number; readonly stop: number }
  readonly info: {
    readonly size: number
    readonly delta: number
    readonly repository: { readonly size: number; readonly delta: number }
  }
  readonly backrest: { readonly version: string }
}

export interface BackrestStanza {
  readonly name: string
  readonly cipher: string
  readonly backup: ReadonlyArray<BackrestBackup>
  readonly archive: ReadonlyArray<{ readonly min: string | null; readonly max: string | null }>
  readonly status: { readonly code: number; readonly message: string }
}

/** The stanza's backups, oldest first, and its repository's cipher. */
export const info = (
  settings: PitrSettings
): Effect.Effect<BackrestStanza, PgTools.PgToolFailed | PgTools.PgToolMissing> =>
  Effect.flatMap(pgbackrest(settings, "info", ["--output=json"]), (text) => {
    try {
      const stanzas = JSON.parse(text) as ReadonlyArray<BackrestStanza>
      const found = stanzas.find((s) => s.name === settings.stanza)
      if (found !== undefined) return Effect.succeed({ ...found, backup: found.backup ?? [] })
    } catch {
      // fall through: not the JSON pgBackRest writes
    }
    return Effect.fail(
      new PgTools.PgToolFailed({
        tool: "pgbackrest",
        exitCode: 0,
        stderr: `info --output=json did not describe stanza ${settings.stanza}`
      })
    )
  })

/** An LSN ("16/B374D848") as a number, to compare. */
export const lsnValue = (lsn: string): bigint => {
  const [high, low] = lsn.split("/")
  return (BigInt(`0x${high}`) << 32n) + BigInt(`0x${low}`)
}

/**
 * The stanza as `info` describes it, only when its repository could be read: `info` exits 0 with
 * no backups for a repository that is missing (a wrong path, an unmounted disk), and reading that
 * as "pgBackRest has none" would delete every manifest. Status 0 is ok, 2 "no valid backups".
 */
export const readableInfo = (
  settings: PitrSettings
): Effect.Effect<BackrestStanza, PgTools.PgToolFailed | PgTools.PgToolMissing> =>
  Effect.flatMap(info(settings), (stanza) =>
    stanza.status.code === 0 || stanza.status.code === 2
      ? Effect.succeed(stanza)
      : Effect.fail(
        new PgTools.PgToolFailed({
          tool: "pgbackrest",
          exitCode: 0,
          stderr:
            `info: stanza ${settings.stanza} cannot be read (status ${stanza.status.code}: ${stanza.status.message}); ` +
            "nothing was changed"
        })
      ))
