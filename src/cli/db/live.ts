/**
 * The wiring `dbkit db …` runs with: Maintenance over the configured database, with the
 * project's relationships and retention rules (dbkit.config.ts `integrity`, `retention`).
 */
import * as Layer from "effect/Layer"
import * as Maintenance from "../../maintenance/Maintenance.js"
import { DatabaseFromEnv } from "../live.js"

/** Maintenance (plus the database and configuration it runs on). */
export const MaintenanceLive = Maintenance.layerConfig().pipe(Layer.provideMerge(DatabaseFromEnv))
