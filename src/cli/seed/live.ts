/**
 * The wiring `dbkit seed …` runs with: the Seeder over the project's seeds (dbkit.config.ts
 * `seeds`), on the configured database; with `--tenant`, Tenancy beside it to resolve the tenant.
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as Layer from "effect/Layer"
import * as Seeder from "../../seeder/Seeder.js"
import { layerConfig as tenancyLayerConfig } from "../../tenancy/Tenancy.js"
import { DatabaseFromEnv } from "../live.js"

/** The Seeder (plus the database and configuration it runs on). */
export const SeederLive = Seeder.layerConfig().pipe(Layer.provideMerge(DatabaseFromEnv))

/** The Seeder and Tenancy on one database, for `seed --tenant` (the tenant is looked up in the registry). */
export const SeederWithTenancyLive = Layer.merge(Seeder.layerConfig(), tenancyLayerConfig()).pipe(
  Layer.provideMerge(DatabaseFromEnv),
  Layer.provide(NodeContext.layer)
)
