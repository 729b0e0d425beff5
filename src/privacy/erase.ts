/**
 * Right to erasure, guarded, in one transaction: declared columns erased or pseudonymised per
 * the map, rows of `onErase: "delete"` tables deleted, rows the law keeps kept with the person's
 * fields gone; audit entries whose actor is the email pseudonymised; each erased row recorded in
 * the audit log (table, key, columns — never the values). A check before commit proves no row
 * still matches the email.
 */
import type { SqlError } from "@effect/sql/SqlError"
import * as Effect from "effect/Effect"
import * as crypto from "node:crypto"
import { quoteIdent } from "../Identifier.js"
import * as ServerError from "../ServerError.js"
import {
  auditTable,
  catalogFor,
  checkEmail,
  personalOf,
  type PrivacyContext,
  requireMatch,
  resolveScope,
  short
} from "./context.js"
import type { PersonalColumn, PrivacyMap } from "./declare.js"
import { ErasureFailed, SubjectNotFound } from "./errors.js"
import type { ErasureReport, ErasureRequest, ErasureStep } from "./Privacy.js"
import { type Catalog, findSubject, type Found, keyOf, type Scope, sqlName } from "./subject.js"

/** The SQL expression a column is erased to. */
const erasedValue = (column: PersonalColumn, type: string): string => {
  const text = /^(text|character varying|varchar|character|citext)/.test(type)
  if (column.erase === "null") return "NULL"
  if (!text) return column.nullable ? "NULL" : quoteIdent(column.column) // a non-text NOT NULL column stays (documented)
  if (column.erase === "redact") return `'[erased]'`
  const token = `replace(gen_random_uuid()::text, '-', '')`
  return column.category === "email" ? `'erased-' || ${token} || '@erased.invalid'` : `'erased-' || ${token}`
}

/**
 * What happens to each table: declared subject tables per their onErase, tables reached from
 * deleted rows by cascading keys are deleted with them, others keep their rows (erasing their
 * declared columns, if any).
 */
const erasurePlan = (
  map: PrivacyMap,
  catalog: Catalog,
  found: ReadonlyMap<string, Found>,
  scope: Scope
): Array<ErasureStep> => {
  const deleted = new Set<string>()
  for (const table of found.keys()) {
    const personal = personalOf(map, table, scope)
    if (personal?.onErase === "delete" && personal.subject !== null) deleted.add(table)
  }
  const cascaded = new Set<string>()
  let grew = true
  while (grew) {
    grew = false
    for (const fk of catalog.foreignKeys) {
      if (
        (deleted.has(fk.parent) || cascaded.has(fk.parent)) && fk.onDelete === "c" && found.has(fk.child) &&
        !deleted.has(fk.child) && !cascaded.has(fk.child)
      ) {
        cascaded.add(fk.child)
        grew = true
      }
    }
  }
  return [...found.values()].map((entry) => {
    const personal = personalOf(map, entry.table, scope)
    const columns = personal?.columns.map((c) => c.column) ?? []
    if (deleted.has(entry.table)) {
      return { table: entry.table, rows: entry.rows.size, action: "delete" as const, columns, note: null }
    }
    if (cascaded.has(entry.table)) {
      return {
        table: entry.table,
        rows: entry.rows.size,
        action: "cascade" as const,
        columns: [],
        note: "deleted with the rows it references (ON DELETE CASCADE)"
      }
    }
    if (columns.length > 0) {
      return {
        table: entry.table,
        rows: entry.rows.size,
        action: "erase" as const,
        columns,
        note: personal?.reason ?? null
      }
    }
    return {
      table: entry.table,
      rows: entry.rows.size,
      action: "keep" as const,
      columns: [],
      note: "no personal columns declared; kept"
    }
  })
}

/** Deletes or erases one table's rows; records each in the audit log; returns how many records it wrote. */
const eraseTable = (
  ctx: PrivacyContext,
  catalog: Catalog,
  found: ReadonlyMap<string, Found>,
  scope: Scope,
  step: ErasureStep,
  actor: string
) =>
  Effect.gen(function*() {
    const { sql } = ctx
    const info = catalog.tables.get(step.table)!
    const personal = personalOf(ctx.map, step.table, scope)!
    const entry = found.get(step.table)!
    const audit = auditTable(ctx.map, scope)
    const auditInfo = audit === null ? undefined : catalog.tables.get(audit)
    const keys = [...entry.rows.values()].map((row) => info.key.map((k) => row[k] ?? null))
    const match = `jsonb_build_array(${
      info.key.map((k) => `t.${quoteIdent(k)}`).join(", ")
    }) IN (SELECT jsonb_array_elements($1::jsonb))`
    const fail = (error: SqlError) => new ErasureFailed({ table: step.table, reason: ServerError.read(error).message })
    if (step.action === "delete") {
      yield* sql.unsafe(`DELETE FROM ${sqlName(step.table)} t WHERE ${match}`, [JSON.stringify(keys)]).pipe(
        Effect.mapError(fail)
      )
    } else {
      const encrypted = personal.columns.filter((c) => c.encrypted && c.erase !== "null")
      const sets = personal.columns
        .filter((c) => !encrypted.includes(c))
        .map((c) => `${quoteIdent(c.column)} = ${erasedValue(c, info.columns.get(c.column)?.type ?? "text")}`)
      // An encrypted column erased to something other than NULL gets the redaction encrypted.
      if (encrypted.length > 0 && ctx.keyring === undefined) {
        return yield* Effect.fail(
          new ErasureFailed({
            table: step.table,
            reason: "encrypted columns erased to a value need the field keys (DBKIT_FIELD_KEYS)"
          })
        )
      }
      const params: Array<unknown> = [JSON.stringify(keys)]
      for (const c of encrypted) {
        params.push(ctx.keyring!.encrypt("[erased]"))
        sets.push(
          `${quoteIdent(c.column)} = CASE WHEN t.${quoteIdent(c.column)} IS NULL THEN NULL ELSE $${params.length} END`
        )
      }
      if (sets.length > 0) {
        yield* sql.unsafe(`UPDATE ${sqlName(step.table)} t SET ${sets.join(", ")} WHERE ${match}`, params).pipe(
          Effect.mapError(fail)
        )
      }
    }
    if (auditInfo === undefined || !info.columns.has("tenant_id")) return 0
    const rows = [...entry.rows.values()]
    const [inserted] = yield* sql.unsafe<{ n: number }>(
      `WITH ins AS (INSERT INTO ${sqlName(audit!)} (tenant_id, actor, action, table_name, row_key, changed_columns)
         SELECT tenant::uuid, $1, 'erase', $2, k, $3::text[] FROM unnest($4::text[], $5::text[]) AS u(tenant, k)
         RETURNING 1)
       SELECT count(*)::int AS n FROM ins`,
      [
        actor,
        short(step.table),
        step.action === "delete" ? ["*"] : step.columns,
        rows.map((r) => String(r.tenant_id)),
        rows.map((r) => keyOf(r, info.key))
      ]
    )
    return inserted?.n ?? 0
  })

export const erase = (ctx: PrivacyContext, request: ErasureRequest) =>
  Effect.gen(function*() {
    const { map, sql } = ctx
    const email = yield* checkEmail(request.email)
    const scope = yield* resolveScope(ctx, request.tenant)
    const target = scope.label === null ? ctx.database.database : `${ctx.database.database} (tenant ${scope.label})`
    if (request.dryRun !== true) {
      yield* ctx.guard.confirm({
        action: "erase a person's data",
        variable: "DB_PRIVACY_ERASE",
        target,
        yes: request.yes
      })
    }
    const actor = request.actor ?? "dbkit privacy erase"
    const work = Effect.gen(function*() {
      const catalog = yield* catalogFor(ctx, scope)
      yield* requireMatch(map, catalog, scope)
      const found = yield* findSubject(map, catalog, email, scope)
      if (found.size === 0) return yield* Effect.fail(new SubjectNotFound({ tenant: scope.label }))
      const steps = erasurePlan(map, catalog, found, scope)

      const audit = auditTable(map, scope)
      const auditInfo = audit === null ? undefined : catalog.tables.get(audit)
      const byTenant = scope.tenantId !== null && auditInfo?.columns.has("tenant_id") === true
      const [actorRow] = auditInfo === undefined
        ? [{ n: 0 }]
        : yield* sql.unsafe<{ n: number }>(
          `SELECT count(*)::int AS n FROM ${sqlName(audit!)} WHERE lower(actor) = $1${
            byTenant ? ` AND tenant_id = $2::uuid` : ""
          }`,
          byTenant ? [email.toLowerCase(), scope.tenantId] : [email.toLowerCase()]
        )
      const auditActors = actorRow?.n ?? 0
      if (request.dryRun === true) {
        return { dryRun: true, tenant: scope.label, steps, auditActors, recorded: 0 } satisfies ErasureReport
      }

      yield* sql`SELECT set_config('app.actor', ${actor}, true)`
      const written = yield* Effect.forEach(
        steps.filter((step) => step.action === "erase" || step.action === "delete"),
        (step) => eraseTable(ctx, catalog, found, scope, step, actor)
      )
      if (auditInfo !== undefined && auditActors > 0) {
        // From the OS's CSPRNG, not `Random` (seeded with 32 bits): two people's entries must never share a pseudonym.
        const pseudonym = `erased-${crypto.randomUUID().replace(/-/g, "")}@erased.invalid`
        yield* sql.unsafe(
          `UPDATE ${sqlName(audit!)} SET actor = $1 WHERE lower(actor) = $2${
            byTenant ? ` AND tenant_id = $3::uuid` : ""
          }`,
          byTenant ? [pseudonym, email.toLowerCase(), scope.tenantId] : [pseudonym, email.toLowerCase()]
        )
      }
      // The proof before commit: nothing matches the email any more.
      const again = yield* findSubject(
        { ...map, tables: map.tables.filter((t) => t.subject !== null) },
        { ...catalog, foreignKeys: [] },
        email,
        scope
      )
      if (again.size > 0) {
        return yield* Effect.fail(
          new ErasureFailed({
            table: [...again.keys()].join(", "),
            reason: "rows still match the email after erasure (is the subject column erased?)"
          })
        )
      }
      const recorded = written.reduce((sum, n) => sum + n, 0)
      return { dryRun: false, tenant: scope.label, steps, auditActors, recorded } satisfies ErasureReport
    })
    return yield* sql.withTransaction(work)
  })
