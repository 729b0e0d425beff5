/**
 * `dbkit seed`: run the seeds for the environment; `seed list`, `seed validate`, `seed clean`.
 * The definitions; the handlers (handlers.ts) load when one runs.
 */
import * as Command from "@effect/cli/Command"
import * as HelpDoc from "@effect/cli/HelpDoc"
import * as Options from "@effect/cli/Options"
import * as ValidationError from "@effect/cli/ValidationError"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { scaleProblem, seedNumberProblem } from "../../seeder/options.js"
import { lazy } from "../lazy.js"
import { jsonOption, yesOption } from "../options.js"

const handlers = () => import("./handlers.js")

/** The option as given (or not), or a usage error saying what `problem` found in it. */
const checked = (problem: (n: number) => string | undefined) => (value: Option.Option<number>) => {
  const found = Option.isSome(value) ? problem(value.value) : undefined
  return found === undefined ? Effect.succeed(value) : Effect.fail(ValidationError.invalidValue(HelpDoc.p(found)))
}

export const listConfig = { json: jsonOption }

const list = Command.make("list", listConfig, (options) => lazy(handlers, (m) => m.list(options))).pipe(
  Command.withDescription("List the seeds: profile, dependencies, run-once or every time, and what has run")
)

export const validateConfig = { json: jsonOption }

const validate = Command.make("validate", validateConfig, (options) => lazy(handlers, (m) => m.validate(options))).pipe(
  Command.withDescription(
    "Check seeded row counts against what each seed declares (exit 12 when short); foreign keys are enforced by the schema"
  )
)

export const cleanConfig = { yes: yesOption, json: jsonOption }

const clean = Command.make("clean", cleanConfig, (options) => lazy(handlers, (m) => m.clean(options))).pipe(
  Command.withDescription(
    "Delete generated (development/test) data and forget those runs (guarded: DB_SEED_CLEAN_CONFIRM=1 or --yes)"
  )
)

export const seedConfig = {
  only: Options.text("only").pipe(Options.repeated, Options.withDescription("Run only this seed (repeatable)")),
  profile: Options.choice("profile", ["reference", "development", "test"]).pipe(
    Options.optional,
    Options.withDescription("Generated data to add to the reference data (default: by environment)")
  ),
  // Optional, so the Seeder knows what was asked for: a run-once seed that already ran with
  // another seed or scale then says so. Bad values are usage errors here, before any database.
  seedNumber: Options.integer("seed").pipe(
    Options.optional,
    Options.mapEffect(checked(seedNumberProblem)),
    Options.withDescription("Random seed: the same number gives the same data (default 1)")
  ),
  scale: Options.float("scale").pipe(
    Options.optional,
    Options.mapEffect(checked(scaleProblem)),
    Options.withDescription("How much generated data, linear in the rows: 1 = the default size, 2 twice as many")
  ),
  tenant: Options.text("tenant").pipe(
    Options.optional,
    Options.withDescription(
      "Seed only this tenant (id, slug or domain from the tenant registry; schema strategy: in its schema), for seeds that read context.tenant"
    )
  ),
  dryRun: Options.boolean("dry-run").pipe(Options.withDescription("Show what would run, change nothing")),
  json: jsonOption
}

/** `dbkit seed`. */
export const seed = Command.make("seed", seedConfig, (options) => lazy(handlers, (m) => m.seed(options))).pipe(
  Command.withDescription("Run the seeds for the environment in dependency order, each in its own transaction"),
  Command.withSubcommands([list, validate, clean])
)
