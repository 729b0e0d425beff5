/**
 * Options several commands share. Kept apart from the handlers' helpers (shared.ts, render.ts) so
 * the command definitions main.ts loads at start import nothing but @effect/cli.
 */
import * as Options from "@effect/cli/Options"

export const jsonOption = Options.boolean("json").pipe(Options.withDescription("Print the result as JSON on stdout"))

export const yesOption = Options.boolean("yes").pipe(
  Options.withAlias("y"),
  Options.withDescription("Confirm a destructive action (instead of the *_CONFIRM variable or the prompt)")
)
