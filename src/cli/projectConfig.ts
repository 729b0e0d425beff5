/**
 * The project's dbkit.config.* as every command's configuration: its `migrationsDir` and
 * `backupDir` become DBKIT_MIGRATIONS_DIR and DBKIT_BACKUP_DIR (resolved against the file's
 * folder) unless those variables are set, so `dbkit migrate` in a project whose migrations live
 * in `db/drizzle` finds them. A config that cannot be loaded, or has a bad field, is
 * InvalidConfig naming the file and the field (exit 2), before any command opens a database.
 * Without a config file nothing changes. `deploy`, `env` and `init` read the file themselves.
 */
import * as Effect from "effect/Effect"
import type { InvalidConfig } from "../Config.js"

const readsItself = new Set(["deploy", "env", "init"])

/** Whether this command line needs the project's config before it runs (not for --help or --version). */
export const needsProjectConfig = (argv: ReadonlyArray<string>): boolean => {
  const args = argv.slice(2)
  if (args.some((arg) => arg === "--help" || arg === "-h" || arg === "--version" || arg === "--wizard" || arg === "--completions")) return false
  const command = args.find((arg) => !arg.startsWith("-"))
  return command !== undefined && !readsItself.has(command)
}

/** Sets DBKIT_MIGRATIONS_DIR and DBKIT_BACKUP_DIR from the config file, where unset. */
export const applyProjectConfig = (env: NodeJS.ProcessEnv = process.env): Effect.Effect<void, InvalidConfig> =>
  Effect.gen(function*() {
    if (env.DBKIT_MIGRATIONS_DIR?.trim() && env.DBKIT_BACKUP_DIR?.trim()) return
    const DeployConfig = yield* Effect.promise(() => import("../deploy/config.js"))
    const file = yield* DeployConfig.findConfigFile(process.cwd(), env)
    if (file === null) return
    const config = yield* DeployConfig.load({ env })
    if (!env.DBKIT_MIGRATIONS_DIR?.trim()) env.DBKIT_MIGRATIONS_DIR = config.migrationsDir
    if (!env.DBKIT_BACKUP_DIR?.trim()) env.DBKIT_BACKUP_DIR = config.backupDir
  })
