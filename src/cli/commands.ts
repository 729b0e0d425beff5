/**
 * The `dbkit` command tree: each group's definitions (names, options, descriptions), assembled
 * under the root. main.ts runs it; the help tests read it. Only definitions load from here —
 * every handler loads when its command runs (lazy.ts). A new group is one import below and one
 * entry in `withSubcommands`.
 */
import * as Command from "@effect/cli/Command"
import { backup, backups } from "./backup/index.js"
import { db } from "./db/index.js"
import { deploy } from "./deploy/index.js"
import { env } from "./env/index.js"
import { health } from "./health/index.js"
import { init } from "./init/index.js"
import { jobs } from "./jobs/index.js"
import { migrate } from "./migrate/index.js"
import { pitr } from "./pitr/index.js"
import { audit, privacy } from "./privacy/index.js"
import { reset } from "./reset/index.js"
import { restore } from "./restore/index.js"
import { seed } from "./seed/index.js"
import { serve } from "./serve/index.js"
import { tenancy } from "./tenancy/index.js"
import { tenant } from "./tenant/index.js"

export const dbkit = Command.make("dbkit").pipe(
  Command.withDescription(
    "PostgreSQL migrations, seeds, backups, tenancy and health for Effect programs. " +
      "Uses DATABASE_URL when set, else the embedded database in .dbkit/pglite (development and test only). " +
      "Every command takes --env NAME: that environment's database, from its urlEnv in dbkit.config.ts."
  ),
  Command.withSubcommands([
    init,
    migrate,
    seed,
    backup,
    backups,
    restore,
    pitr,
    reset,
    tenant,
    tenancy,
    health,
    serve,
    db,
    deploy,
    env,
    jobs,
    privacy,
    audit
  ])
)
