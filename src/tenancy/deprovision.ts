/**
 * Deprovisioning a tenant: guarded, after a backup of its data — a pg_dump of its schema
 * (schema), or its rows exported as SQL (rls) — then the schema dropped or the rows deleted,
 * and the registry row with them.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as fs from "node:fs"
import { Backup, type BackupError, layer as backupLayer } from "../backup/Backup.js"
import { DbConfig } from "../Config.js"
import { Guard } from "../Guard.js"
import { quoteIdent, quoteQualified } from "../Identifier.js"
import * as ServerError from "../ServerError.js"
import { shardContext, type TenancyContext } from "./context.js"
import { DeprovisionFailed, type UnknownShard } from "./errors.js"
import { exportRows, tenantTables } from "./exportRows.js"
import type * as Registry from "./registry.js"
import { get } from "./tenants.js"

export interface DeprovisionOptions {
  readonly yes?: boolean | undefined
  readonly backup?: boolean | undefined
  readonly out?: string | undefined
}

export interface DeprovisionResult {
  readonly tenant: Registry.Tenant
  /** The backup of the tenant's data taken first, unless skipped. */
  readonly backup: string | null
  /** Rows deleted per table (rls) or the schema dropped (schema). */
  readonly removed: Readonly<Record<string, number>> | { readonly schema: string }
}

/**
 * Deletes the tenant and all its data, guarded (DB_TENANT_DEPROVISION_CONFIRM / --yes;
 * production also DB_TENANT_DEPROVISION_ALLOW_PRODUCTION), after backing the data up.
 */
export const deprovision = (context: TenancyContext, slug: string, options: DeprovisionOptions = {}) =>
  Effect.gen(function*() {
    const guard = yield* Guard
    const tenant = yield* get(context, slug)
    yield* guard.confirm({
      action: "delete this tenant and all its data",
      variable: "DB_TENANT_DEPROVISION",
      target: tenant.slug,
      yes: options.yes
    })
    const out = options.out ?? context.config.backupDir
    const takeBackup = options.backup !== false
    // The backup a failed run wrote is removed with the failure: a file beside the real backups
    // that restores a tenant which was never deleted would only mislead.
    const written: Array<string> = []
    const work: Effect.Effect<DeprovisionResult, UnknownShard | BackupError | SqlError> = tenant.strategy === "schema"
      ? dropSchema(context, tenant, takeBackup ? out : undefined, written)
      : deleteRows(context, tenant, takeBackup ? out : undefined, written)
    return yield* work.pipe(
      Effect.onError(() =>
        Effect.sync(() => {
          for (const file of written) fs.rmSync(file, { force: true })
        })
      ),
      Effect.catchTag("SqlError", (error) =>
        Effect.fail(
          new DeprovisionFailed({
            slug: tenant.slug,
            reason: ServerError.describe(error, { firstLine: true, max: 300 }),
            referenced: ServerError.sqlState(error) === "23503"
          })
        ))
    )
  })

/** A schema tenant: its schema dumped to `out` (unless undefined), dropped on its shard, and unregistered. */
const dropSchema = (
  context: TenancyContext,
  tenant: Registry.Tenant,
  out: string | undefined,
  written: Array<string>
) =>
  Effect.scoped(
    Effect.gen(function*() {
      const shardServices = yield* shardContext(context, tenant.shard)
      let backupFile: string | null = null
      if (out !== undefined) {
        const backup = yield* Layer.build(backupLayer).pipe(
          Effect.provide(shardServices.pipe(Context.add(DbConfig, context.config)))
        )
        const taken = yield* Context.get(backup, Backup).backup({
          schemas: [tenant.schema!],
          label: `tenant_${tenant.slug}`,
          out
        })
        written.push(taken.file, taken.manifestFile)
        backupFile = taken.file
      }
      const shardSql = Context.get(shardServices, SqlClient.SqlClient)
      yield* shardSql.unsafe(`DROP SCHEMA IF EXISTS ${quoteIdent(tenant.schema!)} CASCADE`)
      // From here the backup is the only copy of the tenant's data: kept whatever happens next.
      written.length = 0
      yield* context.sql`DELETE FROM dbkit.tenants WHERE id = ${tenant.id}::uuid`
      return { tenant, backup: backupFile, removed: { schema: tenant.schema! } } satisfies DeprovisionResult
    })
  )

/** An rls tenant: its rows exported to `out` (unless undefined), then deleted with its registry row in one transaction. */
const deleteRows = (
  context: TenancyContext,
  tenant: Registry.Tenant,
  out: string | undefined,
  written: Array<string>
) =>
  Effect.gen(function*() {
    const { options, setting, sql } = context
    const tables = yield* tenantTables(context)
    const exported = out !== undefined ? yield* exportRows(context, tenant, tables, out) : null
    if (exported !== null) written.push(exported.file)
    const removed = yield* sql.withTransaction(
      Effect.gen(function*() {
        // The tenant's rows and its audit trail go together (the export above holds both).
        yield* sql`SELECT set_config(${setting}, ${tenant.id}, true), set_config('dbkit.audit', 'off', true)`
        const counts: Record<string, number> = {}
        for (const table of [...tables].reverse()) {
          const [row] = yield* sql.unsafe<{ n: number }>(
            `WITH gone AS (DELETE FROM ${table} WHERE tenant_id = $1::uuid RETURNING 1) SELECT count(*)::int AS n FROM gone`,
            [tenant.id]
          )
          counts[table] = row!.n
        }
        if (options.tenantTable) {
          yield* sql.unsafe(`DELETE FROM ${quoteQualified(options.tenantTable)} WHERE id = $1::uuid`, [tenant.id])
        }
        yield* sql`DELETE FROM dbkit.tenants WHERE id = ${tenant.id}::uuid`
        return counts
      })
    )
    return { tenant, backup: exported?.file ?? null, removed } satisfies DeprovisionResult
  })
