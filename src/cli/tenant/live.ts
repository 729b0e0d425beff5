/**
 * The wiring `dbkit tenant …` runs with: Tenancy on the configured database, over the strategy
 * the environment selects:
 *
 *   DBKIT_TENANCY                 rls (default) or schema
 *   DBKIT_TENANT_MIGRATIONS_DIR   tenant migrations for the schema strategy (default migrations/tenant);
 *                                 the rls strategy's migrate-all applies DBKIT_MIGRATIONS_DIR to each shard
 *   DBKIT_TENANT_TABLE            the application's tenants table kept in step (id, slug, name), e.g. organizations
 *   DBKIT_TENANT_SHARDS           a shard file (see src/tenancy/shards.ts)
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as Config from "effect/Config"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as fs from "node:fs"
import { DbConfig, InvalidConfig } from "../../Config.js"
import { fromDirectory } from "../../migrator/source.js"
import * as Shards from "../../tenancy/shards.js"
import { layer as tenancyLayer } from "../../tenancy/Tenancy.js"
import { DatabaseFromEnv } from "../live.js"

const settings = Config.all({
  strategy: Config.literal("rls", "schema")("DBKIT_TENANCY").pipe(Config.withDefault("rls" as const)),
  tenantMigrationsDir: Config.string("DBKIT_TENANT_MIGRATIONS_DIR").pipe(Config.withDefault("migrations/tenant")),
  tenantTable: Config.option(Config.string("DBKIT_TENANT_TABLE")),
  shardFile: Config.option(Config.string("DBKIT_TENANT_SHARDS"))
})

/** Tenancy as the environment configures it, on the configured database. */
export const TenancyLive = Layer.unwrapEffect(
  Effect.gen(function*() {
    const config = yield* DbConfig
    const env = yield* Effect.mapError(settings, (error) => new InvalidConfig({ variable: "DBKIT_TENANCY", reason: String(error) }))
    const directory = env.strategy === "schema" ? env.tenantMigrationsDir : config.migrationsDir
    const shards = Option.isSome(env.shardFile) ? yield* Shards.load(env.shardFile.value) : new Map()
    return tenancyLayer({
      strategy: env.strategy,
      migrations: fs.existsSync(directory) ? fromDirectory(directory) : undefined,
      migrationsDirectory: directory,
      tenantTable: Option.getOrUndefined(env.tenantTable),
      shards
    })
  })
).pipe(Layer.provideMerge(DatabaseFromEnv), Layer.provide(NodeContext.layer))
