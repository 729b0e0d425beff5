/**
 * The wiring `dbkit reset` runs with: Reset over the configured database's Migrator, Seeder and
 * Backup.
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as Layer from "effect/Layer"
import * as Backup from "../../backup/Backup.js"
import * as Reset from "../../backup/Reset.js"
import * as Migrator from "../../migrator/Migrator.js"
import * as Seeder from "../../seeder/Seeder.js"
import { referenceSeeds } from "../../seeds/index.js"
import { DatabaseFromEnv } from "../live.js"

/** Reset over the same database's Migrator, Seeder and Backup. */
export const ResetLive = Reset.layer.pipe(
  Layer.provideMerge(Migrator.layerConfig()),
  Layer.provideMerge(Seeder.layer({ seeds: referenceSeeds })),
  Layer.provideMerge(Backup.layer),
  Layer.provideMerge(DatabaseFromEnv),
  Layer.provide(NodeContext.layer)
)
