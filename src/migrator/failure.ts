/** How a failed statement becomes a MigrationFailed that keeps the server's message and code. */
import type { SqlError } from "@effect/sql/SqlError"
import { MigrationFailed } from "./errors.js"
import type { Migration } from "./source.js"

/** The server's error fields, from pg's or PGlite's error object. */
export const serverError = (error: SqlError) => {
  const cause = (error.cause ?? {}) as Record<string, unknown>
  const text = (k: string) => (typeof cause[k] === "string" && cause[k] !== "" ? (cause[k] as string) : undefined)
  const position = text("position")
  return {
    message: text("message") ?? error.message,
    code: text("code"),
    detail: text("detail"),
    position: position === undefined ? undefined : Number(position)
  }
}

export const isSqlError = (u: unknown): u is SqlError =>
  typeof u === "object" && u !== null && "_tag" in u && u._tag === "SqlError"

export const failure = (
  migration: Migration,
  file: string,
  statement: number,
  statements: number,
  cause: unknown,
  transactional = migration.transactional
) => {
  const server = isSqlError(cause)
    ? serverError(cause)
    : {
      message: cause instanceof Error ? cause.message : String(cause),
      code: undefined,
      detail: undefined,
      position: undefined
    }
  return new MigrationFailed({
    migration: migration.name,
    file,
    statement,
    statements,
    serverMessage: server.message,
    code: server.code,
    position: server.position,
    detail: server.detail,
    transactional,
    cause
  })
}

export const isLockTimeout = (error: unknown) => error instanceof MigrationFailed && error.code === "55P03"

/** A failure one transaction causes and migrate's commit after each migration would not. */
export const needsEarlierCommits = (error: unknown) =>
  error instanceof MigrationFailed &&
  (error.code === "55P04" || (error.code === "55006" && /pending trigger events/.test(error.serverMessage)))
