/**
 * The Backup and Restore services over the test's database, with backups in a temp folder.
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { Backup, layer as backupLayer } from "../../src/backup/Backup.js"
import { layer as restoreLayer, Restore } from "../../src/backup/Restore.js"
import * as Config from "../../src/Config.js"
import { tempDir } from "./databases.js"

const services = (backupDir: string) =>
  restoreLayer.pipe(
    Layer.provideMerge(backupLayer),
    Layer.provide(Layer.merge(Config.layerFrom({ environment: "development", backupDir }), NodeContext.layer))
  )

/** Runs `f` with Backup and Restore (development environment, backups in `backupDir`). */
export const withBackupServices = <A, E, R>(
  f: (s: { backup: Backup["Type"]; restore: Restore["Type"] }) => Effect.Effect<A, E, R>,
  backupDir = tempDir("dbkit-restore-")
) => Effect.flatMap(Effect.all({ backup: Backup, restore: Restore }), f).pipe(Effect.provide(services(backupDir)))
