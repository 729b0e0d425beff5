/**
 * Anonymize's rewrite: every declared column of a table replaced by fakes in keyset batches, then
 * VACUUM FULL and ANALYZE so no old row version or statistic keeps an original.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import { quoteIdent } from "../Identifier.js"
import * as ServerError from "../ServerError.js"
import { AnonymizeFailed } from "./anonymizeErrors.js"
import type { ColumnPlan, TablePlan } from "./anonymizePlan.js"
import type { AnonymizeProgress, TableReport } from "./anonymizeReport.js"
import { fake } from "./fake.js"
import { FieldDecryptFailed, FieldKeyMissing, type Keyring, parseEnvelope } from "./fieldCrypto.js"

/** A text[] literal, so the array travels as one text parameter on every driver. */
const textArray = (values: ReadonlyArray<string | null>) =>
  `{${values.map((v) => (v === null ? "NULL" : `"${v.replace(/\\/g, "\\\\").replace(/"/g, "\\\"")}"`)).join(",")}}`

/** What a failed statement's server said: its message and SQLSTATE, never the failing row. */
export const serverError = (error: SqlError): { reason: string; code: string | null } => {
  const server = ServerError.read(error)
  return { reason: server.message.split("\n")[0]!, code: server.code ?? null }
}

export interface RewriteContext {
  readonly runKey: Buffer
  readonly keyring: Keyring | undefined
  readonly batchSize: number
  readonly onProgress: (event: AnonymizeProgress) => void
}

/** The fake to store for one value: through the keyring for encrypted columns. */
const fakeValue = (
  plan: TablePlan,
  column: ColumnPlan,
  value: string,
  rowKey: () => string,
  context: RewriteContext
): string => {
  if (!column.encrypted) {
    return fake(column.category, value, context.runKey, { kind: column.kind, maxLength: column.maxLength })
  }
  const keyring = context.keyring!
  const envelope = parseEnvelope(value)
  let plaintext = value // a plaintext value in an encrypted column is faked and stored encrypted
  if (envelope !== undefined) {
    const where = `${plan.name}.${column.column} (${rowKey()})`
    if (!keyring.has(envelope.keyId)) throw new FieldKeyMissing({ keyId: envelope.keyId, where })
    try {
      plaintext = keyring.decrypt(value)
    } catch {
      throw new FieldDecryptFailed({ where, reason: "authentication failed (altered, truncated or under another key)" })
    }
  }
  return keyring.encrypt(fake(column.category, plaintext, context.runKey, { kind: "text" }))
}

/**
 * Rewrites one table in keyset batches: SELECT the next `batchSize` rows by primary key, fake
 * their declared values, `UPDATE … FROM unnest(…)`. Runs inside the caller's transaction, on its
 * one connection, pipelined: the next batch's SELECT and this batch's UPDATE are sent before the
 * fakes are worked out and awaited after, so the server and this process work at the same time.
 */
export const rewriteTable = (
  sql: SqlClient.SqlClient,
  plan: TablePlan,
  context: RewriteContext,
  database: string,
  cleanup: AnonymizeFailed["cleanup"]
) =>
  Effect.gen(function*() {
    const started = Date.now()
    const keys = plan.key.map((k) => quoteIdent(k.column)).join(", ")
    const selected = [
      ...plan.key.map((k, i) => `${quoteIdent(k.column)}::text AS k${i}`),
      ...plan.columns.map((c, i) => `${quoteIdent(c.column)}::text AS c${i}`)
    ].join(", ")
    const after = `WHERE (${keys}) > (${plan.key.map((k, i) => `$${i + 1}::${k.type}`).join(", ")})`
    const names = [...plan.key.map((_, i) => `k${i}`), ...plan.columns.map((_, i) => `c${i}`)]
    const update = `WITH changed AS (
        UPDATE ${plan.sqlName} AS t SET ${
      plan.columns.map((c, i) => `${quoteIdent(c.column)} = v.c${i}::${c.type}`).join(", ")
    }
          FROM unnest(${names.map((_, i) => `$${i + 1}::text[]`).join(", ")}) AS v(${names.join(", ")})
         WHERE ${plan.key.map((k, i) => `t.${quoteIdent(k.column)} = v.k${i}::${k.type}`).join(" AND ")}
        RETURNING 1)
      SELECT count(*)::int AS n FROM changed`
    type Row = Record<string, string | null>
    const select = (last: ReadonlyArray<string> | undefined) =>
      sql.unsafe<Row>(
        `SELECT ${selected} FROM ${plan.sqlName} ${
          last === undefined ? "" : after
        } ORDER BY ${keys} LIMIT ${context.batchSize}`,
        last ?? []
      )

    /** The UPDATE's parameters for one batch (columns of text[] literals), or undefined when no row holds anything personal. */
    const fakesOf = (found: ReadonlyArray<Row>): Array<string> | undefined => {
      const columns = names.map((): Array<string | null> => [])
      for (const row of found) {
        const rowKey = () => plan.key.map((k, i) => `${k.column}=${row[`k${i}`]}`).join(", ")
        let personal = false
        const values = plan.columns.map((column, i) => {
          const value = row[`c${i}`] ?? null
          if (value === null || value.trim() === "") return value
          personal = true
          return fakeValue(plan, column, value, rowKey, context)
        })
        if (!personal) continue
        plan.key.forEach((_, i) => columns[i]!.push(row[`k${i}`] ?? null))
        values.forEach((v, i) => columns[plan.key.length + i]!.push(v))
      }
      return columns[0]!.length === 0 ? undefined : columns.map(textArray)
    }

    let rows = 0
    const updated = (pending: Fiber.RuntimeFiber<ReadonlyArray<{ n: number }>, SqlError> | undefined) =>
      pending === undefined ? Effect.void : Effect.map(Fiber.join(pending), ([result]) => void (rows += result?.n ?? 0))
    const work = Effect.gen(function*() {
      let found = yield* select(undefined)
      let pending: Fiber.RuntimeFiber<ReadonlyArray<{ n: number }>, SqlError> | undefined
      while (found.length > 0) {
        const full = found.length === context.batchSize
        const last = plan.key.map((_, i) => found[found.length - 1]![`k${i}`]!)
        // Sent now, run by the server while the fakes below are worked out.
        const next = full ? yield* Effect.forkScoped(select(last)) : undefined
        const parameters = fakesOf(found)
        yield* updated(pending)
        pending = parameters === undefined
          ? undefined
          : yield* Effect.forkScoped(sql.unsafe<{ n: number }>(update, parameters))
        context.onProgress({ _tag: "Rewriting", table: plan.name, rows, estimate: plan.estimate })
        found = next === undefined ? [] : yield* Fiber.join(next)
      }
      yield* updated(pending)
    })
    // Scoped: a failure stops the statements still in flight.
    yield* Effect.scoped(work).pipe(
      Effect.catchTag("SqlError", (error) =>
        Effect.fail(new AnonymizeFailed({ database, table: plan.name, ...serverError(error), cleanup }))),
      // Faking throws the key errors; they surface typed.
      Effect.catchAllDefect((defect) =>
        defect instanceof FieldKeyMissing || defect instanceof FieldDecryptFailed
          ? Effect.fail(defect)
          : Effect.die(defect)
      )
    )
    const report: TableReport = {
      table: plan.name,
      columns: plan.columns.map((c) =>
        c.column
      ),
      rows,
      durationMs: Date.now() - started
    }
    context.onProgress({ _tag: "Rewritten", table: report })
    return report
  })

/** VACUUM FULL, ANALYZE: old row versions and column statistics that still hold originals go. */
export const vacuum = (
  sql: SqlClient.SqlClient,
  plans: ReadonlyArray<TablePlan>,
  onProgress: RewriteContext["onProgress"]
) =>
  Effect.gen(function*() {
    const started = Date.now()
    for (const plan of plans) {
      onProgress({ _tag: "Vacuuming", table: plan.name })
      yield* sql.unsafe(`VACUUM (FULL, ANALYZE) ${plan.sqlName}`)
    }
    return Date.now() - started
  })
