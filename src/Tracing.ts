/**
 * Spans for every service method: `traced("Migrator", where, shape)` wraps each method of a
 * service that returns an Effect (and each Effect-valued field, and nested operation groups such
 * as `Backup.physical`) in `Effect.withSpan("dbkit.Migrator.up")`, with the database, the
 * environment and the operation as attributes — the OpenTelemetry names where they exist
 * (`db.system.name`, `db.namespace`), never a URL, a secret or an argument's value. Without a
 * tracer installed a span costs next to nothing; with one (the CLI's `--otlp URL`, or a program's
 * own `@effect/opentelemetry` layer) a deploy, a restore or a seed is a trace whose children are
 * the statements @effect/sql runs (`sql.execute`).
 */
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import { DbConfig } from "./Config.js"
import { Database } from "./Database.js"

/** Where a service runs: what its spans say about the database (never its URL). */
export interface SpanTarget {
  readonly database?: { readonly kind: "server" | "embedded"; readonly database: string } | undefined
  readonly environment?: string | undefined
}

/** The attributes every dbkit span carries. */
export const attributesOf = (service: string, operation: string, target: SpanTarget): Record<string, string> => ({
  "db.system.name": "postgresql",
  ...(target.database === undefined
    ? {}
    : { "db.namespace": target.database.database, "dbkit.database.kind": target.database.kind }),
  ...(target.environment === undefined ? {} : { "dbkit.environment": target.environment }),
  "dbkit.service": service,
  "dbkit.operation": operation
})

/** An Effect, and not one of the data types effect v3 makes Effects too (Option, Either, Exit). */
const isPlainEffect = (value: unknown): value is Effect.Effect<unknown, unknown, unknown> =>
  Effect.isEffect(value) && !Option.isOption(value) && !Either.isEither(value) && !Exit.isExit(value)

const isGroup = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value) &&
  Object.getPrototypeOf(value) === Object.prototype

/**
 * The service with each operation in a span named `dbkit.<service>.<operation>`. Values that are
 * not operations (names, folders, streams) are kept as they are; plain objects of operations are
 * wrapped as `<service>.<key>`.
 */
export const traced = <S extends object>(service: string, target: SpanTarget, shape: S): S => {
  const wrapped: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(shape)) {
    const span = (effect: Effect.Effect<unknown, unknown, unknown>) =>
      Effect.withSpan(effect, `dbkit.${service}.${key}`, { attributes: attributesOf(service, key, target) })
    wrapped[key] = typeof value === "function"
      ? (...args: Array<unknown>) => {
        const result = (value as (...args: Array<unknown>) => unknown)(...args)
        return isPlainEffect(result) ? span(result) : result
      }
      : isPlainEffect(value)
      ? span(value)
      : isGroup(value)
      ? traced(`${service}.${key}`, target, value)
      : value
  }
  return wrapped as S
}

/** The database and environment in context, when they are: what a service's spans name. */
export const spanTarget: Effect.Effect<SpanTarget> = Effect.map(
  Effect.all([Effect.serviceOption(Database), Effect.serviceOption(DbConfig)]),
  ([database, config]) => ({
    database: Option.getOrUndefined(database),
    environment: Option.map(config, (c) => c.environment).pipe(Option.getOrUndefined)
  })
)
