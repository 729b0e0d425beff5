/**
 * The `dbkit` command line: assembles the commands, runs them on Node, and maps every typed
 * error to a one-line message and the exit code documented in README (see exitCodes.ts).
 * `--verbose` anywhere on the line prints the full cause of a failure.
 *
 * Each command group's index.ts holds only its definitions (names, options, descriptions): every
 * handler loads its implementation when it runs (`lazy(() => import("./handlers.js"), …)`, see
 * lazy.ts), so starting the CLI evaluates no service, driver or handler. The tree is in
 * commands.ts.
 */
import * as Command from "@effect/cli/Command"
import * as ValidationError from "@effect/cli/ValidationError"
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as NodePath from "@effect/platform-node/NodePath"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as NodeTerminal from "@effect/platform-node/NodeTerminal"
import * as Cause from "effect/Cause"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FiberRef from "effect/FiberRef"
import * as HashMap from "effect/HashMap"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Option from "effect/Option"
import pkg from "../../package.json" with { type: "json" }
import { loadEnvFiles, projectDir } from "../EnvFiles.js"
import * as ServerError from "../ServerError.js"
import { dbkit } from "./commands.js"
import { applyEnvName, selectDatabase, takeEnvFlag, takeFlag } from "./envFlag.js"
import { ExitCode, exitCodeOfTag } from "./exitCodes.js"
import * as Help from "./help.js"
import { handlerStarted } from "./lazy.js"
import * as OpensNothing from "./opensNothing.js"
import { endpointOf } from "./otlpEndpoint.js"
import { applyProjectConfig, needsProjectConfig } from "./projectConfig.js"

const cli = Command.run(dbkit, { name: "dbkit", version: pkg.version })

const tagOf = (error: unknown): string | undefined =>
  typeof error === "object" && error !== null && "_tag" in error && typeof error._tag === "string"
    ? error._tag
    : undefined

/** The exit code for how the program ended. */
const exitCodeOf = (exit: Exit.Exit<unknown, unknown>): number => {
  if (Exit.isSuccess(exit)) return ExitCode.ok
  if (Cause.isInterruptedOnly(exit.cause)) return 130
  return Option.match(Cause.failureOption(exit.cause), {
    onNone: () => ExitCode.unexpected,
    onSome: (error) =>
      ValidationError.isValidationError(error)
        ? ExitCode.usage
        : exitCodeOfTag(tagOf(error))
  })
}

const report = (verbose: boolean) => (cause: Cause.Cause<unknown>) =>
  Effect.gen(function*() {
    if (Cause.isInterruptedOnly(cause)) return
    const failure = Cause.failureOption(cause)
    if (Option.isSome(failure) && ValidationError.isValidationError(failure.value)) return // @effect/cli printed it
    // An outcome whose report is the command's output (health's verdict) gets no error line.
    if (Option.isSome(failure) && (failure.value as { readonly reported?: unknown }).reported === true) return
    const message = Option.match(failure, {
      onNone: () =>
        `unexpected error: ${
          Cause.squash(cause) instanceof Error ? (Cause.squash(cause) as Error).message : String(Cause.squash(cause))
        }`,
      // @effect/sql's SqlError says only "Failed to execute statement": the server's reason
      // follows it ("permission denied for database …").
      onSome: (error) => ServerError.describe(error)
    })
    yield* Console.error(`error: ${message}`)
    if (verbose) yield* Console.error(Cause.pretty(cause))
    else if (Option.isNone(failure)) yield* Console.error("(run again with --verbose for details)")
  })

const verbose = process.argv.includes("--verbose")
// `--env NAME` on every command (deploy and env take their own): DB_ENV now, the database below.
const envFlag = takeEnvFlag(process.argv.filter((arg) => arg !== "--verbose"))
// `--otlp URL` on every command: its trace goes to that OpenTelemetry collector (tracing.ts).
const otlpFlag = takeFlag(envFlag.argv, "--otlp")
const argv = otlpFlag.rest
if (otlpFlag.value !== undefined) {
  process.env.OTEL_EXPORTER_OTLP_ENDPOINT = otlpFlag.value
  delete process.env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT
}

/**
 * Log lines for people, on stderr only and once each: "warning: applied migrations missing from
 * the source: 0009_gone" — the level, then the message, then any annotations as key=value.
 * stdout is left to a command's result (`--json` output always parses).
 */
const humanLogger = Logger.make(({ annotations, logLevel, message }) => {
  const parts = (Array.isArray(message) ? message : [message]).map((m) => typeof m === "string" ? m : JSON.stringify(m))
  const level = logLevel._tag === "Warning"
    ? "warning"
    : logLevel._tag === "Fatal"
    ? "error"
    : logLevel.label.toLowerCase()
  const extra = [...HashMap.entries(annotations)].map(([key, value]) =>
    ` ${key}=${typeof value === "string" ? value : JSON.stringify(value)}`
  )
  return `${level}: ${parts.join(" ")}${extra.join("")}`
})

const LoggerLive = Layer.merge(
  Logger.replace(Logger.defaultLogger, Logger.withConsoleError(humanLogger)),
  Logger.minimumLogLevel(verbose ? LogLevel.Debug : LogLevel.Warning)
)

// Help, and command lines @effect/cli would answer with "Invalid subcommand …", are read here
// first (help.ts): the help from the command definitions, the errors with a suggestion, exit 2.
{
  const args = argv.slice(2)
  const shell = args[args.indexOf("--completions") + 1]
  if (args.includes("--completions") && (shell === "bash" || shell === "zsh")) {
    process.stdout.write(Help.bashCompletion(dbkit, shell))
    process.exit(ExitCode.ok)
  }
  if (!args.includes("--completions") && !args.includes("--version")) {
    const words = args.filter((arg) => !arg.startsWith("-"))
    if (args.length === 0 || args.includes("--help") || args.includes("-h")) {
      const { path } = Help.resolve(dbkit, words)
      process.stdout.write(`${path.length === 0 ? Help.rootHelp(dbkit, pkg.version) : Help.commandHelp(dbkit, path)}\n`)
      process.exit(ExitCode.ok)
    }
    const problem = Help.unknownInput(dbkit, args)
    if (problem !== undefined) {
      process.stderr.write(`error: ${problem}\n`)
      process.exit(ExitCode.usage)
    }
  }
}

/** Colour only on a terminal, and never with NO_COLOR set (https://no-color.org) or TERM=dumb. */
const colour = process.stderr.isTTY === true && !process.env.NO_COLOR && process.env.TERM !== "dumb"

/**
 * @effect/cli reports a command line it cannot parse (a missing argument, a value of the wrong
 * type) on stderr before any handler runs: that report gets dbkit's `error:` prefix, and loses
 * its colour codes off a terminal. Handlers' own stderr is left alone.
 */
const withParseErrors = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.flatMap(Effect.console, (base) =>
    Effect.withConsole(effect, {
      ...base,
      error: (...args: ReadonlyArray<unknown>) => {
        if (handlerStarted.value || args.length !== 1 || typeof args[0] !== "string") return base.error(...args)
        const text = colour ? args[0] : args[0].replace(/\x1b\[[0-9;]*m/g, "")
        return base.error(/^\s*error:/.test(text) ? text : `error: ${text.trim()}`)
      }
    }))

/**
 * With an OTLP endpoint (`--otlp`, OTEL_EXPORTER_OTLP_ENDPOINT, possibly from a .env file) the
 * command runs as the root span `dbkit <command>` and its trace is exported before the process
 * ends; without one, tracing.ts is never loaded.
 */
const traced = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.suspend(() => {
    const url = endpointOf(process.env)
    if (url === undefined) return effect
    const words = argv.slice(2).filter((arg) => !arg.startsWith("-"))
    const name = ["dbkit", ...Help.resolve(dbkit, words).path].join(" ")
    return Effect.flatMap(Effect.promise(() => import("./tracing.js")), (m) => m.traceCommand(effect, name, url))
  })

const program = Effect.suspend(() =>
  Effect.all([
    needsProjectConfig(argv) ? applyProjectConfig(argv) : Effect.void,
    envFlag.env === undefined ? Effect.void : selectDatabase(envFlag.env)
  ]).pipe(
    Effect.zipRight(needsProjectConfig(argv) ? OpensNothing.check(argv) : Effect.void),
    Effect.zipRight(withParseErrors(cli(argv)))
  )
).pipe(
  traced,
  Effect.tapErrorCause(report(verbose)),
  // A project's seeds and privacy map are built with the project's own copy of effect, and run
  // on the runtime bundled into this CLI by design: a minor-version difference is expected, not
  // something for the user to dedupe.
  Effect.locally(FiberRef.versionMismatchErrorLogLevel, Option.none()),
  // What @effect/cli itself needs; each command's own wiring provides the rest (child processes
  // and so on), so starting the CLI does not load them.
  Effect.provide(Layer.mergeAll(NodeFileSystem.layer, NodePath.layer, NodeTerminal.layer, LoggerLive))
)

/**
 * Ends the process with `code` once stdout and stderr have flushed. Left to itself, Node would
 * first wait for V8's background work (optimising compiles begun during the run) to finish:
 * tens of milliseconds on a busy machine, for nothing. This is the one place the exit code is
 * set: handlers end with a result or a typed error (exitCodes.ts maps it).
 */
const exitWhenFlushed = (code: number) => {
  process.exitCode = code
  let pending = 2
  const flushed = () => {
    if (--pending === 0) process.exit()
  }
  process.stdout.write("", flushed)
  process.stderr.write("", flushed)
}

if (envFlag.env !== undefined) {
  const refused = applyEnvName(envFlag.env)
  if (refused !== undefined) {
    process.stderr.write(`error: ${refused.message}\n`)
    process.exit(ExitCode.usage)
  }
}

// .env and .env.<environment> beside the config, before anything reads a variable (the shell's win).
try {
  loadEnvFiles()
} catch (error) {
  process.stderr.write(
    `error: cannot read the .env files in ${projectDir()}: ${error instanceof Error ? error.message : String(error)}\n`
  )
  process.exit(ExitCode.usage)
}

NodeRuntime.runMain(program, {
  disableErrorReporting: true,
  // LoggerLive's logger on stderr is the one: runMain's pretty logger printed each warning a
  // second time, on stdout (into --json output).
  disablePrettyLogger: true,
  teardown: (exit) => exitWhenFlushed(exitCodeOf(exit))
})
