/**
 * Handler of `dbkit serve` (definition in index.ts): Serve.layer on Node's HTTP server until
 * SIGINT/SIGTERM.
 */
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { createServer } from "node:http"
import { DbConfig, InvalidConfig } from "../../Config.js"
import { declared } from "../../serve/jobs/Jobs.js"
import * as Serve from "../../serve/Serve.js"
import { ConfigLive } from "../live.js"
import type { Parsed } from "../options.js"
import type { serveConfig } from "./index.js"
import { ServeParts } from "./live.js"

export const serve = (options: Parsed<typeof serveConfig>) =>
  Effect.gen(function*() {
    const token = yield* Serve.tokenConfig.pipe(
      Effect.mapError((error) => new InvalidConfig({ variable: Serve.TOKEN_VARIABLE, reason: String(error) }))
    )
    // Refused before the port is bound: a server open to the network without a token never starts.
    yield* Serve.checkExposure(options.host, token)
    // A job declaration that cannot run (a bad cron, an unknown kind) fails now, before anything listens.
    const config = yield* DbConfig
    const jobs = yield* declared(config.environment)
    const listening = (address: string) =>
      Console.error(
        `dbkit serve · ${config.environment} · listening on ${address} (dashboard /, /livez, /readyz, /health, ` +
          `/metrics) · ${jobs.length} job${jobs.length === 1 ? "" : "s"} scheduled${
            token._tag === "Some" ? " · bearer token required" : ""
          }`
      )
    return yield* Layer.launch(Layer.unwrapScoped(Effect.map(ServeParts, (parts) =>
      Serve.layer({
        token,
        onListening: listening,
        routes: [parts.dashboard],
        background: parts.background
      }).pipe(
        Layer.provide(NodeHttpServer.layer(createServer, { port: options.port, host: options.host })),
        Layer.provide(parts.probes)
      ))))
  }).pipe(
    // The server could not listen (a port in use, a host not on this machine, a port below 1024
    // without the right): Node's own reason names which, exit 2.
    Effect.catchTag("ServeError", (error) =>
      Effect.fail(
        new InvalidConfig({
          variable: "--port",
          reason: `cannot listen on ${options.host}:${options.port}: ${
            (error.cause as Error | undefined)?.message ?? "unknown reason"
          }`
        })
      )),
    // A signal is how a server is meant to stop: the server, the pools and the background work
    // are closed by now (their scopes end first), so exit 0 rather than main.ts's 130.
    Effect.onInterrupt(() => Effect.sync(() => process.exit(0))),
    Effect.provide(ConfigLive)
  )
