/**
 * `dbkit init`: set dbkit up in an existing project. The definition; the handler (handlers.ts)
 * loads when it runs.
 */
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import { lazy } from "../lazy.js"
import { jsonOption } from "../options.js"

const handlers = () => import("./handlers.js")

export const initConfig = {
  dir: Options.directory("dir", { exists: "either" }).pipe(
    Options.optional,
    Options.withDescription("The project folder (default: the current one); it must exist")
  ),
  json: jsonOption
}

export const init = Command.make("init", initConfig, (options) => lazy(handlers, (m) => m.init(options))).pipe(
  Command.withDescription(
    "Set dbkit up in an existing project: finds the migrations (drizzle.config.* → out, else migrations/, drizzle/, db/migrations/ or sql/) and backups/, " +
      "writes a commented dbkit.config.ts (never overwrites one), adds the effect:migrate-db, effect:seed-db, effect:backup-db, effect:restore-db, effect:reset-db and effect:health-db scripts " +
      "package.json lacks (keeping everything else as written), and prints the next command. Running it again changes nothing"
  )
)
