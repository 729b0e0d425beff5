/**
 * Health over HTTP, as an @effect/platform router a program can serve or mount:
 * `/livez` (the process runs), `/readyz` (the database answers and no migration is pending or
 * failed) and `/health` (the full report; `?check=name` repeatable for a subset).
 */
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Effect from "effect/Effect"
import { Health } from "./Health.js"

const noStore = { "cache-control": "no-store" }

/** The health routes; they need the Health service. */
export const router = HttpRouter.empty.pipe(
  HttpRouter.get("/livez", Effect.succeed(HttpServerResponse.unsafeJson({ status: "ok" }, { headers: noStore }))),
  HttpRouter.get(
    "/readyz",
    Effect.gen(function*() {
      const readiness = yield* (yield* Health).ready
      return HttpServerResponse.unsafeJson(readiness, { status: readiness.ready ? 200 : 503, headers: noStore })
    })
  ),
  HttpRouter.get(
    "/health",
    Effect.gen(function*() {
      const params = yield* HttpServerRequest.ParsedSearchParams
      const check = params["check"]
      const only = check === undefined
        ? undefined
        : (Array.isArray(check) ? check : [check]).flatMap((c) => c.split(","))
      return yield* (yield* Health).report({ only }).pipe(
        Effect.map((report) =>
          HttpServerResponse.unsafeJson(report, { status: report.status === "critical" ? 503 : 200, headers: noStore })
        ),
        Effect.catchTag(
          "UnknownHealthCheck",
          (error) =>
            Effect.succeed(HttpServerResponse.unsafeJson({ error: error.message }, { status: 400, headers: noStore }))
        )
      )
    })
  )
)
