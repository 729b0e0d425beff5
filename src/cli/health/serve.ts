/**
 * Handler of `dbkit health serve` (definition in index.ts): /livez, /readyz and /health over
 * HTTP until SIGINT/SIGTERM.
 */
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as HttpServer from "@effect/platform/HttpServer"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { createServer } from "node:http"
import { InvalidConfig } from "../../Config.js"
import { router } from "../../health/http.js"
import type { Parsed } from "../options.js"
import type { serveConfig } from "./index.js"
import { HealthLive } from "./live.js"

export const serve = (options: Parsed<typeof serveConfig>) =>
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
    // The server could not listen (a port in use, a host not on this machine, a port below 1024
    // without the right): one line saying which and why, exit 2.
    Effect.catchTag("ServeError", (error) => {
      const cause = error.cause as NodeJS.ErrnoException | undefined
      const where = `${options.host}:${options.port}`
      const reason = cause?.code === "EADDRINUSE"
        ? `${where} is already in use (EADDRINUSE); choose another --port or stop what listens there`
        : cause?.code === "EACCES"
        ? `${where} needs privileges this process lacks (EACCES); use a port above 1023`
        : cause?.code === "EADDRNOTAVAIL"
        ? `${options.host} is not an address of this machine (EADDRNOTAVAIL)`
        : `cannot listen on ${where}: ${cause?.message ?? "unknown reason"}`
      return Effect.fail(new InvalidConfig({ variable: "--port", reason }))
    }),
    // A signal is how a server is meant to stop: the server and the database pool are closed
    // by now (their scopes end first), so exit 0 rather than main.ts's 130 for interruption.
    Effect.onInterrupt(() =>
      Effect.sync(() => process.exit(0))
    )
  )
