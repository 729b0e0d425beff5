/**
 * `.env` and `.env.<environment>` beside the project's config (the working directory, or the
 * folder of `DBKIT_CONFIG`), read the way Node's own `--env-file` reads them (`util.parseEnv`).
 * The shell's variables win; `.env.<environment>` wins over `.env`. The environment that picks
 * the second file is the shell's DB_ENV, else its NODE_ENV, else what `.env` says of either,
 * else development. Loaded once, when the CLI starts, into `process.env`, so every door that
 * reads configuration (effect/Config, dbkit.config.ts's `urlEnv`s) sees the same values; where
 * each value came from is kept for `dbkit env list`. Values are never printed.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import * as util from "node:util"

/** Where a variable's value came from: the shell, or the file (`.env`, `.env.staging`). */
export type EnvSource = "shell" | `.env${string}`

export interface EnvFilesLoaded {
  /** The files read, in the order they were applied (later ones lose to earlier ones' absence only). */
  readonly files: ReadonlyArray<string>
  /** The variables set from a file, by name: which file. */
  readonly fromFiles: Readonly<Record<string, EnvSource>>
}

let loaded: EnvFilesLoaded = { files: [], fromFiles: {} }

/** What `loadEnvFiles` did in this process. */
export const envFiles = (): EnvFilesLoaded => loaded

/** Where `name`'s value came from: a file that set it, the shell, or nowhere (unset). */
export const sourceOf = (name: string, env: NodeJS.ProcessEnv = process.env): EnvSource | undefined =>
  loaded.fromFiles[name] ?? (env[name] !== undefined ? "shell" : undefined)

// Node 20.12+ exposes its --env-file parser; an older 20.x gets the same rules for the common cases.
const parse = (text: string): Record<string, string> => {
  const parseEnv = (util as unknown as { parseEnv?: (content: string) => Record<string, string> }).parseEnv
  if (parseEnv !== undefined) return parseEnv(text)
  const out: Record<string, string> = {}
  for (const line of text.split(/\r?\n/)) {
    const match = /^\s*(?:export\s+)?([\w.-]+)\s*=\s*(.*)?\s*$/.exec(line)
    if (!match) continue
    let value = (match[2] ?? "").trim()
    const quote = value[0]
    if ((quote === "\"" || quote === "'" || quote === "`") && value.endsWith(quote) && value.length >= 2) {
      value = value.slice(1, -1)
      if (quote === "\"") value = value.replace(/\\n/g, "\n")
    } else {
      value = value.replace(/\s+#.*$/, "")
    }
    out[match[1]!] = value
  }
  return out
}

const read = (file: string): Record<string, string> | undefined => {
  try {
    return parse(fs.readFileSync(file, "utf8"))
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT" || (error as NodeJS.ErrnoException).code === "EISDIR") {
      return undefined
    }
    throw error
  }
}

/** The folder whose `.env` files count: the config's (DBKIT_CONFIG), else the working directory. */
export const projectDir = (env: NodeJS.ProcessEnv = process.env): string =>
  env.DBKIT_CONFIG ? path.dirname(path.resolve(env.DBKIT_CONFIG)) : process.cwd()

/**
 * Reads `.env` and `.env.<environment>` in `dir` into `env` (default: process.env) without
 * overriding anything already set there. `DBKIT_ENV_FILES=0` turns it off.
 */
export const loadEnvFiles = (dir: string = projectDir(), env: NodeJS.ProcessEnv = process.env): EnvFilesLoaded => {
  if (env.DBKIT_ENV_FILES === "0") return (loaded = { files: [], fromFiles: {} })
  const base = read(path.join(dir, ".env"))
  const environment = (env.DB_ENV ?? env.NODE_ENV ?? base?.DB_ENV ?? base?.NODE_ENV ?? "development").trim()
    .toLowerCase()
  const specific = /^[a-z][a-z0-9_-]*$/.test(environment) ? read(path.join(dir, `.env.${environment}`)) : undefined
  const files: Array<string> = []
  const fromFiles: Record<string, EnvSource> = {}
  // The specific file first: its values win over .env's; the shell's win over both.
  for (const [name, values] of [[`.env.${environment}`, specific], [".env", base]] as const) {
    if (values === undefined) continue
    files.push(name)
    for (const [key, value] of Object.entries(values)) {
      if (env[key] !== undefined) continue
      env[key] = value
      fromFiles[key] = name as EnvSource
    }
  }
  return (loaded = { files: files.reverse(), fromFiles })
}
