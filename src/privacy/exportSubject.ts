/**
 * Right of access: everything held about a person, read in one repeatable-read snapshot — the
 * rows whose subject column matches the email, every row that references them (foreign keys,
 * transitively) and the audit entries about those rows, encrypted columns decrypted.
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
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
import type { PersonalColumn } from "./declare.js"
import { SubjectNotFound } from "./errors.js"
import { FieldKeysInvalid, tryDecrypt } from "./fieldCrypto.js"
import type { SubjectExport, SubjectRequest } from "./Privacy.js"
import { type Catalog, findSubject, type Found, keyOf, type Row, type Scope, sqlName } from "./subject.js"

const decryptRow = (
  ctx: PrivacyContext,
  table: string,
  row: Row,
  key: ReadonlyArray<string>,
  columns: ReadonlyArray<PersonalColumn>
) =>
  Effect.gen(function*() {
    const encrypted = columns.filter((c) => c.encrypted && typeof row[c.column] === "string")
    if (encrypted.length === 0) return row
    const keyring = ctx.keyring
    if (keyring === undefined) {
      return yield* Effect.fail(
        new FieldKeysInvalid({
          source: "the environment",
          reason: `${table} has encrypted columns; set DBKIT_FIELD_KEYS or DBKIT_FIELD_KEYS_FILE to export them`
        })
      )
    }
    const copy = { ...row }
    for (const c of encrypted) {
      copy[c.column] = yield* tryDecrypt(
        keyring,
        row[c.column] as string,
        `${table}.${c.column} of row ${keyOf(row, key)}`
      )
    }
    return copy
  })

/** Audit entries about the found rows, or made by one of `actors`. */
const auditRows = (
  ctx: PrivacyContext,
  catalog: Catalog,
  found: ReadonlyMap<string, Found>,
  actors: ReadonlyArray<string>,
  scope: Scope
) =>
  Effect.gen(function*() {
    const table = auditTable(ctx.map, scope)
    if (table === null || !catalog.tables.has(table)) return []
    const names: Array<string> = []
    const keys: Array<string> = []
    for (const [qualified, entry] of found) {
      for (const k of entry.rows.keys()) {
        names.push(short(qualified))
        keys.push(k)
      }
    }
    const params: Array<unknown> = [names, keys, actors]
    const tenant = scope.tenantId !== null && catalog.tables.get(table)?.columns.has("tenant_id")
      ? ` AND a.tenant_id = $${params.push(scope.tenantId)}::uuid`
      : ""
    const rows = yield* ctx.sql.unsafe<{ r: Row }>(
      `SELECT to_jsonb(a) AS r FROM ${sqlName(table)} a
        WHERE ((a.table_name, a.row_key) IN (SELECT * FROM unnest($1::text[], $2::text[])) OR lower(a.actor) = ANY($3::text[]))${tenant}
        ORDER BY a.at, a.id`,
      params
    )
    return rows.map((r) => r.r)
  })

export const exportSubject = (ctx: PrivacyContext, request: SubjectRequest) =>
  Effect.gen(function*() {
    const { map, sql } = ctx
    const email = yield* checkEmail(request.email)
    const scope = yield* resolveScope(ctx, request.tenant)
    return yield* sql.withTransaction(
      Effect.gen(function*() {
        yield* sql`SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY`.pipe(
          Effect.when(() => ctx.database.kind === "server")
        )
        const catalog = yield* catalogFor(ctx, scope)
        yield* requireMatch(map, catalog, scope)
        const found = yield* findSubject(map, catalog, email, scope)
        if (found.size === 0) return yield* Effect.fail(new SubjectNotFound({ tenant: scope.label }))
        const subjectIds = [...found.entries()].flatMap(([table, entry]) =>
          personalOf(map, table, scope)?.subject ? [...entry.rows.values()].map((r) => String(r.id ?? "")) : []
        ).filter((id) => id !== "")
        const audit = yield* auditRows(ctx, catalog, found, [
          email.toLowerCase(),
          ...subjectIds.map((id) => id.toLowerCase())
        ], scope)
        const tables = yield* Effect.forEach([...found.values()], (entry) =>
          Effect.gen(function*() {
            const personal = personalOf(map, entry.table, scope)
            const key = catalog.tables.get(entry.table)?.key ?? []
            const rows = yield* Effect.forEach(
              [...entry.rows.values()],
              (row) => decryptRow(ctx, entry.table, row, key, personal?.columns ?? [])
            )
            return {
              table: entry.table,
              via: [...entry.via],
              personal: (personal?.columns ?? []).map((c) => ({
                column: c.column,
                category: c.category,
                erase: c.erase
              })),
              retained: personal?.onErase === "keep"
                ? personal.reason ?? "kept by declaration"
                : personal === undefined
                ? "references the person's records; no personal columns declared"
                : null,
              rows
            }
          }))
        return {
          subject: { email, tenant: scope.tenant },
          generatedAt: new Date(yield* Clock.currentTimeMillis).toISOString(),
          tables,
          audit
        } satisfies SubjectExport
      })
    )
  })
