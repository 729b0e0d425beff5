/**
 * Progress rendering shared by the migrate (and deploy) handlers.
 */
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import type { MigrateEvent } from "../migrator/Migrator.js"
import { duration } from "./render.js"

/** One line per migration event, for humans. */
export const printEvent = (event: MigrateEvent): Effect.Effect<void> => {
  switch (event._tag) {
    case "Started":
      return event.pending === 0
        ? Effect.void
        : Console.log(`applying ${event.pending} migration${event.pending === 1 ? "" : "s"}`)
    case "Applied":
      return Console.log(`  ✓ ${event.name}  ${duration(event.durationMs)}`)
    case "RolledBack":
      return Console.log(`  ↶ ${event.name}  ${duration(event.durationMs)}`)
    case "Retrying":
      return Console.log(`  … ${event.name}: ${event.reason}, retrying (attempt ${event.attempt + 1})`)
    case "WaitingForLock":
      return Console.log(
        `waiting for the migration lock${event.holderPid ? ` (held by process ${event.holderPid})` : ""}…`
      )
    case "Applying":
      return Effect.void
  }
}

/** "1 migration" / "2 migrations". */
export const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`
