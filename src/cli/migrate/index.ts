/**
 * `dbkit migrate`: apply pending migrations (or try them with --dry-run); its subcommands plan,
 * check, roll back and repair. The definitions; each handler is in its own file, loaded when it
 * runs (lazy.ts).
 */
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import { lazy } from "../lazy.js"
import { jsonOption, yesOption } from "../options.js"

const status = Command.make(
  "status",
  { json: jsonOption },
  (options) => lazy(() => import("./status.js"), (m) => m.status(options))
).pipe(
  Command.withDescription("Show applied, pending, changed, missing, out-of-order and failed migrations")
)

const plan = Command.make(
  "plan",
  {
    to: Options.text("to").pipe(Options.optional, Options.withDescription("Plan up to this migration (inclusive)")),
    strict: Options.boolean("strict").pipe(
      Options.withDescription("Fail (exit 10) when a pending migration does something risky")
    ),
    json: jsonOption
  },
  (options) => lazy(() => import("./plan.js"), (m) => m.plan(options))
).pipe(Command.withDescription("Show the pending SQL and lint it for locking or destructive operations"))

const verify = Command.make(
  "verify",
  { json: jsonOption },
  (options) => lazy(() => import("./verify.js"), (m) => m.verify(options))
).pipe(
  Command.withDescription(
    "Exit 0 when every migration is applied, 8 when some are pending, 9 when history has drifted (changed, missing or failed)"
  )
)

const rollback = Command.make(
  "rollback",
  {
    steps: Options.integer("steps").pipe(
      Options.optional,
      Options.withDescription("How many applied migrations to roll back (default 1)")
    ),
    to: Options.text("to").pipe(
      Options.optional,
      Options.withDescription("Roll back everything applied after this migration")
    ),
    yes: yesOption,
    json: jsonOption
  },
  (options) => lazy(() => import("./rollback.js"), (m) => m.rollback(options))
).pipe(
  Command.withDescription(
    "Roll back applied migrations with their .down.sql files (guarded; a missing down file stops before anything runs)"
  )
)

const baseline = Command.make(
  "baseline",
  {
    to: Options.text("to").pipe(Options.withDescription("The last migration the existing schema already contains")),
    json: jsonOption
  },
  (options) => lazy(() => import("./baseline.js"), (m) => m.baseline(options))
).pipe(
  Command.withDescription(
    "Record migrations up to --to as applied without running them (for a database that already has the schema)"
  )
)

const adopt = Command.make(
  "adopt",
  { json: jsonOption },
  (options) => lazy(() => import("./adopt.js"), (m) => m.adopt(options))
).pipe(
  Command.withDescription(
    "Import the history of drizzle's migrator (drizzle.__drizzle_migrations) and @effect/sql's (effect_sql_migrations) so nothing re-runs"
  )
)

const repair = Command.make(
  "repair",
  {
    markApplied: Options.text("mark-applied").pipe(
      Options.repeated,
      Options.withDescription("A failed migration you completed by hand: record it as applied instead of clearing it")
    ),
    json: jsonOption
  },
  (options) => lazy(() => import("./repair.js"), (m) => m.repair(options))
).pipe(
  Command.withDescription(
    "Accept the current checksums of changed migrations and clear failed records (they run again), or --mark-applied NAME"
  )
)

const drift = Command.make(
  "drift",
  { json: jsonOption },
  (options) => lazy(() => import("./drift.js"), (m) => m.drift(options))
).pipe(
  Command.withDescription(
    "Replay all migrations into a scratch database and list every difference in tables, columns, constraints, indexes and policies (exit 9 when any)"
  )
)

const create = Command.make(
  "new",
  {
    name: Args.text({ name: "name" }).pipe(Args.withDescription("What the migration does, e.g. \"add invoice notes\""))
  },
  (args) => lazy(() => import("./new.js"), (m) => m.create(args))
).pipe(Command.withDescription("Create the next NNNN_name.sql and NNNN_name.down.sql in a plain migrations folder"))

export const migrate = Command.make(
  "migrate",
  {
    to: Options.text("to").pipe(Options.optional, Options.withDescription("Stop after this migration (inclusive)")),
    dryRun: Options.boolean("dry-run").pipe(
      Options.withDescription(
        "Try the pending migrations and change nothing: in a rolled-back transaction here, and from the first one that needs the earlier ones committed (or cannot run in a transaction) in a scratch database replaying the migrations"
      )
    ),
    allowOutOfOrder: Options.boolean("allow-out-of-order").pipe(
      Options.withDescription("Apply pending migrations that sort before the newest applied one")
    ),
    json: jsonOption
  },
  (options) => lazy(() => import("./apply.js"), (m) => m.apply(options))
).pipe(
  Command.withDescription(
    "Apply pending migrations from the migrations folder (DBKIT_MIGRATIONS_DIR, default ./migrations)"
  ),
  Command.withSubcommands([status, plan, verify, rollback, baseline, adopt, repair, drift, create])
)
