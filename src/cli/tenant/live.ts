/**
 * The wiring `dbkit tenant …` runs with: Tenancy as the project declares it (dbkit.config.ts
 * `tenancy`; DBKIT_TENANCY, DBKIT_TENANT_MIGRATIONS_DIR, DBKIT_TENANT_TABLE and
 * DBKIT_TENANT_SHARDS override it), on the configured database.
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as Layer from "effect/Layer"
import { layerConfig as tenancyLayerConfig } from "../../tenancy/Tenancy.js"
import { DatabaseFromEnv } from "../live.js"

/** Tenancy as the project configures it, on the configured database. */
export const TenancyLive = tenancyLayerConfig().pipe(
  Layer.provideMerge(DatabaseFromEnv),
  Layer.provide(NodeContext.layer)
)
