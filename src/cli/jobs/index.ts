/**
 * `dbkit jobs list | run NAME`: the schedule `dbkit serve` keeps (environments.<env>.jobs in
 * dbkit.config.ts), its recent runs from dbkit.jobs, and one job run now. The definitions; the
 * handlers (handlers.ts) load when one runs.
 */
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import { jobKinds } from "../../serve/jobs/schema.js"
import { lazy } from "../lazy.js"
import { jsonOption } from "../options.js"

const handlers = () => import("./handlers.js")

export const listConfig = {
  limit: Options.integer("limit").pipe(
    Options.withDefault(20),
    Options.withDescription("How many recorded runs to show, newest first")
  ),
  json: jsonOption
}

const list = Command.make("list", listConfig, (options) => lazy(handlers, (m) => m.list(options))).pipe(
  Command.withDescription(
    "The environment's jobs (--env NAME; default DB_ENV) with their schedule, next run and last outcome, " +
      "then the recent runs recorded in dbkit.jobs"
  )
)

export const runConfig = {
  name: Args.text({ name: "name" }).pipe(Args.withDescription("The job, as named in dbkit.config.ts")),
  json: jsonOption
}

const run = Command.make("run", runConfig, (options) => lazy(handlers, (m) => m.run(options))).pipe(
  Command.withDescription(
    "Run one job now, as the scheduler would: under its lock (exit 6 if a `dbkit serve` is running it), " +
      "recorded in dbkit.jobs; a failing job exits with its command's code"
  )
)

/** `dbkit jobs`. */
export const jobs = Command.make("jobs").pipe(
  Command.withDescription(
    `The jobs \`dbkit serve\` runs on a schedule: their runs, and one run now. Declared per environment ` +
      `in dbkit.config.ts (environments.production.jobs: { nightly: { run: "backup", cron: "0 3 * * *", verify: true } }); ` +
      `run is one of ${jobKinds.join(", ")}; cron has five fields, or six with seconds first, ` +
      `read in the job's timeZone (default the server's local time)`
  ),
  Command.withSubcommands([list, run])
)
