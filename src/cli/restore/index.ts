/**
 * `dbkit restore FILE`: replace the configured database with a verified backup (guarded, safety
 * backup first, atomic: a swap on a server, one transaction on the embedded database);
 * `--into NAME`: into a new database; `--validate-only`: open no database at all.
 */
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { Restore, validateFile } from "../../backup/Restore.js"
import { GuardLive, RestoreLive } from "../live.js"
import { banner, bytes, json } from "../render.js"
import { jsonOption, yesOption } from "../shared.js"

export const restore = Command.make(
  "restore",
  {
    file: Args.file({ name: "file", exists: "yes" }).pipe(Args.withDescription("A dbkit backup (its manifest is FILE.json)")),
    into: Options.text("into").pipe(Options.optional, Options.withDescription("Restore into this new database on the same server (not on the embedded database, which holds one)")),
    validateOnly: Options.boolean("validate-only").pipe(Options.withDescription("Verify the file (checksum, key, decryption, decompression) and touch no database")),
    yes: yesOption,
    noSafetyBackup: Options.boolean("no-safety-backup").pipe(Options.withDescription("Skip the backup of the database being replaced (on a server it is then kept under a _previous_ name; on the embedded database it is gone)")),
    terminateConnections: Options.boolean("terminate-connections").pipe(Options.withDescription("Disconnect other sessions on the database instead of refusing")),
    json: jsonOption
  },
  (options) =>
    options.validateOnly
      ? Effect.gen(function*() {
        const result = yield* validateFile(options.file)
        if (options.json) return yield* json(result)
        return yield* Console.log(`${options.file}: valid (${bytes(result.dumpBytes)} of SQL${result.decrypted ? ", decrypted and authenticated" : ""}); no database was touched`)
      })
      : Effect.gen(function*() {
        const service = yield* Restore
        if (Option.isSome(options.into)) {
          yield* banner(`restore --into ${options.into.value}`)
          const result = yield* service.into(options.file, options.into.value)
          if (options.json) return yield* json(result)
          return yield* Console.log(`restored into ${result.database}: ${result.tables} tables, ${result.rows.toLocaleString("en-US")} rows, counts match the manifest`)
        }
        yield* banner("restore")
        const result = yield* service.over(options.file, { yes: options.yes, safetyBackup: !options.noSafetyBackup, terminateConnections: options.terminateConnections })
        if (options.json) return yield* json(result)
        yield* Console.log(`restored ${result.database} from ${options.file}: ${result.tables} tables, ${result.rows.toLocaleString("en-US")} rows, counts match the manifest`)
        if (result.safetyBackup) yield* Console.log(`  the replaced database was backed up to ${result.safetyBackup}`)
        if (result.previous) yield* Console.log(`  the replaced database is kept as ${result.previous} (drop it when you are sure)`)
        if (result.rolesCreated.length > 0) yield* Console.log(`  created the missing role(s) ${result.rolesCreated.join(", ")} (NOLOGIN) that the backup grants to`)
      }).pipe(Effect.provide(RestoreLive), Effect.provide(GuardLive))
).pipe(
  Command.withDescription(
    "Restore a verified backup over the configured database (guarded: DB_RESTORE_CONFIRM=1 or --yes; production also DB_RESTORE_ALLOW_PRODUCTION=1; safety backup first; atomic: a swap on a server, one transaction on the embedded database), into a new database on the server (--into), or only verify it without opening a database (--validate-only)"
  )
)
