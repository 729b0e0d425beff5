/**
 * The wiring `dbkit serve` runs with: one set of services over the configured database —
 * Migrator, Backup, Maintenance, Health, the Guard — built on the first request (or job, or
 * sample) that needs them and shared by all: one pool, and on the embedded database the one data
 * directory it may open. Until the database answers, the health routes and the metrics say so,
 * the dashboard answers 503 with the reason, and the scheduler and the sampler wait and retry;
 * nothing fails the process.
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Cause from "effect/Cause"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Backup from "../../backup/Backup.js"
import { DbConfig, embeddedRefusal } from "../../Config.js"
import { DatabaseLive, describeUrl } from "../../Database.js"
import * as Health from "../../health/Health.js"
import * as Maintenance from "../../maintenance/Maintenance.js"
import * as Migrator from "../../migrator/Migrator.js"
import * as Dashboard from "../../serve/dashboard/Dashboard.js"
import { escape } from "../../serve/dashboard/html.js"
import * as Sampler from "../../serve/dashboard/Sampler.js"
import { Jobs } from "../../serve/jobs/Jobs.js"
import { Metrics, shared } from "../../serve/Serve.js"
import { ConfigLive, GuardLive } from "../live.js"

/** How long the scheduler and the sampler wait before trying a database that did not answer. */
const retryEvery = Schedule.spaced("15 seconds")

/**
 * Everything `dbkit serve` serves and runs: the health routes and the metrics (Serve.layer's
 * own), the dashboard's routes, and in the background the job scheduler and the sampler.
 */
export const ServeParts = Effect.gen(function*() {
  const config = yield* DbConfig
  // In staging and production a missing DATABASE_URL is a configuration error, not a database that is down.
  const refused = embeddedRefusal(config)
  if (refused !== undefined) return yield* refused
  const services = yield* shared(
    Layer.mergeAll(Maintenance.layerConfig(), Health.layerConfig()).pipe(
      Layer.provideMerge(Migrator.layerConfig()),
      Layer.provideMerge(Backup.layer),
      Layer.provideMerge(DatabaseLive),
      Layer.provideMerge(GuardLive),
      Layer.provideMerge(ConfigLive),
      Layer.provide(NodeContext.layer)
    )
  )
  const target = Option.isSome(config.databaseUrl)
    ? describeUrl(config.databaseUrl.value).target
    : `embedded ${config.dataDir}`
  const options = yield* Health.optionsFromEnvironment()
  const probes = Layer.merge(Health.layerResilient(services, { ...options, target }), Metrics.layerResilient(services))

  // The dashboard's pages get the services per request; while the database cannot be reached, 503 and why.
  const dashboard = HttpRouter.use(
    Dashboard.make({ thresholds: options.thresholds }),
    (app) =>
      Effect.provide(app, services).pipe(
        Effect.catchAll((error) =>
          HttpServerResponse.text(
            `<!doctype html><title>dbkit · ${escape(target)}</title><h1>${escape(target)}</h1>` +
              `<p>The database cannot be reached: ${
                escape(error instanceof Error ? error.message : String(error))
              }</p>`,
            { status: 503, contentType: "text/html; charset=utf-8", headers: { "cache-control": "no-store" } }
          )
        )
      )
  )

  // The schedule and the sampler start once the database answers (a bad job declaration fails at once: see serve.ts).
  const whenConnected = <E>(work: Effect.Effect<void, E, Layer.Layer.Success<typeof services>>) =>
    Layer.scopedDiscard(Effect.forkScoped(
      // Every failure is logged; a database that does not answer (or a defect) is retried, a configuration error is final.
      Effect.provide(work, services).pipe(
        Effect.tapErrorCause((cause) => Effect.logError(`dbkit serve: ${Cause.pretty(cause).split("\n")[0]}`)),
        Effect.sandbox,
        Effect.retry({ schedule: retryEvery, while: (cause) => !Cause.failures(cause).pipe(Chunk.some(isConfigError)) })
      )
    ))
  const scheduler = whenConnected(Effect.flatMap(Jobs, (jobs) => jobs.scheduler).pipe(Effect.provide(Jobs.layer())))
  const sampler = whenConnected(Effect.scoped(Effect.flatMap(Sampler.make(), (s) => s.loop)))
  return { probes, dashboard, background: [scheduler, sampler] }
})

const isConfigError = (error: unknown) =>
  typeof error === "object" && error !== null && (error as { _tag?: unknown })._tag === "InvalidConfig"
