/**
 * `dbkit health serve`: /livez, /readyz and /health over HTTP until SIGINT/SIGTERM.
 */
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as HttpServer from "@effect/platform/HttpServer"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { createServer } from "node:http"
import { router } from "../../health/http.js"
import { HealthLive } from "./live.js"

export const serve = Command.make(
  "serve",
  {
    port: Options.integer("port").pipe(Options.withDefault(8080), Options.withDescription("Port to listen on (0: any free port)")),
    host: Options.text("host").pipe(
      Options.withDefault("127.0.0.1"),
      Options.withDescription("Address to listen on (0.0.0.0 to accept connections from other hosts)")
    )
  },
  (options) =>
    Layer.launch(
      Layer.mergeAll(
        HttpServer.serve(router),
        Layer.effectDiscard(HttpServer.addressFormattedWith((address) =>
          Console.error(`dbkit health serve · listening on ${address} (/livez, /readyz, /health)`)
        ))
      ).pipe(
        Layer.provide(NodeHttpServer.layer(createServer, { port: options.port, host: options.host })),
        Layer.provide(HealthLive)
      )
    ).pipe(
      // A signal is how a server is meant to stop: the server and the database pool are closed
      // by now (their scopes end first), so exit 0 rather than main.ts's 130 for interruption.
      Effect.onInterrupt(() => Effect.sync(() => process.exit(0)))
    )
).pipe(
  Command.withDescription(
    "Serve /livez (200 while running), /readyz (200 when the database answers and no migration is pending " +
      "or failed, else 503) and /health (the report as JSON; 503 when critical) until SIGINT/SIGTERM, then exit 0"
  )
)
