/**
 * The wiring `dbkit jobs` runs with (and `dbkit serve` can add): Jobs over the configured
 * database and environment, with the services its jobs call — Backup, Maintenance (with the
 * project's retention rules), Health and the Guard.
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as Layer from "effect/Layer"
import * as Health from "../../health/Health.js"
import * as Maintenance from "../../maintenance/Maintenance.js"
import * as Migrator from "../../migrator/Migrator.js"
import { Jobs } from "../../serve/jobs/Jobs.js"
import { BackupLive, GuardLive } from "../live.js"

/** Jobs (plus the database, configuration and services it runs on). */
export const JobsLive = Jobs.layer().pipe(
  Layer.provideMerge(
    Layer.mergeAll(
      Maintenance.layerConfig(),
      Health.layerConfig().pipe(Layer.provide(Migrator.layerConfig()))
    ).pipe(Layer.provideMerge(BackupLive))
  ),
  Layer.provide(GuardLive),
  Layer.provide(NodeContext.layer)
)
