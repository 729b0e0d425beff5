/**
 * `dbkit reset`: back to a known state (hard: drop and re-migrate; --soft: empty the tables),
 * guarded by DB_RESET_CONFIRM / --yes (production also DB_RESET_ALLOW_PRODUCTION). The
 * definition; the handler (handlers.ts) loads when it runs.
 */
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import { lazy } from "../lazy.js"
import { jsonOption, yesOption } from "../options.js"

export const resetConfig = {
  soft: Options.boolean("soft").pipe(
    Options.withDescription("Empty the application tables and restart identities instead of dropping and re-migrating")
  ),
  hard: Options.boolean("hard").pipe(
    Options.withDescription("Drop the application schemas and migrate from scratch (the default)")
  ),
  seed: Options.boolean("seed").pipe(Options.withDescription("Run the seeds for the environment afterwards")),
  withCache: Options.boolean("with-cache").pipe(
    Options.withDescription(
      "Also delete the cache keys under DB_CACHE_PREFIX in REDIS_URL (SCAN + UNLINK, never FLUSHALL)"
    )
  ),
  noSafetyBackup: Options.boolean("no-safety-backup").pipe(
    Options.withDescription("Skip the safety backup taken outside development")
  ),
  yes: yesOption,
  json: jsonOption
}

export const reset = Command.make(
  "reset",
  resetConfig,
  (options) => lazy(() => import("./handlers.js"), (m) => m.reset(options))
).pipe(
  Command.withDescription(
    "Reset the database (guarded): --hard (default) drops and re-migrates, --soft empties the tables; --seed reseeds; safety backup outside development"
  )
)
