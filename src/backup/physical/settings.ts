/**
 * Which pgBackRest dbkit drives, read from the environment (through effect's ConfigProvider):
 *
 * - DBKIT_PGBACKREST_STANZA   the stanza (required)
 * - DBKIT_PGBACKREST_CONFIG   pgBackRest's config file (default: pgBackRest's own, /etc/pgbackrest/pgbackrest.conf)
 * - DBKIT_PGBACKREST_REPO_PATH  repo1-path, overriding the config file's
 * - DBKIT_PGBACKREST_USER     the system user pgBackRest and pg_ctl run as (`runuser -u USER`, when dbkit runs as root)
 * - DBKIT_PG_BINDIR           where pg_ctl is (default /usr/lib/postgresql/<server major>/bin, else PATH)
 * - PGBACKREST_REPO1_CIPHER_PASS  the repository's cipher key: handed to pgBackRest in its environment, never argv
 * - DBKIT_PGBACKREST_CIPHER_PASS_ENV  the name of another variable holding that key (used when the one above is unset)
 *
 * An environment's `pitr` block in dbkit.config.* stands for the same settings (`variablesOf`);
 * a variable that is set wins over the file. The file names the key's variable, never the key.
 */
import * as Config from "effect/Config"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import type { PitrInput } from "../../ProjectConfigSchema.js"
import { PitrNotConfigured } from "./errors.js"

export interface PitrSettings {
  readonly stanza: string
  readonly configFile: string | undefined
  readonly repoPath: string | undefined
  readonly runAs: string | undefined
  readonly binDir: string | undefined
  readonly cipherPass: Redacted.Redacted<string> | undefined
}

/** Names pgBackRest and a shell take without quoting. */
const plainName = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/
/**
 * Absolute paths of letters, digits and `_ . / + -` only: they go into archive_command, which the server
 * runs through a shell — a space, `;`, `$(…)` or `%` there would break archiving or run something else.
 */
const plainPath = /^\/[A-Za-z0-9_.\/+-]*$/

const optional = (name: string) => Config.option(Config.string(name)).pipe(Config.map(Option.getOrUndefined))

const raw = Config.all({
  stanza: optional("DBKIT_PGBACKREST_STANZA"),
  configFile: optional("DBKIT_PGBACKREST_CONFIG"),
  repoPath: optional("DBKIT_PGBACKREST_REPO_PATH"),
  runAs: optional("DBKIT_PGBACKREST_USER"),
  binDir: optional("DBKIT_PG_BINDIR"),
  cipherPass: Config.option(Config.redacted("PGBACKREST_REPO1_CIPHER_PASS")).pipe(Config.map(Option.getOrUndefined)),
  cipherPassEnv: optional("DBKIT_PGBACKREST_CIPHER_PASS_ENV")
})

/** An environment's `pitr` block of dbkit.config.* (paths already absolute). */
export type PitrFileSettings = typeof PitrInput.Type

/** The variables a `pitr` block stands for: what dbkit reads when the variable itself is unset. */
export const variablesOf = (file: PitrFileSettings): Record<string, string> => {
  const entries: Array<[string, string | undefined]> = [
    ["DBKIT_PGBACKREST_STANZA", file.stanza],
    ["DBKIT_PGBACKREST_CONFIG", file.configFile],
    ["DBKIT_PGBACKREST_REPO_PATH", file.repoPath],
    ["DBKIT_PGBACKREST_USER", file.user],
    ["DBKIT_PG_BINDIR", file.binDir],
    ["DBKIT_PGBACKREST_CIPHER_PASS_ENV", file.cipherPassEnv]
  ]
  return Object.fromEntries(entries.filter((entry): entry is [string, string] => entry[1] !== undefined))
}

/** Which `pitr` field each variable stands for, to name the field when the file's value is refused. */
export const fieldOf: Readonly<Record<string, keyof PitrFileSettings>> = {
  DBKIT_PGBACKREST_STANZA: "stanza",
  DBKIT_PGBACKREST_CONFIG: "configFile",
  DBKIT_PGBACKREST_REPO_PATH: "repoPath",
  DBKIT_PGBACKREST_USER: "user",
  DBKIT_PG_BINDIR: "binDir",
  DBKIT_PGBACKREST_CIPHER_PASS_ENV: "cipherPassEnv"
}

/** Validates settings given by a program (or read from the environment). */
export const check = (settings: PitrSettings): Effect.Effect<PitrSettings, PitrNotConfigured> => {
  const fail = (variable: string, reason: string) => Effect.fail(new PitrNotConfigured({ variable, reason }))
  if (settings.stanza === undefined || settings.stanza === "") {
    return fail(
      "DBKIT_PGBACKREST_STANZA",
      "is not set: name the pgBackRest stanza of this database (DBKIT_PGBACKREST_STANZA=main, or `pitr: { stanza: \"main\" }` in the environment of dbkit.config.ts), then run `dbkit pitr setup`"
    )
  }
  if (!plainName.test(settings.stanza)) {
    return fail("DBKIT_PGBACKREST_STANZA", "must be letters, digits, '_', '.' or '-' (at most 63)")
  }
  for (
    const [variable, value] of [
      ["DBKIT_PGBACKREST_CONFIG", settings.configFile],
      ["DBKIT_PGBACKREST_REPO_PATH", settings.repoPath],
      ["DBKIT_PG_BINDIR", settings.binDir]
    ] as const
  ) {
    if (value !== undefined && !plainPath.test(value)) {
      return fail(
        variable,
        "must be an absolute path of letters, digits and _ . / + - (it goes into the server's archive_command, run by a shell)"
      )
    }
  }
  if (settings.runAs !== undefined && !plainName.test(settings.runAs)) {
    return fail("DBKIT_PGBACKREST_USER", "must be a system user name")
  }
  return Effect.succeed(settings)
}

/** The key from the variable DBKIT_PGBACKREST_CIPHER_PASS_ENV names; that variable must then be set. */
const namedCipherPass = (name: string) =>
  Effect.flatMap(
    Effect.orElseSucceed(Config.option(Config.redacted(name)), () => Option.none<Redacted.Redacted<string>>()),
    Option.match({
      onSome: (pass) => Effect.succeed(pass),
      onNone: () =>
        Effect.fail(
          new PitrNotConfigured({
            variable: name,
            reason:
              "is not set: the pitr settings name it (cipherPassEnv) as the holder of the pgBackRest repository's cipher pass"
          })
        )
    })
  )

/** The settings from the environment, checked. */
export const fromEnvironment: Effect.Effect<PitrSettings, PitrNotConfigured> = Effect.gen(function*() {
  const { cipherPassEnv, ...settings } = yield* Effect.mapError(
    raw,
    (error) => new PitrNotConfigured({ variable: "DBKIT_PGBACKREST_*", reason: `could not be read: ${error}` })
  )
  if (cipherPassEnv !== undefined && !/^[A-Za-z_][A-Za-z0-9_]*$/.test(cipherPassEnv)) {
    return yield* new PitrNotConfigured({
      variable: "DBKIT_PGBACKREST_CIPHER_PASS_ENV",
      reason: "must be a variable name"
    })
  }
  const cipherPass = settings.cipherPass ??
    (cipherPassEnv === undefined ? undefined : yield* namedCipherPass(cipherPassEnv))
  return yield* check({ ...settings, cipherPass, stanza: settings.stanza ?? "" })
})

/** Provides `file`'s values where the current ConfigProvider has none (a variable wins over the file). */
const besideFile = (file: PitrFileSettings | undefined) => <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  file === undefined ? effect : Effect.flatMap(
    Effect.configProviderWith(Effect.succeed),
    (current) =>
      Effect.withConfigProvider(
        effect,
        ConfigProvider.orElse(current, () => ConfigProvider.fromMap(new Map(Object.entries(variablesOf(file)))))
      )
  )

/** The settings from the environment over an environment's `pitr` block of dbkit.config.* (deploy reads it so). */
export const withFile = (file: PitrFileSettings | undefined): Effect.Effect<PitrSettings, PitrNotConfigured> =>
  besideFile(file)(fromEnvironment)

/** Whether a stanza is named at all (a variable, else the file): physical backups are in use. */
export const stanzaNamed = (file?: PitrFileSettings): Effect.Effect<boolean> =>
  besideFile(file)(
    Effect.map(
      Effect.orElseSucceed(Config.option(Config.string("DBKIT_PGBACKREST_STANZA")), () => Option.none<string>()),
      Option.exists((stanza) => stanza.trim() !== "")
    )
  )

/** pgBackRest's options every command takes: config file, repository path, stanza. */
export const commonArgs = (settings: PitrSettings): ReadonlyArray<string> => [
  ...(settings.configFile === undefined ? [] : [`--config=${settings.configFile}`]),
  ...(settings.repoPath === undefined ? [] : [`--repo1-path=${settings.repoPath}`]),
  `--stanza=${settings.stanza}`
]

/** The archive_command that pushes this stanza's WAL (what setup asks the server for). */
export const archiveCommand = (settings: PitrSettings): string =>
  ["pgbackrest", ...commonArgs(settings), "archive-push", "%p"].join(" ")

/** The environment pgBackRest gets besides dbkit's own: the cipher pass, never in argv. */
export const childEnv = (settings: PitrSettings): Record<string, string> =>
  settings.cipherPass === undefined ? {} : { PGBACKREST_REPO1_CIPHER_PASS: Redacted.value(settings.cipherPass) }

/** What must never appear in anything dbkit prints or stores. */
export const secrets = (settings: PitrSettings): ReadonlyArray<string> =>
  settings.cipherPass === undefined ? [] : [Redacted.value(settings.cipherPass)]
