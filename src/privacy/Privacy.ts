/**
 * Privacy: the data-protection duties of an application that holds personal data, over the
 * personal-data map (declare.ts).
 *
 * - `map`: the declaration beside the database's catalog: declared columns that are missing,
 *   and columns that look personal (email, phone, name, address, iban, tax id, birth date, ip)
 *   but are declared nowhere.
 * - `exportSubject`: everything held about a person (right of access): the rows whose subject
 *   column matches the email, every row that references them (foreign keys, transitively) and
 *   the audit entries about those rows, encrypted columns decrypted.
 * - `erase`: right to erasure, guarded, in one transaction: declared columns erased or
 *   pseudonymised per the map, rows of `onErase: "delete"` tables deleted, rows the law keeps
 *   (`onErase: "keep"`, and everything that references them, e.g. invoices) kept with the
 *   person's fields gone; audit entries whose actor is the email are pseudonymised; each erased
 *   row is recorded in the audit log (table, key, columns — never the values). A check before
 *   commit proves no row still matches the email.
 * - `auditReport`: a tenant's audit trail summarised over a period.
 *
 * Runs as a role that sees every tenant's rows (owner with BYPASSRLS, or superuser).
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as crypto from "node:crypto"
import type { InvalidConfig } from "../Config.js"
import { Database } from "../Database.js"
import { Guard, type GuardError } from "../Guard.js"
import { quoteIdent } from "../Identifier.js"
import { TenantNotFound } from "../tenancy/errors.js"
import * as Registry from "../tenancy/registry.js"
import { type Category, declaredColumns, looksPersonal, type PersonalColumn, type PrivacyMap } from "./declare.js"
import { ErasureFailed, InvalidSubject, PrivacyMapMismatch, SubjectNotFound } from "./errors.js"
import { type FieldDecryptFailed, type FieldKeyMissing, FieldKeysInvalid, type Keyring, optionalKeyring, tryDecrypt } from "./fieldCrypto.js"
import { loadPrivacyMap } from "./loadMap.js"
import { type Catalog, everywhere, findSubject, type Found, keyOf, readCatalog, type Row, type Scope, scopedName, sqlName } from "./subject.js"
import * as ServerError from "../ServerError.js"

export interface MapReport {
  readonly tables: ReadonlyArray<{
    readonly table: string
    readonly subject: string | null
    readonly onErase: "delete" | "keep"
    readonly reason: string | null
    readonly columns: ReadonlyArray<PersonalColumn & { readonly present: boolean }>
    readonly present: boolean
  }>
  /** Columns that look personal but are declared nowhere (and not listed as notPersonal). */
  readonly undeclared: ReadonlyArray<{ readonly column: string; readonly looksLike: Category }>
  readonly notPersonal: ReadonlyArray<string>
  /** Declared tables or columns the database does not have. */
  readonly missing: ReadonlyArray<string>
}

export interface SubjectExport {
  readonly subject: { readonly email: string; readonly tenant: { readonly id: string; readonly slug: string } | null }
  readonly generatedAt: string
  readonly tables: ReadonlyArray<{
    readonly table: string
    /** How the rows were reached: the subject column, or a foreign key. */
    readonly via: ReadonlyArray<string>
    /** Declared personal columns of this table, and what erasure would do. */
    readonly personal: ReadonlyArray<{ readonly column: string; readonly category: Category; readonly erase: string }>
    /** Why these rows would be kept after an erasure, when the law keeps them. */
    readonly retained: string | null
    readonly rows: ReadonlyArray<Row>
  }>
  /** Audit entries about these rows, or made by the person. */
  readonly audit: ReadonlyArray<Row>
}

export interface ErasureStep {
  readonly table: string
  readonly rows: number
  /** `delete`, `erase` (columns erased in place), `cascade` (deleted with a parent), `keep` (no personal columns). */
  readonly action: "delete" | "erase" | "cascade" | "keep"
  readonly columns: ReadonlyArray<string>
  readonly note: string | null
}

export interface ErasureReport {
  readonly dryRun: boolean
  readonly tenant: string | null
  readonly steps: ReadonlyArray<ErasureStep>
  /** Audit entries whose actor was the email, pseudonymised. */
  readonly auditActors: number
  /** Erasure records written to the audit log. */
  readonly recorded: number
}

export interface AuditReport {
  readonly tenant: { readonly id: string; readonly slug: string } | null
  readonly from: string | null
  readonly to: string | null
  readonly total: number
  readonly rowsTouched: number
  readonly first: string | null
  readonly last: string | null
  readonly byTable: ReadonlyArray<{ readonly table: string; readonly insert: number; readonly update: number; readonly delete: number; readonly other: number }>
  readonly byActor: ReadonlyArray<{ readonly actor: string; readonly entries: number }>
  readonly byDay: ReadonlyArray<{ readonly day: string; readonly entries: number }>
}

export interface SubjectRequest {
  readonly email: string
  /** A tenant's slug or id; all tenants when omitted. */
  readonly tenant?: string | undefined
}

type KeyError = FieldKeysInvalid | FieldKeyMissing | FieldDecryptFailed
export type SubjectError = InvalidSubject | SubjectNotFound | TenantNotFound | PrivacyMapMismatch | SqlError

/** The Privacy service. */
export class Privacy extends Context.Tag("dbkit/Privacy")<Privacy, {
  readonly privacyMap: PrivacyMap
  readonly map: Effect.Effect<MapReport, SqlError>
  readonly exportSubject: (request: SubjectRequest) => Effect.Effect<SubjectExport, SubjectError | KeyError>
  readonly erase: (
    request: SubjectRequest & { readonly dryRun?: boolean | undefined; readonly yes?: boolean | undefined; readonly actor?: string | undefined }
  ) => Effect.Effect<ErasureReport, SubjectError | ErasureFailed | GuardError>
  readonly auditReport: (
    options: { readonly tenant?: string | undefined; readonly from?: Date | undefined; readonly to?: Date | undefined }
  ) => Effect.Effect<AuditReport, TenantNotFound | PrivacyMapMismatch | SqlError>
}>() {}

const EMAIL = /^[^\s@]+@[^\s@]+$/

const checkEmail = (email: string) =>
  email.length > 320 || !EMAIL.test(email.trim())
    ? Effect.fail(new InvalidSubject({ reason: "--email must be one email address" }))
    : Effect.succeed(email.trim())

const short = (qualified: string) => qualified.slice(qualified.indexOf(".") + 1)

const make = (options: { readonly map: PrivacyMap; readonly keyring?: Keyring | undefined }) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const database = yield* Database
    const guard = yield* Guard
    const map = options.map
    const declared = declaredColumns(map)
    const mapSchemas = [...new Set([...map.tables.map((t) => t.schema), ...(map.auditLog ? [map.auditLog.schema] : []), "public"])]

    const resolveScope = (tenant: string | undefined) =>
      Effect.gen(function*() {
        if (tenant === undefined) return { ...everywhere, tenant: null as { id: string; slug: string } | null }
        const [registry] = yield* sql.unsafe<{ e: boolean }>(`SELECT to_regclass('dbkit.tenants') IS NOT NULL AS e`)
        const found = registry?.e ? yield* Registry.find(tenant) : undefined
        if (found === undefined) return yield* Effect.fail(new TenantNotFound({ tenant }))
        return {
          tenantId: found.strategy === "rls" ? found.id : null,
          schema: found.strategy === "schema" ? found.schema : null,
          label: found.slug,
          tenant: { id: found.id, slug: found.slug } as { id: string; slug: string } | null
        }
      }).pipe(Effect.provideService(SqlClient.SqlClient, sql))

    const catalogFor = (scope: Scope) => readCatalog(scope.schema === null ? mapSchemas : [...new Set([scope.schema, ...mapSchemas])])

    /** Declared tables and columns the scope's database lacks. */
    const mismatches = (catalog: Catalog, scope: Scope) =>
      map.tables.flatMap((t) => {
        const info = catalog.tables.get(scopedName(t, scope))
        if (info === undefined) return [`table ${scopedName(t, scope)} does not exist`]
        return [
          ...t.columns.filter((c) => !info.columns.has(c.column)).map((c) => `column ${scopedName(t, scope)}.${c.column} does not exist`),
          ...(t.subject !== null && !info.columns.has(t.subject) ? [`subject column ${scopedName(t, scope)}.${t.subject} does not exist`] : [])
        ]
      })

    const requireMatch = (catalog: Catalog, scope: Scope) => {
      const problems = mismatches(catalog, scope)
      return problems.length > 0 ? Effect.fail(new PrivacyMapMismatch({ problems })) : Effect.void
    }

    const mapReport = Effect.gen(function*() {
      const catalog = yield* readCatalog(mapSchemas)
      const notPersonal = new Set(map.notPersonal)
      const undeclared = [...catalog.tables.values()]
        .filter((t) => !t.table.startsWith("dbkit_") && !t.table.startsWith("__drizzle"))
        .flatMap((t) =>
          [...t.columns.keys()].flatMap((column) => {
            const name = `${t.qualified}.${column}`
            const looksLike = looksPersonal(column)
            return looksLike !== undefined && !declared.has(name) && !notPersonal.has(name) ? [{ column: name, looksLike }] : []
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
        missing: mismatches(catalog, everywhere)
      } satisfies MapReport
    })

    const decryptRow = (table: string, row: Row, key: ReadonlyArray<string>, columns: ReadonlyArray<PersonalColumn>) =>
      Effect.gen(function*() {
        const encrypted = columns.filter((c) => c.encrypted && typeof row[c.column] === "string")
        if (encrypted.length === 0) return row
        const keyring = options.keyring
        if (keyring === undefined) {
          return yield* Effect.fail(
            new FieldKeysInvalid({ source: "the environment", reason: `${table} has encrypted columns; set DBKIT_FIELD_KEYS or DBKIT_FIELD_KEYS_FILE to export them` })
          )
        }
        const copy = { ...row }
        for (const c of encrypted) {
          copy[c.column] = yield* tryDecrypt(keyring, row[c.column] as string, `${table}.${c.column} of row ${keyOf(row, key)}`)
        }
        return copy
      })

    const personalOf = (table: string, scope: Scope) => map.tables.find((t) => scopedName(t, scope) === table)

    const auditTable = (scope: Scope) => (map.auditLog === null ? null : `${scope.schema ?? map.auditLog.schema}.${map.auditLog.table}`)

    const auditRows = (catalog: Catalog, found: ReadonlyMap<string, Found>, actors: ReadonlyArray<string>, scope: Scope) =>
      Effect.gen(function*() {
        const table = auditTable(scope)
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
        const rows = yield* sql.unsafe<{ r: Row }>(
          `SELECT to_jsonb(a) AS r FROM ${sqlName(table)} a
            WHERE ((a.table_name, a.row_key) IN (SELECT * FROM unnest($1::text[], $2::text[])) OR lower(a.actor) = ANY($3::text[]))${tenant}
            ORDER BY a.at, a.id`,
          params
        )
        return rows.map((r) => r.r)
      })

    const exportSubject = (request: SubjectRequest) =>
      Effect.gen(function*() {
        const email = yield* checkEmail(request.email)
        const scope = yield* resolveScope(request.tenant)
        return yield* sql.withTransaction(
          Effect.gen(function*() {
            yield* sql`SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY`.pipe(Effect.when(() => database.kind === "server"))
            const catalog = yield* catalogFor(scope)
            yield* requireMatch(catalog, scope)
            const found = yield* findSubject(map, catalog, email, scope)
            if (found.size === 0) return yield* Effect.fail(new SubjectNotFound({ tenant: scope.label }))
            const subjectIds = [...found.entries()].flatMap(([table, entry]) =>
              personalOf(table, scope)?.subject ? [...entry.rows.values()].map((r) => String(r.id ?? "")) : []
            ).filter((id) => id !== "")
            const audit = yield* auditRows(catalog, found, [email.toLowerCase(), ...subjectIds.map((id) => id.toLowerCase())], scope)
            const tables = yield* Effect.forEach([...found.values()], (entry) =>
              Effect.gen(function*() {
                const personal = personalOf(entry.table, scope)
                const key = catalog.tables.get(entry.table)?.key ?? []
                const rows = yield* Effect.forEach([...entry.rows.values()], (row) => decryptRow(entry.table, row, key, personal?.columns ?? []))
                return {
                  table: entry.table,
                  via: [...entry.via],
                  personal: (personal?.columns ?? []).map((c) => ({ column: c.column, category: c.category, erase: c.erase })),
                  retained: personal?.onErase === "keep" ? personal.reason ?? "kept by declaration" : personal === undefined ? "references the person's records; no personal columns declared" : null,
                  rows
                }
              }))
            return {
              subject: { email, tenant: scope.tenant },
              generatedAt: new Date().toISOString(),
              tables,
              audit
            } satisfies SubjectExport
          })
        )
      })

    /** The SQL expression a column is erased to. */
    const erasedValue = (column: PersonalColumn, type: string): string => {
      const text = /^(text|character varying|varchar|character|citext)/.test(type)
      if (column.erase === "null") return "NULL"
      if (!text) return column.nullable ? "NULL" : quoteIdent(column.column) // a non-text NOT NULL column stays (documented)
      if (column.erase === "redact") return `'[erased]'`
      const token = `replace(gen_random_uuid()::text, '-', '')`
      return column.category === "email" ? `'erased-' || ${token} || '@erased.invalid'` : `'erased-' || ${token}`
    }

    const erase = (
      request: SubjectRequest & { readonly dryRun?: boolean | undefined; readonly yes?: boolean | undefined; readonly actor?: string | undefined }
    ) =>
      Effect.gen(function*() {
        const email = yield* checkEmail(request.email)
        const scope = yield* resolveScope(request.tenant)
        const target = scope.label === null ? database.database : `${database.database} (tenant ${scope.label})`
        if (request.dryRun !== true) {
          yield* guard.confirm({ action: "erase a person's data", variable: "DB_PRIVACY_ERASE", target, yes: request.yes })
        }
        const work = Effect.gen(function*() {
          const catalog = yield* catalogFor(scope)
          yield* requireMatch(catalog, scope)
          const found = yield* findSubject(map, catalog, email, scope)
          if (found.size === 0) return yield* Effect.fail(new SubjectNotFound({ tenant: scope.label }))

          // What happens to each table: declared subject tables per their onErase, tables reached
          // from deleted rows by cascading keys are deleted with them, others keep their rows
          // (erasing their declared columns, if any).
          const deleted = new Set<string>()
          for (const table of found.keys()) {
            const personal = personalOf(table, scope)
            if (personal?.onErase === "delete" && personal.subject !== null) deleted.add(table)
          }
          const cascaded = new Set<string>()
          let grew = true
          while (grew) {
            grew = false
            for (const fk of catalog.foreignKeys) {
              if ((deleted.has(fk.parent) || cascaded.has(fk.parent)) && fk.onDelete === "c" && found.has(fk.child) && !deleted.has(fk.child) && !cascaded.has(fk.child)) {
                cascaded.add(fk.child)
                grew = true
              }
            }
          }
          const steps: Array<ErasureStep> = [...found.values()].map((entry) => {
            const personal = personalOf(entry.table, scope)
            const columns = personal?.columns.map((c) => c.column) ?? []
            if (deleted.has(entry.table)) return { table: entry.table, rows: entry.rows.size, action: "delete" as const, columns, note: null }
            if (cascaded.has(entry.table)) return { table: entry.table, rows: entry.rows.size, action: "cascade" as const, columns: [], note: "deleted with the rows it references (ON DELETE CASCADE)" }
            if (columns.length > 0) return { table: entry.table, rows: entry.rows.size, action: "erase" as const, columns, note: personal?.reason ?? null }
            return { table: entry.table, rows: entry.rows.size, action: "keep" as const, columns: [], note: "no personal columns declared; kept" }
          })

          const audit = auditTable(scope)
          const auditInfo = audit === null ? undefined : catalog.tables.get(audit)
          const [actorRow] = auditInfo === undefined
            ? [{ n: 0 }]
            : yield* sql.unsafe<{ n: number }>(`SELECT count(*)::int AS n FROM ${sqlName(audit!)} WHERE lower(actor) = $1${scope.tenantId !== null && auditInfo.columns.has("tenant_id") ? ` AND tenant_id = $2::uuid` : ""}`, scope.tenantId !== null && auditInfo.columns.has("tenant_id") ? [email.toLowerCase(), scope.tenantId] : [email.toLowerCase()])
          if (request.dryRun === true) {
            return { dryRun: true, tenant: scope.label, steps, auditActors: actorRow?.n ?? 0, recorded: 0 } satisfies ErasureReport
          }

          yield* sql`SELECT set_config('app.actor', ${request.actor ?? "dbkit privacy erase"}, true)`
          let recorded = 0
          for (const step of steps) {
            if (step.action !== "erase" && step.action !== "delete") continue
            const info = catalog.tables.get(step.table)!
            const personal = personalOf(step.table, scope)!
            const entry = found.get(step.table)!
            const keys = [...entry.rows.values()].map((row) => info.key.map((k) => row[k] ?? null))
            const match = `jsonb_build_array(${info.key.map((k) => `t.${quoteIdent(k)}`).join(", ")}) IN (SELECT jsonb_array_elements($1::jsonb))`
            const fail = (error: SqlError) =>
              new ErasureFailed({ table: step.table, reason: ServerError.read(error).message })
            if (step.action === "delete") {
              yield* sql.unsafe(`DELETE FROM ${sqlName(step.table)} t WHERE ${match}`, [JSON.stringify(keys)]).pipe(Effect.mapError(fail))
            } else {
              const encrypted = personal.columns.filter((c) => c.encrypted && c.erase !== "null")
              const sets = personal.columns
                .filter((c) => !encrypted.includes(c))
                .map((c) => `${quoteIdent(c.column)} = ${erasedValue(c, info.columns.get(c.column)?.type ?? "text")}`)
              // An encrypted column erased to something other than NULL gets the redaction encrypted.
              if (encrypted.length > 0 && options.keyring === undefined) {
                return yield* Effect.fail(new ErasureFailed({ table: step.table, reason: "encrypted columns erased to a value need the field keys (DBKIT_FIELD_KEYS)" }))
              }
              const params: Array<unknown> = [JSON.stringify(keys)]
              for (const c of encrypted) {
                params.push(options.keyring!.encrypt("[erased]"))
                sets.push(`${quoteIdent(c.column)} = CASE WHEN t.${quoteIdent(c.column)} IS NULL THEN NULL ELSE $${params.length} END`)
              }
              if (sets.length > 0) {
                yield* sql.unsafe(`UPDATE ${sqlName(step.table)} t SET ${sets.join(", ")} WHERE ${match}`, params).pipe(Effect.mapError(fail))
              }
            }
            if (auditInfo !== undefined && info.columns.has("tenant_id")) {
              const rows = [...entry.rows.values()]
              const [inserted] = yield* sql.unsafe<{ n: number }>(
                `WITH ins AS (INSERT INTO ${sqlName(audit!)} (tenant_id, actor, action, table_name, row_key, changed_columns)
                   SELECT tenant::uuid, $1, 'erase', $2, k, $3::text[] FROM unnest($4::text[], $5::text[]) AS u(tenant, k)
                   RETURNING 1)
                 SELECT count(*)::int AS n FROM ins`,
                [request.actor ?? "dbkit privacy erase", short(step.table), step.action === "delete" ? ["*"] : step.columns, rows.map((r) => String(r.tenant_id)), rows.map((r) => keyOf(r, info.key))]
              )
              recorded += inserted?.n ?? 0
            }
          }
          if (auditInfo !== undefined && (actorRow?.n ?? 0) > 0) {
            const pseudonym = `erased-${crypto.randomUUID().replace(/-/g, "")}@erased.invalid`
            yield* sql.unsafe(
              `UPDATE ${sqlName(audit!)} SET actor = $1 WHERE lower(actor) = $2${scope.tenantId !== null && auditInfo.columns.has("tenant_id") ? ` AND tenant_id = $3::uuid` : ""}`,
              scope.tenantId !== null && auditInfo.columns.has("tenant_id") ? [pseudonym, email.toLowerCase(), scope.tenantId] : [pseudonym, email.toLowerCase()]
            )
          }
          // The proof before commit: nothing matches the email any more.
          const again = yield* findSubject({ ...map, tables: map.tables.filter((t) => t.subject !== null) }, { ...catalog, foreignKeys: [] }, email, scope)
          if (again.size > 0) {
            return yield* Effect.fail(new ErasureFailed({ table: [...again.keys()].join(", "), reason: "rows still match the email after erasure (is the subject column erased?)" }))
          }
          return { dryRun: false, tenant: scope.label, steps, auditActors: actorRow?.n ?? 0, recorded } satisfies ErasureReport
        })
        return yield* sql.withTransaction(work)
      })

    const auditReport = (options: { readonly tenant?: string | undefined; readonly from?: Date | undefined; readonly to?: Date | undefined }) =>
      Effect.gen(function*() {
        const scope = yield* resolveScope(options.tenant)
        const table = auditTable(scope)
        const catalog = yield* catalogFor(scope)
        if (table === null || !catalog.tables.has(table)) {
          return yield* Effect.fail(new PrivacyMapMismatch({ problems: [table === null ? "the map declares no auditLog table" : `audit table ${table} does not exist`] }))
        }
        const params: Array<unknown> = []
        const where: Array<string> = []
        if (scope.tenantId !== null && catalog.tables.get(table)!.columns.has("tenant_id")) where.push(`tenant_id = $${params.push(scope.tenantId)}::uuid`)
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

    const local = <A, E>(effect: Effect.Effect<A, E, SqlClient.SqlClient>) => Effect.provideService(effect, SqlClient.SqlClient, sql)
    return {
      privacyMap: map,
      map: local(mapReport),
      exportSubject: (request) => local(exportSubject(request)),
      erase: (request) => local(erase(request)),
      auditReport: (request) => local(auditReport(request))
    } satisfies Context.Tag.Service<Privacy>
  })

/** The Privacy service over a personal-data map; `keyring` decrypts encrypted columns for exports. */
export const layer = (options: { readonly map: PrivacyMap; readonly keyring?: Keyring | undefined }): Layer.Layer<
  Privacy,
  never,
  SqlClient.SqlClient | Database | Guard
> => Layer.effect(Privacy, make(options))

/**
 * The Privacy service over the project's map (dbkit.config.ts `privacy`, or DBKIT_PRIVACY_MAP)
 * and the field keys in DBKIT_FIELD_KEYS / DBKIT_FIELD_KEYS_FILE (optional: exports of
 * encrypted columns need them).
 */
export const layerConfig = (): Layer.Layer<Privacy, InvalidConfig | FieldKeysInvalid, SqlClient.SqlClient | Database | Guard> =>
  Layer.unwrapEffect(
    Effect.gen(function*() {
      const map = yield* loadPrivacyMap()
      const keyring = yield* optionalKeyring()
      return layer({ map, keyring })
    })
  )
