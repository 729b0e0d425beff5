/**
 * `dbkit restore FILE --into NAME`: restore a verified backup into a new database;
 * `--validate-only`: verify the file and touch no database.
 */
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { InvalidBackupOptions } from "../../backup/Backup.js"
import { Restore } from "../../backup/Restore.js"
import { RestoreLive } from "../live.js"
import { banner, bytes, json } from "../render.js"
import { jsonOption } from "../shared.js"

export const restore = Command.make(
  "restore",
  {
    file: Args.file({ name: "file", exists: "yes" }).pipe(Args.withDescription("A dbkit backup (its manifest is FILE.json)")),
    into: Options.text("into").pipe(Options.optional, Options.withDescription("Restore into this new database on the same server")),
    validateOnly: Options.boolean("validate-only").pipe(Options.withDescription("Verify the file (checksum, key, decryption, decompression) and touch no database")),
    json: jsonOption
  },
  (options) =>
    Effect.gen(function*() {
      const service = yield* Restore
      if (options.validateOnly) {
        const result = yield* service.validate(options.file)
        if (options.json) return yield* json(result)
        return yield* Console.log(`${options.file}: valid (${bytes(result.dumpBytes)} of SQL${result.decrypted ? ", decrypted and authenticated" : ""}); no database was touched`)
      }
      const into = yield* Option.match(options.into, {
        onNone: () => Effect.fail(new InvalidBackupOptions({ reason: "say where to restore: --into NEWDB (or --validate-only)" })),
        onSome: Effect.succeed
      })
      yield* banner(`restore --into ${into}`)
      const result = yield* service.into(options.file, into)
      if (options.json) return yield* json(result)
      yield* Console.log(`restored into ${result.database}: ${result.tables} tables, ${result.rows.toLocaleString("en-US")} rows, counts match the manifest`)
    }).pipe(Effect.provide(RestoreLive))
).pipe(Command.withDescription("Restore a verified backup into a new database (--into), or only verify it (--validate-only); a failed restore leaves nothing behind"))
