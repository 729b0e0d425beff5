/**
 * Whether a row-level security policy fails open: lets a row of some tenant through when the
 * tenant setting (`app.tenant_id`) is unset or empty — the state of a connection on which the
 * application forgot to enter a tenant.
 *
 * Decided by the server, not by reading the text: each policy expression (`pg_get_expr`, which
 * prints the setting as `current_setting('app.tenant_id'::text, true)`) is evaluated over one
 * made-up row of its table — every column NULL but the tenant column, which holds a value no
 * tenant has — with the setting replaced by NULL (unset) and by '' (empty). If the expression is
 * true in either state, the policy lets another tenant's row through. NULL and errors count as
 * closed, as they do under RLS (a NULL qual hides the row; a failing cast fails the query).
 * `current_setting(s)` without `missing_ok` raises when unset, so it is replaced by a setting
 * that does not exist, which raises the same way. Only the substituted text runs, in read-only
 * transactions; nothing is written and no role is assumed. A policy that reads the setting
 * through a function of its own is evaluated with the auditing session's value (normally unset).
 */
import type { SqlError } from "@effect/sql/SqlError"
import * as Effect from "effect/Effect"
import { quoteIdent, quoteLiteral } from "./Identifier.js"

/** One catalog query in a read-only transaction of its own (an error in it harms no other). */
export type CatalogQuery = <A extends object>(
  text: string,
  params?: ReadonlyArray<unknown>
) => Effect.Effect<ReadonlyArray<A>, SqlError>

/** A policy expression to evaluate. */
export interface PolicyExpression {
  readonly schema: string
  readonly table: string
  readonly tenantType: string
  /** `USING` or `WITH CHECK` text from pg_get_expr. */
  readonly text: string
}

/** The states a forgotten tenant leaves the setting in. */
export type SettingState = "unset" | "empty"

/** What no tenant is: a fresh-looking uuid for uuid and text keys, -1 for numeric ones. */
const sentinelFor = (type: string): string =>
  /^(smallint|integer|bigint|numeric|real|double precision)/.test(type)
    ? "-1"
    : "0bd0c4e5-6a1f-4c0e-9f3b-5d2a7e8c1b00"

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")

/** The expression with the setting replaced by its value in `state`. */
export const substitute = (text: string, setting: string, state: SettingState): string => {
  const call = new RegExp(
    String.raw`current_setting\(\s*'${
      escapeRegExp(setting.replace(/'/g, "''"))
    }'(?:::text)?\s*(?:,\s*(true|false)\s*)?\)`,
    "gi"
  )
  return text.replace(call, (_whole, missingOk: string | undefined) =>
    state === "empty"
      ? "(''::text)"
      : missingOk?.toLowerCase() === "true"
      ? "(NULL::text)"
      : "current_setting('dbkit_audit.unset_setting')")
}

/** `SELECT EXISTS (… the made-up row passes the expression …)`, for one expression and state. */
const probe = (expression: PolicyExpression, tenantColumn: string, setting: string, state: SettingState) => {
  const table = `${quoteIdent(expression.schema)}.${quoteIdent(expression.table)}`
  const row = `jsonb_populate_record(NULL::${table}, jsonb_build_object(${quoteLiteral(tenantColumn)}, ${
    quoteLiteral(sentinelFor(expression.tenantType))
  }))`
  return `EXISTS (SELECT 1 FROM ${row} AS ${quoteIdent(expression.table)} WHERE (${
    substitute(expression.text, setting, state)
  }))`
}

const STATES: ReadonlyArray<SettingState> = ["unset", "empty"]

/** Probes per query: one UNION ALL of hundreds of arms plans far slower than several short ones. */
const CHUNK = 16

/** Whether each case lets the row through: one query per chunk; if one raises, one query per case. */
const evaluate = (query: CatalogQuery, probes: ReadonlyArray<string>): Effect.Effect<Array<boolean>, SqlError> =>
  query<{ k: number; open: boolean }>(probes.map((sql, k) => `SELECT ${k} AS k, ${sql} AS open`).join("\nUNION ALL "))
    .pipe(
      Effect.map((rows) => {
        const open = probes.map(() => false)
        for (const row of rows) open[Number(row.k)] = row.open === true
        return open
      }),
      Effect.catchAll(() =>
        Effect.forEach(probes, (sql) =>
          query<{ open: boolean }>(`SELECT ${sql} AS open`).pipe(
            Effect.map((rows) => rows[0]?.open === true),
            Effect.orElseSucceed(() => false) // it raises: the query would fail, so nothing leaks
          ))
      )
    )

/** For each expression, the states in which it lets another tenant's row through. */
export const openStates = (
  query: CatalogQuery,
  expressions: ReadonlyArray<PolicyExpression>,
  tenantColumn: string,
  setting: string
): Effect.Effect<ReadonlyArray<ReadonlyArray<SettingState>>, SqlError> => {
  const cases = expressions.flatMap((expression, i) =>
    STATES.map((state) => ({ i, state, sql: probe(expression, tenantColumn, setting, state) }))
  )
  const chunks = Array.from(
    { length: Math.ceil(cases.length / CHUNK) },
    (_, n) => cases.slice(n * CHUNK, (n + 1) * CHUNK)
  )
  return Effect.forEach(chunks, (chunk) => evaluate(query, chunk.map((c) => c.sql))).pipe(
    Effect.map((results) => {
      const open = results.flat()
      return expressions.map((_, i) => cases.filter((c, k) => c.i === i && open[k]).map((c) => c.state))
    })
  )
}
