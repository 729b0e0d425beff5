/**
 * Options the `dbkit db` commands share: `--plan | --run` and `--tenant`.
 */
import * as Options from "@effect/cli/Options"
import * as Effect from "effect/Effect"
import { InvalidMaintenanceOptions } from "../../maintenance/errors.js"

export const planOption = Options.boolean("plan").pipe(
  Options.withDescription("Show what would be done and why, change nothing (the default)")
)

export const runOption = (what: string) => Options.boolean("run").pipe(Options.withDescription(what))

export const tenantOption = (what: string) =>
  Options.text("tenant").pipe(Options.optional, Options.withDescription(what))

/** `--plan` (or neither) plans, `--run` runs; both is a mistake. */
export const modeOf = (options: { readonly plan: boolean; readonly run: boolean }) =>
  options.plan && options.run
    ? Effect.fail(new InvalidMaintenanceOptions({ reason: "choose one of --plan and --run" }))
    : Effect.succeed(options.run ? "run" as const : "plan" as const)
