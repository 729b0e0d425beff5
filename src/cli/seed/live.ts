/**
 * The wiring `dbkit seed …` runs with: the Seeder over the project's seeds (dbkit.config.ts
 * `seeds`), on the configured database.
 */
import * as Layer from "effect/Layer"
import * as Seeder from "../../seeder/Seeder.js"
import { DatabaseFromEnv } from "../live.js"

/** The Seeder (plus the database and configuration it runs on). */
export const SeederLive = Seeder.layerConfig().pipe(Layer.provideMerge(DatabaseFromEnv))
