/**
 * `seed list`: the declared seeds in dependency order, each with its last recorded run.
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { ordered, type SeederContext } from "./context.js"
import { readHistory } from "./history.js"
import type { PreviousRun } from "./run.js"
import { onceOf, type Profile } from "./seed.js"

export interface SeedListing {
  readonly name: string
  readonly profile: Profile
  readonly dependsOn: ReadonlyArray<string>
  readonly once: boolean
  readonly description: string
  /** Its last run; `rows` is null when the seed reported no count. */
  readonly lastRun: Option.Option<PreviousRun & { readonly rows: number | null }>
}

/** The declared seeds and what has run (without a tenant). */
export const list = (context: SeederContext) =>
  Effect.gen(function*() {
    const all = yield* ordered(context)
    const recorded = yield* readHistory(context)
    return all.map((seed): SeedListing => {
      const last = recorded.find((h) => h.name === seed.name && h.tenant === "")
      return {
        name: seed.name,
        profile: seed.profile,
        dependsOn: seed.dependsOn ?? [],
        once: onceOf(seed),
        description: seed.description ?? "",
        lastRun: last === undefined
          ? Option.none()
          : Option.some({
            at: last.ranAt,
            rows: last.rows === null ? null : Number(last.rows),
            seed: last.seedNumber,
            scale: last.scale
          })
      }
    })
  })
