/**
 * Commands that only read must not create what they would read. Without this, `dbkit migrate
 * status` on a fresh clone ran initdb (about 10 s) to report an empty embedded database it had
 * just made, and a mistyped migrations folder was found only after that.
 *
 * Checked after the environment has chosen the database, before any command opens one:
 * - every `migrate` command but `new` needs its migrations folder (exit 2, as the Migrator says);
 * - read-only commands on the embedded database need it to exist already (exit 3, saying that
 *   `dbkit migrate` creates it).
 */
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { parseEnvironment, requiresServer } from "../Config.js"
import { MigrationSourceError } from "../migrator/errors.js"

/** Read-only commands on the embedded database that does not exist yet (exit 3). */
export class EmbeddedDatabaseMissing extends Data.TaggedError("EmbeddedDatabaseMissing")<{ readonly dataDir: string }> {
  override get message() {
    return `there is no embedded database at ${this.dataDir} yet: \`dbkit migrate\` creates it (or set DATABASE_URL to use a server)`
  }
}

/** Command paths that read and change nothing. */
const readOnly = new Set([
  "migrate status",
  "migrate verify",
  "migrate plan",
  "seed list",
  "seed validate",
  "db stats",
  "db validate",
  "tenant list",
  "audit report",
  "privacy map",
  "privacy verify-encryption",
  "health"
])

/** The command words of a command line (options and their values left out as far as they can be). */
const pathOf = (argv: ReadonlyArray<string>) => argv.slice(2).filter((arg) => !arg.startsWith("-")).slice(0, 2)

export const check = (
  argv: ReadonlyArray<string>,
  env: NodeJS.ProcessEnv = process.env
): Effect.Effect<void, EmbeddedDatabaseMissing | MigrationSourceError> =>
  Effect.suspend((): Effect.Effect<void, EmbeddedDatabaseMissing | MigrationSourceError> => {
    const [command, sub] = pathOf(argv)
    // Staging and production without a server URL: their own refusal (exit 2, naming the
    // variable) comes first, whatever else is wrong.
    const environment = parseEnvironment(env.DB_ENV ?? env.NODE_ENV ?? "development")
    const needsServer = environment._tag === "Right" && requiresServer(environment.right)
    if (needsServer && !env.DATABASE_URL?.trim()) return Effect.void
    if (command === "migrate" && sub !== "new") {
      const dir = path.resolve(env.DBKIT_MIGRATIONS_DIR?.trim() || "migrations")
      if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) {
        return Effect.fail(new MigrationSourceError({ path: dir, reason: "is not a directory" }))
      }
    }
    const isReadOnly = readOnly.has(`${command} ${sub}`) ||
      (command === "health" && (sub === undefined || sub !== "serve"))
    if (!isReadOnly || env.DATABASE_URL?.trim() || environment._tag === "Left" || needsServer) return Effect.void
    const dataDir = env.DBKIT_DATA_DIR?.trim() || ".dbkit/pglite"
    if (dataDir.startsWith("memory://") || fs.existsSync(path.join(dataDir, "PG_VERSION"))) return Effect.void
    return Effect.fail(new EmbeddedDatabaseMissing({ dataDir }))
  })
