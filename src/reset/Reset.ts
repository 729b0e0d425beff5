/**
 * Reset: back to a known state, on purpose. Guarded (DB_RESET_CONFIRM / --yes; production also
 * DB_RESET_ALLOW_PRODUCTION), and everything it needs is checked before anything is changed.
 *
 * - hard: drops the application schemas (and dbkit's history) in one transaction, recreates
 *   `public` and migrates from scratch;
 * - soft: truncates every application table in one statement, restarting identities, and
 *   forgets which seeds ran;
 * then optionally reseeds and clears the application's Redis keys (Redis is checked before
 * anything is changed). Outside development a safety backup is taken first. On a server, one
 * restore or reset of a database runs at a time (targetLock.ts): a second one waits.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Config from "effect/Config"
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type { LockTimeout } from "../AdvisoryLock.js"
import { Backup, type BackupError, InvalidBackupOptions, layer as backupLayer } from "../backup/Backup.js"
import { applicationSchemas, dropSchemas } from "../backup/schemas.js"
import { holdTargetLock, type RestoreLockTimeout } from "../backup/targetLock.js"
import { CacheUnavailable, checkCache, flushPrefix } from "../Cache.js"
import { DbConfig, type InvalidConfig } from "../Config.js"
import { Database } from "../Database.js"
import { Guard, type GuardError } from "../Guard.js"
import type { MigrateError } from "../migrator/errors.js"
import { layerConfig as migratorLayerConfig, Migrator } from "../migrator/Migrator.js"
import * as Project from "../Project.js"
import type { SeedFailed, SeedPlanError } from "../seeder/errors.js"
import { layerConfig as seederLayerConfig, Seeder, type SeedOptions } from "../seeder/Seeder.js"
import { spanTarget, traced } from "../Tracing.js"

export interface ResetOptions {
  readonly mode: "hard" | "soft"
  /** Reseed afterwards (true: the environment's seeds with default options). */
  readonly seed?: boolean | SeedOptions | undefined
  readonly yes?: boolean | undefined
  /** Default: outside development only. */
  readonly safetyBackup?: boolean | undefined
  /** Also delete the application's cache keys (REDIS_URL and DB_CACHE_PREFIX). */
  readonly withCache?: boolean | undefined
  /** How long to wait for another restore or reset of the same database (default 5 minutes). */
  readonly lockWait?: Duration.DurationInput | undefined
}

export interface ResetResult {
  readonly mode: "hard" | "soft"
  readonly safetyBackup: string | null
  /** Schemas dropped (hard) or tables emptied (soft). */
  readonly cleared: ReadonlyArray<string>
  readonly migrated: ReadonlyArray<string>
  readonly seeded: number
  readonly cacheKeysDeleted: number | null
}

export type ResetError =
  | GuardError
  | BackupError
  | MigrateError
  | SeedPlanError
  | SeedFailed
  | CacheUnavailable
  | RestoreLockTimeout
  | LockTimeout
  | InvalidBackupOptions
  | SqlError

/** The Reset service, with its layers. */
export class Reset extends Context.Tag("dbkit/Reset")<Reset, {
  readonly reset: (options: ResetOptions) => Effect.Effect<ResetResult, ResetError, Guard>
}>() {
  /** Reset over the Migrator, Seeder and Backup in context. */
  static get layer(): typeof layer {
    return layer
  }
  /** Reset over the project's Migrator, Seeder and Backup. */
  static get layerConfig(): typeof layerConfig {
    return layerConfig
  }
}

const cacheConfig = Config.all({
  url: Config.option(Config.redacted("REDIS_URL")),
  prefix: Config.option(Config.string("DB_CACHE_PREFIX"))
})

const make = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const database = yield* Database
  const config = yield* DbConfig
  const migrator = yield* Migrator
  const seeder = yield* Seeder
  const backup = yield* Backup

  const reset = (options: ResetOptions) =>
    Effect.gen(function*() {
      const guard = yield* Guard
      yield* guard.confirm({
        action: `${options.mode} reset the database`,
        variable: "DB_RESET",
        target: database.database,
        yes: options.yes
      })
      // Everything the reset will need is checked before anything is changed.
      // The prefix: DB_CACHE_PREFIX, else dbkit.config.ts `cache.prefix`.
      const cache = options.withCache === true
        ? yield* Effect.orElseSucceed(cacheConfig, () => ({ url: Option.none(), prefix: Option.none() })).pipe(
          Effect.flatMap(({ prefix, url }) =>
            Option.isSome(prefix)
              ? Effect.succeed({ url, prefix: prefix.value })
              : Project.current.pipe(
                Effect.map((project) => ({ url, prefix: project.cachePrefix ?? "" })),
                Effect.mapError((error) => new InvalidBackupOptions({ reason: error.message }))
              )
          ),
          Effect.flatMap(({ prefix, url }) =>
            Option.isSome(url) && prefix !== ""
              ? Effect.succeed({ url: url.value, prefix })
              : Effect.fail(
                new InvalidBackupOptions({
                  reason:
                    "--with-cache needs REDIS_URL and a cache key prefix (dbkit.config.ts cache.prefix, or DB_CACHE_PREFIX)"
                })
              )
          )
        )
        : undefined
      if (cache) yield* checkCache(cache.url, cache.prefix) // Redis down: refused here, not after the drop
      yield* migrator.migrations // a broken migrations folder fails here, not after the drop
      // One restore or reset of this database at a time (targetLock.ts); the embedded database
      // is one process's already.
      if (Option.isSome(database.url)) {
        yield* holdTargetLock(database.url.value, database.database, "reset", options.lockWait)
      }
      const safety = options.safetyBackup ?? config.environment !== "development"
      const safetyBackup = safety ? (yield* backup.backup()).file : null

      const schemas = (yield* sql.unsafe<{ name: string }>(applicationSchemas)).map((r) => r.name)
      let cleared: ReadonlyArray<string>
      if (options.mode === "hard") {
        yield* sql.withTransaction(
          sql.unsafe(
            `${dropSchemas(schemas)}
             CREATE SCHEMA public; GRANT USAGE ON SCHEMA public TO PUBLIC;`
          )
        )
        cleared = schemas
      } else {
        const tables = (yield* sql.unsafe<{ name: string }>(
          `SELECT format('%I.%I', n.nspname, c.relname) AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
              AND n.nspname NOT LIKE 'pg\\_%' AND NOT (n.nspname = 'dbkit' AND c.relname = 'migrations')
              AND NOT c.relispartition ORDER BY 1`
        )).map((r) => r.name)
        if (tables.length > 0) yield* sql.unsafe(`TRUNCATE ${tables.join(", ")} RESTART IDENTITY CASCADE`)
        cleared = tables
      }
      const migrated = options.mode === "hard" ? (yield* migrator.migrate()).applied.map((a) => a.name) : []
      const seeded = options.seed === undefined || options.seed === false
        ? 0
        : (yield* seeder.run(options.seed === true ? {} : options.seed)).filter((r) => r.status === "ran").length
      const cacheKeysDeleted = cache ? yield* flushPrefix(cache.url, cache.prefix) : null
      return { mode: options.mode, safetyBackup, cleared, migrated, seeded, cacheKeysDeleted } satisfies ResetResult
    }).pipe(Effect.scoped) // the restore lock, held until the reset ends

  return Reset.of(traced("Reset", yield* spanTarget, { reset }))
})

/** The Reset service over the Migrator, Seeder and Backup of the same database. */
export const layer: Layer.Layer<Reset, never, SqlClient.SqlClient | Database | DbConfig | Migrator | Seeder | Backup> =
  Layer.effect(
    Reset,
    make
  )

/** Reset over the project's Migrator, Seeder (seeds optional: a reset need not reseed) and Backup. */
export const layerConfig = (): Layer.Layer<
  Reset | Migrator | Seeder | Backup,
  InvalidConfig,
  SqlClient.SqlClient | Database | DbConfig
> =>
  layer.pipe(
    Layer.provideMerge(migratorLayerConfig()),
    Layer.provideMerge(seederLayerConfig({ optional: true })),
    Layer.provideMerge(backupLayer)
  )
