/**
 * Options several commands share, and the type a handler's options take. Kept apart from the
 * handlers' helpers (shared.ts, render.ts) so the command definitions main.ts loads at start
 * import nothing but @effect/cli.
 */
import type * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"

/**
 * What a command's handler receives: the values its config (exported from the group's index.ts)
 * parses to, as `Command.make` types them. A handler imports the config with `import type`: the
 * build erases it, so no handler module imports the definitions at run time.
 */
export type Parsed<C extends Command.Command.Config> = Command.Command.ParseConfig<C>

export const jsonOption = Options.boolean("json").pipe(Options.withDescription("Print the result as JSON on stdout"))

export const yesOption = Options.boolean("yes").pipe(
  Options.withAlias("y"),
  Options.withDescription("Confirm a destructive action (instead of the *_CONFIRM variable or the prompt)")
)
