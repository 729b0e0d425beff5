/**
 * Restoring into a new database (`restore --into`), and what a restore over a database shares
 * with it: checking the file's origin first (trust.ts), then checking the file and the server
 * side, creating the database, loading the dump into it in one transaction and comparing its row
 * counts with the manifest; on any failure the new database is dropped again.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as Redacted from "effect/Redacted"
import { NotSupportedOnEmbedded, PgLive } from "../Database.js"
import { siblingUrl } from "../Scratch.js"
import * as ServerError from "../ServerError.js"
import type { RestoreContext } from "./context.js"
import { backupKey } from "./crypto.js"
import { InvalidDatabaseName, RestoreTargetExists } from "./errors.js"
import * as Files from "./files.js"
import * as Load from "./load.js"
import type { RestoreIntoOptions, RestoreOverOptions, RestoreResult } from "./Restore.js"
import { screenDump } from "./screen.js"
import * as Trust from "./trust.js"

const NAME = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/

/** DB_BACKUP_KEY, or undefined. */
export const restoreKey = Effect.map(backupKey, Option.getOrUndefined)

/**
 * The file's origin and, `over` a database, that it would not empty it (Trust.checkRestorable):
 * the first thing a restore does, before it asks for confirmation or touches any database.
 */
export const trusted = (
  { config, sql }: RestoreContext,
  file: string,
  target: string,
  options: RestoreOverOptions,
  over: boolean
) =>
  Effect.flatMap(restoreKey, (secret) =>
    Trust.checkRestorable(file, {
      target,
      environment: config.environment,
      key: secret,
      trustUnsigned: options.trustUnsigned,
      over: over ? { allowEmpty: options.allowEmpty } : undefined
    }).pipe(
      // A file dbkit cannot vouch for is read whole by dbkit's reader first, so a hostile line is
      // refused before any database is created; a signed one is read as it streams in.
      Effect.tap((origin) =>
        origin.status === "unverified"
          ? Effect.flatMap(Files.inspect(file), ({ manifest }) => screenDump(file, manifest, secret))
          : Effect.void
      )
    )).pipe(Effect.provideService(SqlClient.SqlClient, sql))

/** The server's URL, or NotSupportedOnEmbedded for `feature`. */
export const serverUrl = ({ database }: RestoreContext, feature: string, instead?: string) =>
  Option.match(database.url, {
    onNone: () => Effect.fail(new NotSupportedOnEmbedded({ feature, instead })),
    onSome: Effect.succeed
  })

const serverMajor = ({ sql }: RestoreContext) =>
  Effect.map(
    sql<{ num: number }>`SELECT current_setting('server_version_num')::int AS num`,
    ([row]) => Math.floor(row!.num / 10000)
  )

/**
 * Checks the file (Files.checkBeforeLoad, see there for what `streaming` leaves to the load)
 * and, meanwhile, the server side: that `name` is free and pg_restore (custom archives) is new
 * enough. Then creates `name`, loads the file into it and checks the counts; drops it on failure.
 */
export const loadInto = (
  context: RestoreContext,
  url: Redacted.Redacted<string>,
  file: string,
  name: string,
  options: RestoreIntoOptions
) =>
  Effect.gen(function*() {
    const { sql } = context
    const { foreign, manifest } = yield* Files.inspect(file)
    const secret = yield* restoreKey
    const [, major] = yield* Effect.all([
      Files.checkBeforeLoad(file, secret, { streaming: true }),
      Effect.gen(function*() {
        const major = yield* serverMajor(context)
        const [exists] = yield* sql<
          { e: boolean }
        >`SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = ${name}) AS e`
        if (exists?.e) return yield* new RestoreTargetExists({ database: name })
        yield* Load.checkTool(manifest, major)
        return major
      })
    ], { concurrency: 2 })
    // Another restore may take the name between the check above and here: that is the same
    // refusal (42P04, or 23505 when both CREATE DATABASE at the same instant).
    yield* sql.unsafe(`CREATE DATABASE "${name}"`).pipe(
      Effect.catchIf(
        (error) => ["42P04", "23505"].includes(ServerError.sqlState(error) ?? ""),
        () => Effect.fail(new RestoreTargetExists({ database: name }))
      )
    )
    const target = siblingUrl(url, name)
    const restored = Effect.gen(function*() {
      const loaded = yield* Load.loadDump(file, manifest, secret, target, major, options.onProgress)
      if (foreign) return { ...Load.uncheckedCounts(loaded), skippedSettings: loaded.skippedSettings ?? [] }
      // The server's COPY results usually cover every table: then no connection to count rows is needed.
      const left = Load.uncounted(manifest, loaded)
      const counted = left.length === 0
        ? {}
        : yield* Load.countRows(left).pipe(
          Effect.provide(PgLive({ url: target, poolSize: 1, applicationName: "dbkit-restore" }))
        )
      const counts = yield* Load.judgeCounts(file, manifest, loaded, counted)
      return { ...counts, skippedSettings: loaded.skippedSettings ?? [] }
    })
    return yield* restored.pipe(
      Effect.scoped,
      Effect.tapErrorCause(() => Effect.ignore(sql.unsafe(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`)))
    )
  })

/** Restore.into: a new database on the same server; nothing left behind on failure. */
export const into = (context: RestoreContext, file: string, name: string, options: RestoreIntoOptions = {}) =>
  Effect.gen(function*() {
    if (!NAME.test(name)) return yield* new InvalidDatabaseName({ name })
    const url = yield* serverUrl(
      context,
      "restore --into",
      "leave out --into to restore over the embedded database (it holds a single database)"
    )
    yield* trusted(context, file, name, options, false)
    const counts = yield* loadInto(context, url, file, name, options)
    return { file, database: name, ...counts } satisfies RestoreResult
  })
