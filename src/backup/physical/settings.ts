/**
 * Which pgBackRest dbkit drives, read from the environment (through effect's ConfigProvider):
 *
 * - DBKIT_PGBACKREST_STANZA   the stanza (required)
 * - DBKIT_PGBACKREST_CONFIG   pgBackRest's config file (default: pgBackRest's own, /etc/pgbackrest/pgbackrest.conf)
 * - DBKIT_PGBACKREST_REPO_PATH  repo1-path, overriding the config file's
 * - DBKIT_PGBACKREST_USER     the system user pgBackRest and pg_ctl run as (`runuser -u USER`, when dbkit runs as root)
 * - DBKIT_PG_BINDIR           where pg_ctl is (default /usr/lib/postgresql/<server major>/bin, else PATH)
 * - PGBACKREST_REPO1_CIPHER_PASS  the repository's cipher key: handed to pgBackRest in its environment, never argv
 */
import * as Config from "effect/Config"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
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
const plainPath = /^\/[^\0\n'"]*$/

const optional = (name: string) => Config.option(Config.string(name)).pipe(Config.map(Option.getOrUndefined))

const raw = Config.all({
  stanza: optional("DBKIT_PGBACKREST_STANZA"),
  configFile: optional("DBKIT_PGBACKREST_CONFIG"),
  repoPath: optional("DBKIT_PGBACKREST_REPO_PATH"),
  runAs: optional("DBKIT_PGBACKREST_USER"),
  binDir: optional("DBKIT_PG_BINDIR"),
  cipherPass: Config.option(Config.redacted("PGBACKREST_REPO1_CIPHER_PASS")).pipe(Config.map(Option.getOrUndefined))
})

/** Validates settings given by a program (or read from the environment). */
export const check = (settings: PitrSettings): Effect.Effect<PitrSettings, PitrNotConfigured> => {
  const fail = (variable: string, reason: string) => Effect.fail(new PitrNotConfigured({ variable, reason }))
  if (settings.stanza === undefined || settings.stanza === "") {
    return fail(
      "DBKIT_PGBACKREST_STANZA",
      "is not set: name the pgBackRest stanza of this database (e.g. DBKIT_PGBACKREST_STANZA=main), then run `dbkit pitr setup`"
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
      return fail(variable, "must be an absolute path without quotes or newlines")
    }
  }
  if (settings.runAs !== undefined && !plainName.test(settings.runAs)) {
    return fail("DBKIT_PGBACKREST_USER", "must be a system user name")
  }
  return Effect.succeed(settings)
}

/** The settings from the environment, checked. */
export const fromEnvironment: Effect.Effect<PitrSettings, PitrNotConfigured> = Effect.flatMap(
  Effect.mapError(
    raw,
    (error) => new PitrNotConfigured({ variable: "DBKIT_PGBACKREST_*", reason: `could not be read: ${error}` })
  ),
  (settings) => check({ ...settings, stanza: settings.stanza ?? "" })
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
