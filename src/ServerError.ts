/**
 * What the server said when a statement failed: the one reader every capability uses.
 *
 * @effect/sql's `SqlError` says only "Failed to execute statement"; the reason is on its cause,
 * pg's `DatabaseError` or PGlite's error, which carry the server's message and SQLSTATE and,
 * when the server sent them, detail, hint, the statement position and the context (`where`,
 * e.g. "COPY t, line 3"). Nothing here reads the statement or its parameters, so a reason never
 * carries the failing row.
 */
import type { SqlError } from "@effect/sql/SqlError"

export interface ServerError {
  /** The server's message (or, for an error that is not the server's, the error's own). */
  readonly message: string
  /** SQLSTATE, e.g. "42703"; undefined when the driver gave none. */
  readonly code: string | undefined
  readonly detail: string | undefined
  readonly hint: string | undefined
  /** 1-based character offset into the statement. */
  readonly position: number | undefined
  /** The server's context line, e.g. "COPY invoices, line 41". */
  readonly where: string | undefined
}

export const isSqlError = (u: unknown): u is SqlError =>
  typeof u === "object" && u !== null && "_tag" in u && u._tag === "SqlError"

const messageOf = (u: unknown): string =>
  u instanceof Error
    ? u.message
    : typeof (u as { message?: unknown } | null)?.message === "string"
    ? (u as { message: string }).message
    : String(u)

/** The server's fields from a SqlError (its cause), or from a driver error given directly. */
export const read = (error: unknown): ServerError => {
  const inner = isSqlError(error) && error.cause !== undefined ? error.cause : error
  const fields = (typeof inner === "object" && inner !== null ? inner : {}) as Record<string, unknown>
  const text = (
    key: string
  ) => (typeof fields[key] === "string" && fields[key] !== "" ? (fields[key] as string) : undefined)
  const position = text("position")
  return {
    message: text("message") ?? messageOf(error),
    code: text("code"),
    detail: text("detail"),
    hint: text("hint"),
    position: position === undefined ? undefined : Number(position),
    where: text("where")
  }
}

/** The SQLSTATE of a failed statement, when the driver gave one. */
export const sqlState = (error: unknown): string | undefined => read(error).code

/** The server's reason alone, on one line (whitespace folded), at most `max` characters. */
export const reason = (error: unknown, max = 200): string => {
  const line = read(error).message.replace(/\s+/g, " ").trim()
  return line.length > max ? `${line.slice(0, max - 3)}...` : line || "unknown error"
}

/**
 * An error as one message: its own text, then — for a SqlError, or a foreign error wrapping
 * another — the reason underneath ("Failed to execute statement: permission denied for table
 * t"). dbkit's own errors already say their cause and are left as they are. `firstLine` keeps
 * only the first line; `max` cuts the result.
 */
export const describe = (
  error: unknown,
  options: { readonly firstLine?: boolean; readonly max?: number } = {}
): string => {
  const text = messageOf(error)
  const tagged = typeof error === "object" && error !== null && "_tag" in error
  const inner = isSqlError(error)
    ? read(error).message
    : !tagged && error instanceof Error && error.cause instanceof Error
    ? error.cause.message
    : undefined
  const whole = inner !== undefined && inner !== "" && !text.includes(inner) ? `${text}: ${inner}` : text
  const line = options.firstLine === true ? whole.split("\n")[0]! : whole
  return options.max !== undefined ? line.slice(0, options.max) : line
}
