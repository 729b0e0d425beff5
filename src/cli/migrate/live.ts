/**
 * The wiring `dbkit migrate` and its read-only subcommands run with: configuration, the selected
 * database and the Migrator over the configured folder — the same layers as `MigratorLive` in
 * ../live.ts, without importing that module, whose backup and restore wiring would load child
 * processes, zlib and pg-copy-streams (≈ 10 ms of every migrate, measured) for nothing.
 */
import * as Layer from "effect/Layer"
import * as Config from "../../Config.js"
import { DatabaseLive } from "../../Database.js"
import * as Migrator from "../../migrator/Migrator.js"

/** The Migrator over the configured migrations folder, on the configured database. */
export const MigratorLive = Migrator.layerConfig().pipe(
  Layer.provideMerge(DatabaseLive.pipe(Layer.provideMerge(Config.layer)))
)
