/**
 * The wiring `dbkit reset` runs with: Reset over the configured database's Migrator, Seeder (the
 * project's seeds) and Backup.
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as Layer from "effect/Layer"
import * as Reset from "../../reset/Reset.js"
import { DatabaseFromEnv } from "../live.js"

/** Reset over the same database's Migrator, Seeder and Backup. */
export const ResetLive = Reset.layerConfig().pipe(Layer.provideMerge(DatabaseFromEnv), Layer.provide(NodeContext.layer))
