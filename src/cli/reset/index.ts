/**
 * `dbkit reset`: back to a known state (hard: drop and re-migrate; --soft: empty the tables),
 * guarded by DB_RESET_CONFIRM / --yes (production also DB_RESET_ALLOW_PRODUCTION).
 */
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import { Reset } from "../../backup/Reset.js"
import { GuardLive, ResetLive } from "../live.js"
import { banner, json } from "../render.js"
import { jsonOption, plural, yesOption } from "../shared.js"

export const reset = Command.make(
  "reset",
  {
    soft: Options.boolean("soft").pipe(Options.withDescription("Empty the application tables and restart identities instead of dropping and re-migrating")),
    hard: Options.boolean("hard").pipe(Options.withDescription("Drop the application schemas and migrate from scratch (the default)")),
    seed: Options.boolean("seed").pipe(Options.withDescription("Run the seeds for the environment afterwards")),
    withCache: Options.boolean("with-cache").pipe(Options.withDescription("Also delete the cache keys under DB_CACHE_PREFIX in REDIS_URL (SCAN + UNLINK, never FLUSHALL)")),
    noSafetyBackup: Options.boolean("no-safety-backup").pipe(Options.withDescription("Skip the safety backup taken outside development")),
    yes: yesOption,
    json: jsonOption
  },
  (options) =>
    Effect.gen(function*() {
      const service = yield* Reset
      const mode = options.soft && !options.hard ? "soft" : "hard"
      yield* banner(`reset --${mode}`)
      const result = yield* service.reset({
        mode,
        seed: options.seed,
        yes: options.yes,
        withCache: options.withCache,
        ...(options.noSafetyBackup ? { safetyBackup: false } : {})
      })
      if (options.json) return yield* json(result)
      if (result.safetyBackup) yield* Console.log(`safety backup: ${result.safetyBackup}`)
      yield* Console.log(
        mode === "hard"
          ? `dropped ${result.cleared.join(", ")}; ${plural(result.migrated.length, "migration")} applied`
          : `emptied ${plural(result.cleared.length, "table")}, identities restarted`
      )
      if (options.seed) yield* Console.log(`${plural(result.seeded, "seed")} ran`)
      if (result.cacheKeysDeleted !== null) yield* Console.log(`${plural(result.cacheKeysDeleted, "cache key")} deleted`)
    }).pipe(Effect.provide(ResetLive), Effect.provide(GuardLive))
).pipe(Command.withDescription("Reset the database (guarded): --hard (default) drops and re-migrates, --soft empties the tables; --seed reseeds; safety backup outside development"))
