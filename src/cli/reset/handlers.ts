/**
 * Handler of `dbkit reset` (definition in index.ts).
 */
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import { Reset } from "../../reset/Reset.js"
import { GuardLive } from "../live.js"
import type { Parsed } from "../options.js"
import { banner, json } from "../render.js"
import { plural } from "../shared.js"
import type { resetConfig } from "./index.js"
import { ResetLive } from "./live.js"

export const reset = (options: Parsed<typeof resetConfig>) =>
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
