/**
 * `migrate-all`: the migrations applied to every tenant's schema (schema) or to the shared
 * tables of every shard (rls), a few at a time, carrying on past failures; each schema tenant's
 * outcome is recorded in the registry so `--resume` can take only what failed or did not finish.
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import type { ConnectError, Database } from "../Database.js"
import { layer as migratorLayer, type MigrateResult, Migrator } from "../migrator/Migrator.js"
import type { MigrationSource } from "../migrator/source.js"
import { describe, requireMigrations, shardContext, type TenancyContext } from "./context.js"
import type { UnknownShard } from "./errors.js"
import * as Registry from "./registry.js"
import { DEFAULT_SHARD } from "./shards.js"
import { all } from "./tenants.js"

export interface TenantMigration {
  /** The tenant's slug, or `shard:<name>` for the shared tables of a shard (rls). */
  readonly target: string
  readonly shard: string
  readonly state: "applied" | "up to date" | "failed"
  readonly applied: number
  readonly error: string | null
  readonly durationMs: number
}

export interface MigrateAllReport {
  readonly results: ReadonlyArray<TenantMigration>
  readonly applied: number
  readonly upToDate: number
  readonly failed: number
  readonly durationMs: number
}

export interface MigrateAllOptions {
  /** How many tenants migrate at once (default 4). */
  readonly concurrency?: number | undefined
  /** Only tenants whose last run failed or did not finish. */
  readonly resume?: boolean | undefined
  /** Called as each tenant (schema) or shard (rls) starts, with the number of targets. */
  readonly onStart?: ((target: string, total: number) => Effect.Effect<void>) | undefined
  /** Called as each tenant finishes, in completion order. */
  readonly onResult?: ((result: TenantMigration, done: number, total: number) => Effect.Effect<void>) | undefined
}

/** What one migration run is applied to: a tenant's schema, or a shard's shared tables. */
interface Target {
  readonly target: string
  readonly shard: string
  readonly schema: string | undefined
  /** The tenant's id, whose outcome the registry records (schema). */
  readonly id: string | undefined
}

/** Applies the migrations to every tenant (schema) or shard (rls), continuing past failures. */
export const migrateAll = (context: TenancyContext, options: MigrateAllOptions = {}) =>
  Effect.scoped(
    Effect.gen(function*() {
      const started = yield* Clock.currentTimeMillis
      const source = yield* requireMigrations(context)
      const migrations = yield* source.pipe(Effect.orDie)
      const fixed: MigrationSource = Effect.succeed(migrations) // read once, not once per tenant
      const concurrency = context.database.kind === "embedded" ? 1 : Math.max(1, options.concurrency ?? 4)
      const targets = yield* targetsOf(context, options)
      // One pool per shard for the run, sized for the concurrency.
      const contexts = new Map<
        string,
        Either.Either<Context.Context<SqlClient.SqlClient | Database>, UnknownShard | ConnectError>
      >()
      for (const shard of new Set(targets.map((t) => t.shard))) {
        contexts.set(shard, yield* Effect.either(shardContext(context, shard, concurrency + 1)))
      }
      let done = 0
      const results = yield* Effect.forEach(targets, (target) =>
        Effect.gen(function*() {
          if (options.onStart) yield* options.onStart(target.target, targets.length)
          const t0 = yield* Clock.currentTimeMillis
          const shardServices = contexts.get(target.shard)!
          const run: Effect.Effect<MigrateResult, unknown> = Either.isLeft(shardServices)
            ? Effect.fail(shardServices.left)
            : Effect.scoped(
              Effect.gen(function*() {
                const migrator = yield* Layer.build(
                  migratorLayer({ ...context.options.migrator, source: fixed, schema: target.schema })
                ).pipe(
                  Effect.provide(shardServices.right)
                )
                return yield* Context.get(migrator, Migrator).migrate()
              })
            )
          const outcome = yield* Effect.exit(run)
          const durationMs = (yield* Clock.currentTimeMillis) - t0
          const result: TenantMigration = Exit.isSuccess(outcome)
            ? {
              target: target.target,
              shard: target.shard,
              state: outcome.value.applied.length > 0 ? "applied" : "up to date",
              applied: outcome.value.applied.length,
              error: null,
              durationMs
            }
            : {
              target: target.target,
              shard: target.shard,
              state: "failed",
              applied: 0,
              error: describe(outcome.cause),
              durationMs
            }
          if (target.id !== undefined) {
            yield* Effect.orDie(Registry.recordMigration(target.id, result.state, result.error))
          }
          done += 1
          if (options.onResult) yield* options.onResult(result, done, targets.length)
          return result
        }), { concurrency })
      const count = (state: TenantMigration["state"]) => results.filter((r) => r.state === state).length
      return {
        results,
        applied: count("applied"),
        upToDate: count("up to date"),
        failed: count("failed"),
        durationMs: (yield* Clock.currentTimeMillis) - started
      } satisfies MigrateAllReport
    })
  )

/**
 * What this run migrates: each tenant's schema (all of them, marked pending first; or with
 * `resume`, those whose last run failed or did not finish), or each shard in use (rls).
 */
const targetsOf = (context: TenancyContext, options: MigrateAllOptions) =>
  Effect.gen(function*() {
    const { shards, sql, strategy } = context
    const tenants = (yield* all(context)).filter((t) => t.strategy === strategy && t.status !== "provisioning")
    if (strategy === "rls") {
      const used = new Set([DEFAULT_SHARD, ...tenants.map((t) => t.shard), ...shards.keys()])
      return [...used].map((shard): Target => ({ target: `shard:${shard}`, shard, schema: undefined, id: undefined }))
    }
    const chosen = options.resume
      ? tenants.filter((t) => t.migration === null || t.migration.state === "pending" || t.migration.state === "failed")
      : tenants
    if (!options.resume && chosen.length > 0) {
      yield* sql`UPDATE dbkit.tenants SET migration_state = 'pending', migration_error = NULL, updated_at = now()
                 WHERE strategy = 'schema' AND status <> 'provisioning'`
    }
    return chosen.map((t): Target => ({ target: t.slug, shard: t.shard, schema: t.schema!, id: t.id }))
  })
