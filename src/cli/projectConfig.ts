/**
 * The project's dbkit.config.* as every command's configuration, checked before any command
 * opens a database: a config that cannot be loaded, has a bad field, or names a module that is
 * missing or exports the wrong shape is InvalidConfig naming the file and the field (exit 2).
 *
 * Its `migrationsDir` and `backupDir` become DBKIT_MIGRATIONS_DIR and DBKIT_BACKUP_DIR (resolved
 * against the file's folder) unless those variables are set, so `dbkit migrate` in a project
 * whose migrations live in `db/drizzle` finds them. The modules a command runs (seeds for
 * `seed`, the personal-data map for `privacy`) are loaded here too, once: the command's layers
 * reuse them. `deploy`, `env` and `init` read the file themselves.
 *
 * The selected environment's `pitr` block (`--env`, DB_ENV) becomes the DBKIT_PGBACKREST_*
 * variables that are unset, checked as physical backups check them: a stanza or path they would
 * refuse is InvalidConfig naming the field.
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as path from "node:path"
import * as PitrSettings from "../backup/physical/settings.js"
import { InvalidConfig } from "../Config.js"
import type { EnvironmentSettings } from "../ProjectConfigSettings.js"

const readsItself = new Set(["deploy", "env", "init"])

const words = (argv: ReadonlyArray<string>) => argv.slice(2).filter((arg) => !arg.startsWith("-"))

/** Whether this command line needs the project's config before it runs (not for --help or --version). */
export const needsProjectConfig = (argv: ReadonlyArray<string>): boolean => {
  const args = argv.slice(2)
  if (
    args.some((arg) =>
      arg === "--help" || arg === "-h" || arg === "--version" || arg === "--wizard" || arg === "--completions"
    )
  ) return false
  const command = words(argv)[0]
  return command !== undefined && !readsItself.has(command)
}

/** Sets the DBKIT_PGBACKREST_* variables an environment's `pitr` block stands for, where unset, after checking them. */
export const applyPitr = (
  environment: EnvironmentSettings,
  file: string | null,
  env: NodeJS.ProcessEnv = process.env
): Effect.Effect<void, InvalidConfig> =>
  Effect.gen(function*() {
    if (environment.pitr === undefined) return
    const variables = PitrSettings.variablesOf(environment.pitr)
    // The file's values as physical backups would read them (variables aside): refused here, with the field named.
    yield* PitrSettings.check({
      stanza: environment.pitr.stanza,
      configFile: environment.pitr.configFile,
      repoPath: environment.pitr.repoPath,
      runAs: environment.pitr.user,
      binDir: environment.pitr.binDir,
      cipherPass: undefined
    }).pipe(Effect.mapError((refused) =>
      new InvalidConfig({
        variable: `${file === null ? "dbkit.config.ts" : path.basename(file)}: environments.${environment.name}.pitr.${
          PitrSettings.fieldOf[refused.variable] ?? "stanza"
        }`,
        reason: refused.reason
      })
    ))
    for (const [name, value] of Object.entries(variables)) {
      if (!env[name]?.trim()) env[name] = value
    }
  })

/** Loads and checks the project; sets DBKIT_MIGRATIONS_DIR and DBKIT_BACKUP_DIR from it where unset. */
export const applyProjectConfig = (
  argv: ReadonlyArray<string> = process.argv,
  env: NodeJS.ProcessEnv = process.env
): Effect.Effect<void, InvalidConfig> =>
  Effect.gen(function*() {
    const Project = yield* Effect.promise(() => import("../Project.js"))
    const project = yield* Project.load({ env })
    if (!env.DBKIT_MIGRATIONS_DIR?.trim()) env.DBKIT_MIGRATIONS_DIR = project.migrationsDir
    if (!env.DBKIT_BACKUP_DIR?.trim()) env.DBKIT_BACKUP_DIR = project.backupDir
    // The selected environment; an unknown name is left for the command's own configuration to report.
    const ProjectConfig = yield* Effect.promise(() => import("../ProjectConfig.js"))
    const selected = yield* Effect.option(ProjectConfig.currentEnvironment(env))
    if (Option.isSome(selected)) yield* applyPitr(project.environments[selected.value], project.file, env)
    const [command, sub] = words(argv)
    if (command === "seed" || (command === "reset" && argv.includes("--seed"))) yield* Project.requiredSeeds(project)
    if (command === "privacy" && sub !== undefined) yield* Project.privacyMap(project)
  })
