/**
 * The wiring `dbkit health` and `dbkit health serve` run with: Health over the configured
 * database, connecting on demand so a database that is down gives a report, not an error.
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Backup from "../../backup/Backup.js"
import { DbConfig, embeddedRefusal } from "../../Config.js"
import { DatabaseLive, describeUrl } from "../../Database.js"
import * as Health from "../../health/Health.js"
import * as Migrator from "../../migrator/Migrator.js"
import { ConfigLive } from "../live.js"

/** Health with thresholds from DBKIT_HEALTH_*, Redis from REDIS_URL, the database from DbConfig. */
export const HealthLive = Layer.unwrapEffect(
  Effect.gen(function*() {
    const config = yield* DbConfig
    // In staging and production a missing DATABASE_URL is a configuration error, not an unreachable embedded database.
    const refused = embeddedRefusal(config)
    if (refused !== undefined) return yield* refused
    const options = yield* Health.optionsFromEnvironment()
    const target = Option.match(config.databaseUrl, {
      onNone: () => (config.dataDir.startsWith("memory://") ? "embedded (in memory)" : `embedded ${config.dataDir}`),
      onSome: (url) => describeUrl(url).target
    })
    const dependencies = Migrator.layerConfig().pipe(
      Layer.provideMerge(Backup.layer),
      Layer.provideMerge(DatabaseLive),
      Layer.provide(ConfigLive),
      Layer.provide(NodeContext.layer)
    )
    return Health.layerResilient(dependencies, { ...options, target })
  })
).pipe(Layer.provide(ConfigLive))
