/**
 * The long-running dbkit process as a library piece: the health routes (/livez, /readyz,
 * /health) and Prometheus `/metrics` on one HTTP server, with room for more. A program adds its
 * own routes and background work (a job scheduler, a dashboard) with
 * `Serve.layer({ routes, background })` and provides an `HttpServer` (the CLI uses Node's).
 *
 * Exposure: on a loopback address anything on this machine may read the routes, as with any
 * local exporter. On any other address a token is required (DBKIT_SERVE_TOKEN) and every route
 * but /livez — which says only that the process runs, for orchestrators' liveness probes —
 * answers 401 without `Authorization: Bearer <token>`. The token is compared in constant time
 * and never logged.
 */
import * as HttpMiddleware from "@effect/platform/HttpMiddleware"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServer from "@effect/platform/HttpServer"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Config from "effect/Config"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import { createHash, timingSafeEqual } from "node:crypto"
import { InvalidConfig } from "../Config.js"
import type { Health } from "../health/Health.js"
import { router as healthRouter } from "../health/http.js"
import { contentType, Metrics } from "./metrics/Metrics.js"

export { buildOnce, shared } from "./metrics/connect.js"
export { Metrics } from "./metrics/Metrics.js"

/** The environment variable holding the bearer token. */
export const TOKEN_VARIABLE = "DBKIT_SERVE_TOKEN"

/** `/metrics`: one scrape in the Prometheus text format; needs the Metrics service. */
export const metricsRouter = HttpRouter.empty.pipe(
  HttpRouter.get(
    "/metrics",
    Effect.gen(function*() {
      const text = yield* (yield* Metrics).scrape
      return HttpServerResponse.text(text, { contentType, headers: { "cache-control": "no-store" } })
    })
  )
)

/** The built-in routes: health and metrics. */
export const router: HttpRouter.HttpRouter<never, Health | Metrics> = HttpRouter.concat(healthRouter, metricsRouter)

/** Whether `host` is a loopback address (or name): only this machine can connect. */
export const isLoopback = (host: string): boolean => {
  const h = host.trim().toLowerCase().replace(/^\[|\]$/g, "")
  return h === "localhost" || h === "::1" || /^(::ffff:)?127(\.\d{1,3}){3}$/.test(h)
}

/**
 * Refuses a non-loopback `host` without a token: there the health report and the metrics
 * (table names, database sizes, session counts) would be open to the network.
 */
export const checkExposure = (
  host: string,
  token: Option.Option<Redacted.Redacted<string>>
): Effect.Effect<void, InvalidConfig> =>
  isLoopback(host) || Option.isSome(token)
    ? Effect.void
    : Effect.fail(
      new InvalidConfig({
        variable: TOKEN_VARIABLE,
        reason: `is not set, and --host ${host} is not a loopback address: set ${TOKEN_VARIABLE} to a long random ` +
          `secret (clients send "Authorization: Bearer <token>"), or serve on 127.0.0.1 behind your own proxy`
      })
    )

/** The token from DBKIT_SERVE_TOKEN; unset or blank is none. */
export const tokenConfig: Config.Config<Option.Option<Redacted.Redacted<string>>> = Config.option(
  Config.redacted(TOKEN_VARIABLE)
).pipe(Config.map(Option.filter((token) => Redacted.value(token).trim() !== "")))

const digest = (text: string) => createHash("sha256").update(text, "utf8").digest()

/** Equal strings, in time that does not depend on where they differ (both hashed to one length first). */
const sameSecret = (given: string, expected: Redacted.Redacted<string>): boolean =>
  timingSafeEqual(digest(given), digest(Redacted.value(expected)))

/** 401 for every route but /livez unless the request carries the bearer token. */
export const requireToken = (token: Redacted.Redacted<string>) =>
  HttpMiddleware.make((app) =>
    Effect.gen(function*() {
      const request = yield* HttpServerRequest.HttpServerRequest
      // The raw path, exactly: a URL parser would resolve `/metrics;/../livez` to /livez while the router
      // (which cuts at `;`) serves /metrics — only the literal /livez (with a query at most) goes unchecked.
      if (request.url.split(/[?#]/, 1)[0] === "/livez") return yield* app
      const match = /^Bearer[ ]+(\S+)\s*$/i.exec(request.headers["authorization"] ?? "")
      if (match !== null && sameSecret(match[1]!, token)) return yield* app
      return HttpServerResponse.unsafeJson(
        { error: "unauthorized: send Authorization: Bearer <token>" },
        { status: 401, headers: { "www-authenticate": "Bearer", "cache-control": "no-store" } }
      )
    })
  )

export interface ServeOptions<E, R, EB, RB> {
  /** The bearer token; without one the server must be on a loopback address. */
  readonly token?: Option.Option<Redacted.Redacted<string>> | undefined
  /** More routes, served beside the built-in ones (a dashboard's, for instance). */
  readonly routes?: ReadonlyArray<HttpRouter.HttpRouter<E, R>> | undefined
  /** Work that runs for as long as the server does (a job scheduler, for instance). */
  readonly background?: ReadonlyArray<Layer.Layer<never, EB, RB>> | undefined
  /** Called once the server listens, with its address (`http://127.0.0.1:8080`). */
  readonly onListening?: ((address: string) => Effect.Effect<void>) | undefined
}

/**
 * Serves the built-in routes, `routes` and runs `background` on the HttpServer in context, until
 * the layer's scope ends. Fails with InvalidConfig when the server listens on an address other
 * than loopback without a token (checked on the address it actually bound).
 */
export const layer = <E = never, R = never, EB = never, RB = never>(
  options: ServeOptions<E, R, EB, RB> = {}
) => {
  const token = options.token ?? Option.none()
  const app = HttpRouter.concatAll(router, ...(options.routes ?? []))
  const secured = Option.match(token, { onNone: () => app, onSome: (t) => requireToken(t)(app) })
  const background = (options.background ?? []).reduce<Layer.Layer<never, EB, RB>>(
    (all, one) => Layer.merge(all, one),
    Layer.empty
  )
  const guard = Layer.effectDiscard(
    Effect.gen(function*() {
      const server = yield* HttpServer.HttpServer
      const host = server.address._tag === "TcpAddress" ? server.address.hostname : "localhost"
      yield* checkExposure(host, token)
    })
  )
  const announce = Layer.effectDiscard(
    HttpServer.addressFormattedWith((address) => options.onListening?.(address) ?? Effect.void)
  )
  // The guard runs before anything is served: the routes are added only once it has passed.
  return Layer.mergeAll(HttpServer.serve(secured), background, announce).pipe(Layer.provide(guard))
}
