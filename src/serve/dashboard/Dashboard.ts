/**
 * The dashboard of `dbkit serve`, in the manner of PgHero: an @effect/platform router of
 * server-rendered pages — overview with health and the last day's charts, queries, space,
 * indexes, maintenance, backups, jobs, migrations. No build step and no external asset: inline
 * CSS and SVG, no script, and a Content-Security-Policy that would refuse one anyway.
 *
 * It only reads (GET routes; every query in a READ ONLY transaction with a time limit) and has
 * no authentication of its own: the server that mounts it decides who may see it. A read that
 * fails shows its reason in its section; the page itself still answers 200.
 */
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import { Backup } from "../../backup/Backup.js"
import { Database } from "../../Database.js"
import { Health } from "../../health/Health.js"
import { type Query, readOnly } from "../../maintenance/catalog.js"
import { Maintenance } from "../../maintenance/Maintenance.js"
import { Migrator } from "../../migrator/Migrator.js"
import { scrubUrl } from "../../Redact.js"
import { reason as reasonOf } from "../../ServerError.js"
import { defaultThresholds, type Thresholds } from "../../Thresholds.js"
import { document, type Html, type PagePath } from "./html.js"
import * as Pages from "./pages.js"
import * as Reads from "./reads.js"
import { samplesBetween } from "./Sampler.js"

export { Sampler, type SamplerOptions } from "./Sampler.js"

export interface DashboardOptions {
  /** Where the router is mounted, for its links: "" (the root, default) or e.g. "/dashboard". */
  readonly basePath?: string | undefined
  /** The limits sessions are coloured by (default: health's; pass DBKIT_HEALTH_*'s from `optionsFromEnvironment`). */
  readonly thresholds?: Partial<Thresholds> | undefined
  /** Time limit of each read (default 10 seconds). */
  readonly readTimeout?: Duration.DurationInput | undefined
  /** How many tables, indexes and statements the lists show (default 50). */
  readonly limit?: number | undefined
}

/** What the pages read from. */
export type DashboardServices = Health | Maintenance | Backup | Migrator | SqlClient.SqlClient | Database

const headers = {
  "cache-control": "no-store",
  // Nothing but the inline style may load or run: an escaping mistake still could not execute.
  "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'none'; " +
    "frame-ancestors 'none'; base-uri 'none'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer"
}

const INDEX_CHECKS = ["invalid-indexes", "unused-indexes", "duplicate-indexes"]

/** The dashboard's routes (GET only); mount it where `basePath` says. */
export const make = (options: DashboardOptions = {}): HttpRouter.HttpRouter<never, DashboardServices> => {
  const base = (options.basePath ?? "").replace(/\/+$/, "")
  const thresholds: Thresholds = { ...defaultThresholds, ...options.thresholds }
  const timeoutMs = Duration.toMillis(options.readTimeout ?? Duration.seconds(10))
  const limit = Math.max(1, options.limit ?? 50)

  /** A section's read: its value, or the reason it failed (without the URL's password). */
  const attempt = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<Pages.Read<A>, never, R | Database> =>
    Effect.flatMap(Database, (database) =>
      effect.pipe(
        Effect.map((value) => Either.right(value)),
        Effect.catchAllCause((cause) => {
          const reason = reasonOf(Cause.squash(cause))
          return Effect.succeed(
            Either.left(Option.match(database.url, { onNone: () => reason, onSome: (url) => scrubUrl(reason, url) }))
          )
        })
      ))

  const catalog: Effect.Effect<Query, never, SqlClient.SqlClient> = Effect.map(
    SqlClient.SqlClient,
    (sql) => readOnly(sql, timeoutMs)
  )
  const withCatalog = <A, E>(read: (query: Query) => Effect.Effect<A, E>) => attempt(Effect.flatMap(catalog, read))
  const stats = attempt(Effect.flatMap(Maintenance, (m) => m.stats({ limit })))

  const page = <R>(path: PagePath, title: string, body: Effect.Effect<Html, never, R>) =>
    HttpRouter.get(
      path,
      Effect.gen(function*() {
        const database = yield* Database
        const content = yield* body
        const markup = document({ base, path, title, target: database.target, body: content })
        return HttpServerResponse.text(markup.value, { contentType: "text/html; charset=utf-8", headers })
      })
    )

  return HttpRouter.empty.pipe(
    page(
      "/",
      "Overview",
      Effect.gen(function*() {
        const to = yield* Clock.currentTimeMillis
        const from = to - Duration.toMillis(Duration.days(1))
        const [health, connections, size, samples] = yield* Effect.all([
          attempt(Effect.flatMap(Health, (h) => h.report())),
          withCatalog(Reads.connections),
          withCatalog(Reads.databaseSize),
          withCatalog((query) => samplesBetween(query, from, to))
        ], { concurrency: 2 })
        return Pages.overview({ health, connections, size, samples, from, to })
      })
    ),
    page(
      "/queries",
      "Queries",
      Effect.map(
        Effect.all([withCatalog(Reads.sessions), stats]),
        ([sessions, stats]) => Pages.queries({ sessions, stats, thresholds })
      )
    ),
    page("/space", "Space", Effect.map(stats, Pages.space)),
    page(
      "/indexes",
      "Indexes",
      Effect.map(
        Effect.all([attempt(Effect.flatMap(Health, (h) => h.report({ only: INDEX_CHECKS }))), stats]),
        ([checks, stats]) => Pages.indexes({ checks, stats })
      )
    ),
    page(
      "/maintenance",
      "Maintenance",
      Effect.map(
        Effect.all([attempt(Effect.flatMap(Maintenance, (m) => m.plan)), withCatalog(Reads.upkeep)]),
        ([plan, tables]) => Pages.maintenance({ plan, tables })
      )
    ),
    page("/backups", "Backups", Effect.map(attempt(Effect.flatMap(Backup, (b) => b.list())), Pages.backups)),
    page("/jobs", "Jobs", Effect.map(withCatalog((query) => Reads.jobRuns(query, limit)), Pages.jobs)),
    page("/migrations", "Migrations", Effect.map(attempt(Effect.flatMap(Migrator, (m) => m.status)), Pages.migrations))
  )
}

/** The dashboard at the root of a server, with the default options. */
export const router: HttpRouter.HttpRouter<never, DashboardServices> = make()
