/**
 * `--env NAME` on every command: the environment from dbkit.config.ts to run against. It sets
 * DB_ENV (so guards, defaults and `.env.NAME` follow it) and takes the database from that
 * environment's `urlEnv` — in staging and production from that variable only, never from a
 * DATABASE_URL the shell happens to hold, and a missing or empty one is InvalidConfig naming it
 * (exit 2). `deploy` and `env` take `--env` themselves and are left alone.
 */
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import { type Environment, InvalidConfig, parseEnvironment, requiresServer } from "../Config.js"

/** Commands whose own `--env` option means the same and that resolve it themselves. */
const ownsEnvFlag = new Set(["deploy", "env"])

/**
 * Takes `--env NAME` / `--env=NAME` out of `argv` (the node and script paths first, as
 * process.argv), unless the command is one that owns it. Stops at `--`.
 */
export const takeEnvFlag = (
  argv: ReadonlyArray<string>
): { readonly argv: Array<string>; readonly env: string | undefined } => {
  const command = argv.slice(2).find((arg) => !arg.startsWith("-"))
  if (command !== undefined && ownsEnvFlag.has(command)) return { argv: [...argv], env: undefined }
  const { rest, value } = takeFlag(argv, "--env")
  return { argv: rest, env: value }
}

/**
 * Takes `FLAG VALUE` / `FLAG=VALUE` out of `argv` (the node and script paths first); the last one
 * given wins. Stops at `--`. For flags every command takes (`--env`, `--otlp`).
 */
export const takeFlag = (
  argv: ReadonlyArray<string>,
  flag: string
): { readonly rest: Array<string>; readonly value: string | undefined } => {
  const rest: Array<string> = []
  let value: string | undefined
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    if (arg === "--") {
      rest.push(...argv.slice(i))
      break
    }
    if (i >= 2 && arg === flag) {
      value = argv[++i] ?? ""
      continue
    }
    if (i >= 2 && arg.startsWith(`${flag}=`)) {
      value = arg.slice(flag.length + 1)
      continue
    }
    rest.push(arg)
  }
  return { rest, value }
}

/** Checks the name and sets DB_ENV to it, before the .env files are read (`.env.NAME` follows it). */
export const applyEnvName = (name: string, env: NodeJS.ProcessEnv = process.env): InvalidConfig | undefined => {
  const parsed = parseEnvironment(name)
  if (Either.isLeft(parsed)) return new InvalidConfig({ variable: "--env", reason: parsed.left })
  env.DB_ENV = parsed.right
  return undefined
}

/**
 * Points DATABASE_URL at the environment's database, from its `urlEnv` in dbkit.config.ts: what
 * every command's configuration (effect/Config) then reads.
 */
export const selectDatabase = (
  name: string,
  env: NodeJS.ProcessEnv = process.env
): Effect.Effect<void, InvalidConfig> =>
  Effect.gen(function*() {
    const DeployConfig = yield* Effect.promise(() => import("../ProjectConfig.js"))
    const environment = name.trim().toLowerCase() as Environment
    const strict = requiresServer(environment)
    // Staging and production: the environment's own variable only (a shell's DATABASE_URL may be another's).
    const view: NodeJS.ProcessEnv = strict ? { ...env, DATABASE_URL: undefined } : env
    const config = yield* DeployConfig.load({ env: view })
    const settings = config.environments[environment]
    if (Option.isSome(settings.url)) {
      env.DATABASE_URL = Redacted.value(settings.url.value)
      return
    }
    if (strict) {
      const set = env[settings.urlEnv] !== undefined
      return yield* new InvalidConfig({
        variable: settings.urlEnv,
        reason: `is ${
          set ? "set but empty" : "not set"
        }; it holds the ${environment} database's URL (--env ${environment}), and dbkit never uses the embedded database in ${environment}`
      })
    }
    // development / test without a URL of their own: the embedded database, unless DATABASE_URL says otherwise.
  })
