/**
 * `dbkit health`: the DBA's checks as a table (or `--json`) and an exit code that is the
 * verdict; `dbkit health serve` exposes them over HTTP. The definitions; the handlers
 * (report.ts, serve.ts) load when one runs.
 */
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import { checkNames } from "../../health/checks.js"
import { thresholdNames } from "../../Thresholds.js"
import { lazy } from "../lazy.js"
import { jsonOption } from "../options.js"

export const serveConfig = {
  port: Options.integer("port").pipe(
    Options.withDefault(8080),
    Options.withDescription("Port to listen on (0: any free port)")
  ),
  host: Options.text("host").pipe(
    Options.withDefault("127.0.0.1"),
    Options.withDescription("Address to listen on (0.0.0.0 to accept connections from other hosts)")
  )
}

const serve = Command.make("serve", serveConfig, (options) => lazy(() => import("./serve.js"), (m) => m.serve(options)))
  .pipe(
    Command.withDescription(
      "Serve /livez (200 while running), /readyz (200 when the database answers and no migration is pending " +
        "or failed, else 503) and /health (the report as JSON; 503 when critical) until SIGINT/SIGTERM, then exit 0"
    )
  )

export const healthConfig = {
  json: jsonOption,
  check: Options.text("check").pipe(
    Options.repeated,
    Options.withDescription(`Run only this check (repeatable): ${checkNames.join(", ")}`)
  ),
  threshold: Options.text("threshold").pipe(
    Options.repeated,
    Options.withDescription(
      `Override a threshold, name=value (repeatable; "none" for no limit), e.g. longQuerySeconds=60, or set ` +
        `DBKIT_HEALTH_<NAME> (DBKIT_HEALTH_LONG_QUERY_SECONDS=60). Names: ${thresholdNames.join(", ")}`
    )
  )
}

export const health = Command.make(
  "health",
  healthConfig,
  (options) => lazy(() => import("./report.js"), (m) => m.report(options))
).pipe(
  Command.withDescription(
    "Check the database as a DBA would: connectivity, version, migrations, connections, long queries, " +
      "idle transactions, locks, cache, wraparound, sequences, indexes, bloat, replication, size, backups, " +
      "tenants, Redis. Exit codes here are the verdict and differ from dbkit's other commands: " +
      "0 ok, 1 warn (or a check that could not run), 2 critical."
  ),
  Command.withSubcommands([serve])
)
