/**
 * Provisioning a tenant: the registry row and the application's row (rls), or the registry row,
 * the `tenant_<slug>` schema and its migrations (schema). Idempotent, all or nothing, and one
 * provisioner per slug at a time.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as AdvisoryLock from "../AdvisoryLock.js"
import { quoteIdent, quoteQualified } from "../Identifier.js"
import { layer as migratorLayer, Migrator } from "../migrator/Migrator.js"
import { describe, ensureRegistry, requireMigrations, shardContext, type TenancyContext } from "./context.js"
import { InvalidTenantAttribute, ProvisionFailed, TenantStrategyMismatch, UnknownShard } from "./errors.js"
import * as Register from "./register.js"
import * as Registry from "./registry.js"
import { DEFAULT_SHARD } from "./shards.js"
import { reread } from "./tenants.js"

export interface ProvisionOptions {
  readonly name?: string | undefined
  readonly shard?: string | undefined
  readonly id?: string | undefined
  /** The tenant's host name (validated, lower-cased, unique in the registry). */
  readonly domain?: string | undefined
  /** The tenant's plan: short text. */
  readonly plan?: string | undefined
  /** A JSON object (or its text), at most 16 KB. */
  readonly metadata?: unknown
  /** How long to wait while another process provisions the same slug (default 2 minutes). */
  readonly lockWait?: Duration.DurationInput | undefined
}

export interface ProvisionResult {
  readonly tenant: Registry.Tenant
  /** False when it already existed (provisioning is idempotent). */
  readonly created: boolean
  /** Tenant migrations applied (schema strategy). */
  readonly applied: number
}

/** Creates a tenant (registry row, app row, schema and its migrations); idempotent, all or nothing. */
export const provision = (context: TenancyContext, slug: string, options: ProvisionOptions = {}) =>
  Effect.scoped(
    Effect.gen(function*() {
      const { database, shards, sql, strategy } = context
      yield* Registry.validateSlug(slug)
      const shard = options.shard ?? DEFAULT_SHARD
      if (shard !== DEFAULT_SHARD && !shards.has(shard)) {
        return yield* new UnknownShard({ shard, known: [...shards.keys()] })
      }
      if (options.id !== undefined && !Registry.isUuid(options.id)) {
        return yield* new InvalidTenantAttribute({ field: "id", value: options.id, reason: "it is not a uuid" })
      }
      const attributes = yield* Registry.validateAttributes(options)
      const source = strategy === "schema" ? yield* requireMigrations(context) : undefined
      yield* ensureRegistry(context)
      // One provisioner per slug at a time (a second waits, then finds it done).
      if (database.sessionLocks) {
        const conn = yield* sql.reserve
        const wait = options.lockWait ?? "2 minutes"
        yield* AdvisoryLock.acquire(
          (text, params = []) => conn.executeUnprepared(text, params, undefined),
          AdvisoryLock.keyOf(`dbkit:tenant:${slug}`),
          {
            wait,
            onTimeout: (holder) =>
              new AdvisoryLock.LockTimeout({
                what: `provisioning of tenant ${slug}`,
                waitedMs: Duration.toMillis(wait),
                holder
              })
          }
        )
      }
      const existing = yield* Registry.find(slug)
      if (existing && existing.strategy !== strategy) {
        return yield* new TenantStrategyMismatch({ slug, registered: existing.strategy, configured: strategy })
      }
      if (existing && existing.status !== "provisioning") {
        return { tenant: existing, created: false, applied: 0 } satisfies ProvisionResult
      }
      const name = options.name ?? existing?.name ?? slug
      const fresh: Register.NewTenant = {
        id: options.id,
        slug,
        name,
        strategy,
        status: strategy === "rls" ? "active" : "provisioning",
        shard,
        attributes
      }
      // Nothing is written before the registry has agreed to hold this tenant beside the others.
      yield* Register.admit(fresh, existing?.id)
      if (strategy === "rls") return yield* provisionRls(context, fresh)
      // Schema per tenant: the row says "provisioning" until the schema is complete; a
      // failure removes both (and an interrupted run is finished by the next provision).
      const schema = Registry.schemaFor(slug)
      const row = existing ?? (yield* Effect.flatMap(Register.insert(fresh), (id) => reread(context, id)))
      const built = yield* Effect.exit(
        Effect.scoped(
          Effect.gen(function*() {
            const shardServices = yield* shardContext(context, row.shard)
            const migrator = yield* Layer.build(migratorLayer({ ...context.options.migrator, source: source!, schema }))
              .pipe(
                Effect.provide(shardServices)
              )
            return yield* Context.get(migrator, Migrator).migrate()
          })
        )
      )
      if (Exit.isFailure(built)) {
        yield* Effect.ignore(
          Effect.scoped(
            Effect.flatMap(shardContext(context, row.shard), (shardServices) =>
              Effect.provide(
                Effect.flatMap(
                  SqlClient.SqlClient,
                  (shardSql) => shardSql.unsafe(`DROP SCHEMA IF EXISTS ${quoteIdent(schema)} CASCADE`)
                ),
                shardServices
              ))
          )
        )
        yield* Effect.ignore(sql`DELETE FROM dbkit.tenants WHERE id = ${row.id}::uuid`)
        return yield* new ProvisionFailed({ slug, reason: describe(built.cause) })
      }
      yield* sql`UPDATE dbkit.tenants SET status = 'active', migration_state = 'applied', migrated_at = now(), updated_at = now()
                 WHERE id = ${row.id}::uuid`
      return {
        tenant: yield* reread(context, row.id),
        created: true,
        applied: built.value.applied.length
      } satisfies ProvisionResult
    })
  )

/** An rls tenant: the registry row and the application's row in one transaction, or neither. */
const provisionRls = (context: TenancyContext, tenant: Register.NewTenant) => {
  const { options, sql } = context
  return sql.withTransaction(
    Effect.gen(function*() {
      const id = yield* Register.insert(tenant)
      if (options.tenantTable) {
        yield* sql.unsafe(
          `INSERT INTO ${quoteQualified(options.tenantTable)} (id, slug, name) VALUES ($1::uuid, $2, $3)`,
          [id, tenant.slug, tenant.name]
        )
      }
      return yield* reread(context, id)
    })
  ).pipe(
    Effect.mapError((error) =>
      error._tag === "SqlError"
        ? new ProvisionFailed({ slug: tenant.slug, reason: describe(Cause.fail(error)) })
        : error
    ),
    Effect.map((provisioned): ProvisionResult => ({ tenant: provisioned, created: true, applied: 0 }))
  )
}
