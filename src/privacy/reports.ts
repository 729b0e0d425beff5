/**
 * The read-only reports: the map beside the database's catalog, and a tenant's audit trail
 * summarised over a period.
 */
import * as Effect from "effect/Effect"
import { auditTable, catalogFor, mismatches, type PrivacyContext, resolveScope } from "./context.js"
import { looksPersonal } from "./declare.js"
import { PrivacyMapMismatch } from "./errors.js"
import type { AuditOptions, AuditReport, MapReport } from "./Privacy.js"
import { everywhere, readCatalog, sqlName } from "./subject.js"

/** Declared columns that are missing, and columns that look personal but are declared nowhere. */
export const mapReport = (ctx: PrivacyContext) =>
  Effect.gen(function*() {
    const { declared, map } = ctx
    const catalog = yield* readCatalog(ctx.mapSchemas)
    const notPersonal = new Set(map.notPersonal)
    const undeclared = [...catalog.tables.values()]
      .filter((t) => !t.table.startsWith("dbkit_") && !t.table.startsWith("__drizzle"))
      .flatMap((t) =>
        [...t.columns.keys()].flatMap((column) => {
          const name = `${t.qualified}.${column}`
          const looksLike = looksPersonal(column)
          return looksLike !== undefined && !declared.has(name) && !notPersonal.has(name)
            ? [{ column: name, looksLike }]
            : []
        })
      )
    return {
      tables: map.tables.map((t) => {
        const info = catalog.tables.get(`${t.schema}.${t.table}`)
        return {
          table: `${t.schema}.${t.table}`,
          subject: t.subject,
          onErase: t.onErase,
          reason: t.reason,
          present: info !== undefined,
          columns: t.columns.map((c) => ({ ...c, present: info?.columns.has(c.column) ?? false }))
        }
      }),
      undeclared,
      notPersonal: map.notPersonal,
      missing: mismatches(map, catalog, everywhere)
    } satisfies MapReport
  })

/** A tenant's (or every tenant's) audit entries over a period: totals, by table, by actor, by day. */
export const auditReport = (ctx: PrivacyContext, options: AuditOptions) =>
  Effect.gen(function*() {
    const { sql } = ctx
    const scope = yield* resolveScope(ctx, options.tenant)
    const table = auditTable(ctx.map, scope)
    const catalog = yield* catalogFor(ctx, scope)
    if (table === null || !catalog.tables.has(table)) {
      return yield* Effect.fail(
        new PrivacyMapMismatch({
          problems: [table === null ? "the map declares no auditLog table" : `audit table ${table} does not exist`]
        })
      )
    }
    const params: Array<unknown> = []
    const where: Array<string> = []
    if (scope.tenantId !== null && catalog.tables.get(table)!.columns.has("tenant_id")) {
      where.push(`tenant_id = $${params.push(scope.tenantId)}::uuid`)
    }
    if (options.from !== undefined) where.push(`at >= $${params.push(options.from.toISOString())}::timestamptz`)
    if (options.to !== undefined) where.push(`at < $${params.push(options.to.toISOString())}::timestamptz`)
    const filter = where.length > 0 ? `WHERE ${where.join(" AND ")}` : ""
    const from = `FROM ${sqlName(table)} ${filter}`
    const [totals] = yield* sql.unsafe<{ total: number; touched: number; first: string | null; last: string | null }>(
      `SELECT count(*)::int AS total, count(DISTINCT (table_name, row_key))::int AS touched,
              to_char(min(at) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS first,
              to_char(max(at) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS last ${from}`,
      params
    )
    const byTable = yield* sql.unsafe<{ table: string; insert: number; update: number; delete: number; other: number }>(
      `SELECT table_name AS table, count(*) FILTER (WHERE action = 'insert')::int AS insert,
              count(*) FILTER (WHERE action = 'update')::int AS update, count(*) FILTER (WHERE action = 'delete')::int AS delete,
              count(*) FILTER (WHERE action NOT IN ('insert', 'update', 'delete'))::int AS other
         ${from} GROUP BY table_name ORDER BY count(*) DESC, table_name`,
      params
    )
    const byActor = yield* sql.unsafe<{ actor: string; entries: number }>(
      `SELECT actor, count(*)::int AS entries ${from} GROUP BY actor ORDER BY count(*) DESC, actor LIMIT 20`,
      params
    )
    const byDay = yield* sql.unsafe<{ day: string; entries: number }>(
      `SELECT to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS day, count(*)::int AS entries ${from} GROUP BY 1 ORDER BY 1`,
      params
    )
    return {
      tenant: scope.tenant,
      from: options.from?.toISOString() ?? null,
      to: options.to?.toISOString() ?? null,
      total: totals?.total ?? 0,
      rowsTouched: totals?.touched ?? 0,
      first: totals?.first ?? null,
      last: totals?.last ?? null,
      byTable,
      byActor,
      byDay
    } satisfies AuditReport
  })
