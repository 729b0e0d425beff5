/**
 * What every Privacy operation works with — the map, the database, the guard, the field keys —
 * and what they share: a tenant resolved to a scope, the scope's catalog checked against the map.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"
import type { Database } from "../Database.js"
import type { Guard } from "../Guard.js"
import { TenantNotFound } from "../tenancy/errors.js"
import * as Registry from "../tenancy/registry.js"
import { declaredColumns, type PersonalColumn, type PrivacyMap } from "./declare.js"
import { InvalidSubject, PrivacyMapMismatch } from "./errors.js"
import type { Keyring } from "./fieldCrypto.js"
import { type Catalog, everywhere, readCatalog, type Scope, scopedName } from "./subject.js"

export interface PrivacyContext {
  readonly sql: SqlClient.SqlClient
  readonly database: Database["Type"]
  readonly guard: Guard["Type"]
  readonly map: PrivacyMap
  /** Decrypts encrypted columns for exports, encrypts their redaction on erasure. */
  readonly keyring: Keyring | undefined
  /** Every declared column, by qualified name. */
  readonly declared: ReadonlyMap<string, PersonalColumn>
  /** The schemas the map names, and public. */
  readonly mapSchemas: ReadonlyArray<string>
}

/** The context over the services and the map. */
export const privacyContext = (
  services: Pick<PrivacyContext, "sql" | "database" | "guard">,
  options: { readonly map: PrivacyMap; readonly keyring?: Keyring | undefined }
): PrivacyContext => {
  const map = options.map
  return {
    ...services,
    map,
    keyring: options.keyring,
    declared: declaredColumns(map),
    mapSchemas: [
      ...new Set([...map.tables.map((t) => t.schema), ...(map.auditLog ? [map.auditLog.schema] : []), "public"])
    ]
  }
}

/** A tenant as reports name it. */
export type TenantRef = { readonly id: string; readonly slug: string }

const EMAIL = /^[^\s@]+@[^\s@]+$/

export const checkEmail = (email: string) =>
  email.length > 320 || !EMAIL.test(email.trim())
    ? Effect.fail(new InvalidSubject({ reason: "--email must be one email address" }))
    : Effect.succeed(email.trim())

/** The table part of a qualified name. */
export const short = (qualified: string) => qualified.slice(qualified.indexOf(".") + 1)

/** The rows a request covers: every tenant's, or one tenant's (its RLS id or its schema). */
export const resolveScope = (ctx: PrivacyContext, tenant: string | undefined) =>
  Effect.gen(function*() {
    if (tenant === undefined) return { ...everywhere, tenant: null as TenantRef | null }
    const [registry] = yield* ctx.sql.unsafe<{ e: boolean }>(`SELECT to_regclass('dbkit.tenants') IS NOT NULL AS e`)
    const found = registry?.e ? yield* Registry.find(tenant) : undefined
    if (found === undefined) return yield* Effect.fail(new TenantNotFound({ tenant }))
    return {
      tenantId: found.strategy === "rls" ? found.id : null,
      schema: found.strategy === "schema" ? found.schema : null,
      label: found.slug,
      tenant: { id: found.id, slug: found.slug } as TenantRef | null
    }
  }).pipe(Effect.provideService(SqlClient.SqlClient, ctx.sql))

export const catalogFor = (ctx: PrivacyContext, scope: Scope) =>
  readCatalog(scope.schema === null ? ctx.mapSchemas : [...new Set([scope.schema, ...ctx.mapSchemas])])

/** Declared tables and columns the scope's database lacks. */
export const mismatches = (map: PrivacyMap, catalog: Catalog, scope: Scope) =>
  map.tables.flatMap((t) => {
    const info = catalog.tables.get(scopedName(t, scope))
    if (info === undefined) return [`table ${scopedName(t, scope)} does not exist`]
    return [
      ...t.columns.filter((c) => !info.columns.has(c.column)).map((c) =>
        `column ${scopedName(t, scope)}.${c.column} does not exist`
      ),
      ...(t.subject !== null && !info.columns.has(t.subject)
        ? [`subject column ${scopedName(t, scope)}.${t.subject} does not exist`]
        : [])
    ]
  })

export const requireMatch = (map: PrivacyMap, catalog: Catalog, scope: Scope) => {
  const problems = mismatches(map, catalog, scope)
  return problems.length > 0 ? Effect.fail(new PrivacyMapMismatch({ problems })) : Effect.void
}

/** The map's declaration of a (scoped) table. */
export const personalOf = (map: PrivacyMap, table: string, scope: Scope) =>
  map.tables.find((t) => scopedName(t, scope) === table)

/** The scope's audit table, when the map declares one. */
export const auditTable = (map: PrivacyMap, scope: Scope) =>
  map.auditLog === null ? null : `${scope.schema ?? map.auditLog.schema}.${map.auditLog.table}`
