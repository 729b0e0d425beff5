/**
 * Traces of a command, exported over OTLP/HTTP (JSON) to the team's collector: `--otlp URL` on any
 * command, or OTEL_EXPORTER_OTLP_ENDPOINT (`<URL>/v1/traces`) / OTEL_EXPORTER_OTLP_TRACES_ENDPOINT
 * (the full URL), with OTEL_EXPORTER_OTLP_HEADERS (`k=v,k2=v2`, e.g. a vendor's API key) and
 * OTEL_SERVICE_NAME (default `dbkit`). The command is the root span (`dbkit migrate`); the
 * services' spans (src/Tracing.ts) and @effect/sql's `sql.execute` are its children.
 *
 * What leaves the process is scrubbed at the tracer: every attribute and event value loses the
 * passwords of the URLs and the keys the environment holds, and a statement's text
 * (`db.query.text`) is reduced to its first keyword — it may carry literals (personal data, a
 * tenant id). Loaded only when an endpoint is set, so a command without one pays nothing.
 */
import * as OtlpSerialization from "@effect/opentelemetry/OtlpSerialization"
import * as OtlpTracer from "@effect/opentelemetry/OtlpTracer"
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Tracer from "effect/Tracer"
import pkg from "../../package.json" with { type: "json" }
import { InvalidConfig } from "../Config.js"
import { firstKeyword } from "../health/status.js"
import * as Redact from "../Redact.js"

/** Variables whose values are secrets by their name. */
const secretName = /(KEY|PASS|PASSWORD|SECRET|TOKEN|CREDENTIALS?)(_|$)/i

/** The secrets in the environment: URL passwords, and values of variables named like keys. */
export const secretsOf = (env: NodeJS.ProcessEnv): ReadonlyArray<string> => {
  const values = Object.entries(env).flatMap(([name, value]) =>
    value === undefined || value === "" ? [] : [[name, value]]
  )
  return [
    ...Redact.passwordsOf(values.map(([, value]) => value!).filter((value) => value.includes("://"))),
    ...values.filter(([name, value]) => secretName.test(name!) && value!.length >= 4).map(([, value]) => value!)
  ]
}

/** `exit` with its failure as one error whose message and stack are the scrubbed text of the cause. */
const scrubExit = (exit: Exit.Exit<unknown, unknown>, scrub: (text: string) => string): Exit.Exit<unknown, unknown> => {
  if (Exit.isSuccess(exit) || Cause.isInterruptedOnly(exit.cause)) return exit
  const error = new Error(scrub(Cause.pretty(exit.cause)))
  error.stack = error.message
  return Exit.fail(error)
}

/** A tracer that hands `base` only scrubbed attribute values, events and failures. */
export const scrubbing = (base: Tracer.Tracer, scrub: (text: string) => string): Tracer.Tracer => {
  const clean = (key: string, value: unknown): unknown =>
    typeof value !== "string"
      ? value
      : key === "db.query.text"
      ? firstKeyword(value)
      : scrub(value)
  return Tracer.make({
    context: (f, fiber) => base.context(f, fiber),
    span: (name, parent, context, links, startTime, kind, options) => {
      const span = base.span(name, parent, context, links, startTime, kind, options)
      const attribute = span.attribute.bind(span)
      const event = span.event.bind(span)
      const end = span.end.bind(span)
      span.attribute = (key, value) => attribute(key, clean(key, value))
      // A failure's text (the exporter writes Cause.pretty and each error's message and stack) is scrubbed too.
      span.end = (endTime, exit) => end(endTime, scrubExit(exit, scrub))
      span.event = (eventName, time, attributes) =>
        event(
          scrub(eventName),
          time,
          attributes === undefined
            ? undefined
            : Object.fromEntries(Object.entries(attributes).map(([key, value]) => [key, clean(key, value)]))
        )
      return span
    }
  })
}

const headersOf = (text: string | undefined): Record<string, string> =>
  Object.fromEntries(
    (text ?? "").split(",").flatMap((pair) => {
      const at = pair.indexOf("=")
      if (at <= 0) return []
      const decode = (s: string) => {
        try {
          return decodeURIComponent(s.trim())
        } catch {
          return s.trim()
        }
      }
      return [[decode(pair.slice(0, at)), decode(pair.slice(at + 1))]]
    })
  )

/** The OTLP tracer for `url`, scrubbing the environment's secrets. */
export const layer = (url: string, env: NodeJS.ProcessEnv = process.env): Layer.Layer<never, InvalidConfig> =>
  Layer.unwrapScoped(Effect.gen(function*() {
    const parsed = URL.canParse(url) ? new URL(url) : undefined
    if (parsed === undefined || (parsed.protocol !== "http:" && parsed.protocol !== "https:")) {
      return yield* new InvalidConfig({
        variable: "--otlp",
        reason: "expected the collector's http(s) URL, e.g. http://localhost:4318"
      })
    }
    const base = yield* OtlpTracer.make({
      url,
      resource: { serviceName: env.OTEL_SERVICE_NAME?.trim() || "dbkit", serviceVersion: pkg.version },
      headers: headersOf(env.OTEL_EXPORTER_OTLP_HEADERS),
      exportInterval: "2 seconds",
      shutdownTimeout: "5 seconds"
    }).pipe(Effect.provide(Layer.merge(FetchHttpClient.layer, OtlpSerialization.layerJson)))
    return Layer.setTracer(scrubbing(base, Redact.scrubber(secretsOf(env))))
  }))

/** Runs `effect` as the root span `name`, exported to `url`; the exports are flushed before it returns. */
export const traceCommand = <A, E, R>(
  effect: Effect.Effect<A, E, R>,
  name: string,
  url: string
): Effect.Effect<A, E | InvalidConfig, R> =>
  effect.pipe(
    Effect.withSpan(name, { attributes: { "dbkit.command": name.replace(/^dbkit /, "") }, kind: "internal" }),
    Effect.provide(layer(url))
  )
