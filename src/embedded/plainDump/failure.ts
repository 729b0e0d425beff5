/**
 * How a plain-dump load fails: `PlainDumpFailed`, naming the line and statement, and the server's
 * reason as one line.
 */
import * as Data from "effect/Data"

/** Loading the script failed and nothing of it was kept; `line` is where the statement starts. */
export class PlainDumpFailed extends Data.TaggedError("PlainDumpFailed")<{
  readonly line: number
  readonly statement: string
  readonly reason: string
}> {
  override get message() {
    const where = this.line > 0 ? `line ${this.line}: ` : ""
    const text = this.statement.replace(/\s+/g, " ").trim()
    const what = text === "" ? "" : `${text.length > 120 ? `${text.slice(0, 119)}…` : text}: `
    return `${where}${what}${this.reason}`
  }
}

export const serverReason = (cause: unknown): string => {
  const error = cause as { message?: unknown; detail?: unknown }
  const message = typeof error?.message === "string" ? error.message : String(cause)
  return typeof error?.detail === "string" && error.detail !== "" ? `${message} (${error.detail})` : message
}

const truncated = (statement: string) => statement.length > 1000 ? `${statement.slice(0, 1000)}…` : statement

export interface Statement {
  readonly sql: string
  readonly line: number
}

export const failedAt = (statement: Statement, reason: string) =>
  new PlainDumpFailed({ line: statement.line, statement: truncated(statement.sql), reason })
