/**
 * `dbkit serve`: one long-running process with the health routes and Prometheus `/metrics`.
 * The definition; the handler (serve.ts) loads when it runs.
 */
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import { lazy } from "../lazy.js"

export const serveConfig = {
  port: Options.integer("port").pipe(
    Options.withDefault(9188),
    Options.withDescription("Port to listen on (0: any free port)")
  ),
  host: Options.text("host").pipe(
    Options.withDefault("127.0.0.1"),
    Options.withDescription(
      "Address to listen on. Anything but a loopback address needs DBKIT_SERVE_TOKEN: then every route " +
        "but /livez wants Authorization: Bearer <token>"
    )
  )
}

export const serve = Command.make(
  "serve",
  serveConfig,
  (options) => lazy(() => import("./serve.js"), (m) => m.serve(options))
)
  .pipe(
    Command.withDescription(
      "Run dbkit as a service until SIGINT/SIGTERM (then exit 0): a read-only dashboard at /, the " +
        "environment's scheduled jobs (dbkit.config.ts jobs; see `dbkit jobs list`), /livez, /readyz and /health as " +
        "`dbkit health serve` has them, and /metrics for Prometheus (the database's connections, " +
        "transaction and query ages, locks, cache, wraparound, sequences, sizes, dead rows, replication, " +
        "pending migrations, backups, jobs, top statements; postgres_exporter's names where it has the figure)"
    )
  )
