/**
 * The wiring `dbkit seed …` runs with: the Seeder over dbkit's reference seeds, on the
 * configured database.
 */
import * as Layer from "effect/Layer"
import * as Seeder from "../../seeder/Seeder.js"
import { referenceSeeds } from "../../seeds/index.js"
import { DatabaseFromEnv } from "../live.js"

/** The Seeder (plus the database and configuration it runs on). */
export const SeederLive = Seeder.layer({ seeds: referenceSeeds }).pipe(Layer.provideMerge(DatabaseFromEnv))
