/**
 * Anonymize: a database whose declared personal columns (the privacy map) hold realistic,
 * consistent fakes (fake.ts) instead of people's data, for development with production-shaped
 * data.
 *
 * `into`: a new database on the same server, created unreachable (ALLOW_CONNECTIONS false, then
 * CONNECT revoked from PUBLIC), filled by `pg_dump <source> | psql <new>` (plain SQL streamed, no
 * temp file, ON_ERROR_STOP), every declared column of every declared table rewritten in keyset
 * batches (one transaction, auditing off), the rewritten tables VACUUM FULL'd (so no old row
 * version or statistic keeps an original) and only then CONNECT granted back. Any failure or interrupt drops the new database;
 * a small guardian process (sh + psql) drops it too if this process dies without cleaning up
 * (SIGKILL, OOM), so it is never left holding original data.
 *
 * In place (no `into`): the configured database, rewritten the same way in one transaction (all
 * or nothing), then vacuumed; refused outright in production and otherwise guarded
 * (DB_ANONYMIZE_CONFIRM=1 or `yes`). Works on the embedded database too.
 *
 * Encrypted columns are decrypted with the keyring, faked, and the fake encrypted under the
 * active key. A fresh random run key per run makes the fakes; it is never stored or printed.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { randomBytes } from "node:crypto"
import { InvalidDatabaseName } from "../backup/Restore.js"
import { DbConfig } from "../Config.js"
import { Database, NotSupportedOnEmbedded, PgLive } from "../Database.js"
import { Guard } from "../Guard.js"
import { quoteIdent } from "../Identifier.js"
import * as PgTools from "../PgTools.js"
import { siblingUrl } from "../Scratch.js"
import { copyDatabase, guardian, literal, NAME } from "./anonymizeCopy.js"
import {
  type AnonymizeError,
  AnonymizeFailed,
  AnonymizeRefusedInProduction,
  AnonymizeTargetExists
} from "./anonymizeErrors.js"
import { planFor, type TablePlan } from "./anonymizePlan.js"
import type { AnonymizeOptions, AnonymizeReport, TableReport } from "./anonymizeReport.js"
import { type RewriteContext, rewriteTable, serverError, vacuum } from "./anonymizeRewrite.js"
import type { PrivacyMap } from "./declare.js"
export {
  type AnonymizeError,
  AnonymizeFailed,
  AnonymizeNeedsBypassRls,
  AnonymizeRefusedInProduction,
  AnonymizeTargetExists
} from "./anonymizeErrors.js"
export {
  type AnonymizeOptions,
  type AnonymizeProgress,
  type AnonymizeReport,
  type TableReport
} from "./anonymizeReport.js"

// ---------------------------------------------------------------------------------------------
// the entry point

/**
 * Anonymizes: into a new database (`options.into`, server only) or the configured database in
 * place (guarded; refused in production). Returns what was rewritten.
 */
export const anonymize = (
  map: PrivacyMap,
  options: AnonymizeOptions = {}
): Effect.Effect<
  AnonymizeReport,
  AnonymizeError,
  SqlClient.SqlClient | Database | DbConfig | Guard
> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const database = yield* Database
    const started = Date.now()
    const batchSize = Math.max(1, Math.floor(options.batchSize ?? 1000))
    const context: RewriteContext = {
      runKey: randomBytes(32),
      keyring: options.keyring,
      batchSize,
      onProgress: options.onProgress ?? (() => undefined)
    }
    /** Every declared table in one transaction, unaudited (the copy's audit_log is not flooded; it holds no values anyway). */
    const rewriteAll = (
      client: SqlClient.SqlClient,
      plans: ReadonlyArray<TablePlan>,
      target: string,
      cleanup: AnonymizeFailed["cleanup"]
    ) =>
      client.withTransaction(
        Effect.zipRight(
          client`SELECT set_config('dbkit.audit', 'off', true)`,
          Effect.forEach(plans, (plan) => rewriteTable(client, plan, context, target, cleanup))
        )
      )
    const report = (
      mode: AnonymizeReport["mode"],
      target: string,
      tables: ReadonlyArray<TableReport>,
      times: { copyMs: number | null; rewriteMs: number; vacuumMs: number }
    ): AnonymizeReport => {
      const rows = tables.reduce((sum, t) => sum + t.rows, 0)
      return {
        mode,
        source: database.database,
        database: target,
        tables,
        rows,
        ...times,
        durationMs: Date.now() - started,
        rowsPerSecond: rows / Math.max(0.001, times.rewriteMs / 1000)
      }
    }

    if (options.into === undefined) {
      const config = yield* DbConfig
      if (config.environment === "production") {
        return yield* new AnonymizeRefusedInProduction({ database: database.database })
      }
      const plans = yield* planFor(sql, map, options.keyring)
      const guard = yield* Guard
      yield* guard.confirm({
        action: "anonymize the database in place (every declared personal column is overwritten with fake values)",
        variable: "DB_ANONYMIZE",
        target: database.database,
        yes: options.yes
      })
      const rewriteStarted = Date.now()
      const tables = yield* rewriteAll(sql, plans, database.database, "rolled back")
      const rewriteMs = Date.now() - rewriteStarted
      // Committed: a VACUUM that fails (e.g. a lock it cannot get) does not undo that; it is reported.
      const vacuumMs = yield* vacuum(sql, plans, context.onProgress).pipe(
        Effect.catchAll((error) =>
          Effect.as(
            Effect.logWarning(
              `VACUUM FULL after anonymizing failed (${
                serverError(error).reason
              }); old row versions may keep original values until the tables are vacuumed`
            ),
            0
          )
        )
      )
      return report("in-place", database.database, tables, { copyMs: null, rewriteMs, vacuumMs })
    }

    const name = options.into
    if (!NAME.test(name)) return yield* new InvalidDatabaseName({ name })
    if (Option.isNone(database.url)) {
      return yield* new NotSupportedOnEmbedded({
        feature: "anonymize --into",
        instead: "anonymize the embedded database in place (--in-place); it holds a single database"
      })
    }
    const url = database.url.value
    const [exists] = yield* sql<{ e: boolean }>`SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = ${name}) AS e`
    if (exists?.e) return yield* new AnonymizeTargetExists({ database: name })
    const plans = yield* planFor(sql, map, options.keyring)
    // Tools before anything is created: pg_dump at least the server's major, psql at least pg_dump's.
    const [server] = yield* sql<{ num: number }>`SELECT current_setting('server_version_num')::int AS num`
    const serverMajor = Math.floor(server!.num / 10000)
    const [dumpMajor, psqlMajor] = yield* Effect.all([PgTools.major("pg_dump"), PgTools.major("psql")])
    if (dumpMajor < serverMajor) {
      return yield* new PgTools.PgToolTooOld({ tool: "pg_dump", toolMajor: dumpMajor, serverMajor })
    }
    if (psqlMajor < Math.max(serverMajor, dumpMajor)) {
      return yield* new PgTools.PgToolTooOld({
        tool: "psql",
        toolMajor: psqlMajor,
        serverMajor: Math.max(serverMajor, dumpMajor)
      })
    }
    const [locale] = yield* sql<{ encoding: string; collate: string; ctype: string }>`
      SELECT pg_encoding_to_char(encoding) AS encoding, datcollate::text AS collate, datctype::text AS ctype
        FROM pg_database WHERE datname = current_database()`
    const target = quoteIdent(name)

    return yield* Effect.scoped(Effect.gen(function*() {
      const guard = yield* guardian(url, name)
      // Created unreachable; from here on, any failure or interrupt drops it again.
      yield* Effect.sync(guard.creating)
      yield* Effect.acquireRelease(
        sql.unsafe(
          `CREATE DATABASE ${target} TEMPLATE template0 ENCODING ${literal(locale!.encoding)} ` +
            `LC_COLLATE ${literal(locale!.collate)} LC_CTYPE ${literal(locale!.ctype)} ALLOW_CONNECTIONS false`
        ).pipe(
          Effect.tap(() => Effect.sync(guard.created)),
          // Created by someone else since we looked.
          Effect.catchIf(
            (error) => serverError(error).code === "42P04",
            () => Effect.fail(new AnonymizeTargetExists({ database: name }))
          )
        ),
        (_, exit) =>
          Exit.isSuccess(exit) ? Effect.void : sql.unsafe(`DROP DATABASE IF EXISTS ${target} WITH (FORCE)`).pipe(
            Effect.timeout("60 seconds"),
            // Our drop failed (the server went away?): the guardian tries once we are gone.
            Effect.catchAll(() => Effect.sync(guard.abandon))
          )
      )
      yield* sql.unsafe(`REVOKE CONNECT ON DATABASE ${target} FROM PUBLIC`)
      yield* sql.unsafe(`ALTER DATABASE ${target} ALLOW_CONNECTIONS true`)
      const targetUrl = siblingUrl(url, name)
      context.onProgress({ _tag: "Copying", into: name })
      const copyStarted = Date.now()
      const bytes = yield* copyDatabase(url, targetUrl)
      const copyMs = Date.now() - copyStarted
      context.onProgress({ _tag: "Copied", bytes, durationMs: copyMs })
      const { rewriteMs, tables, vacuumMs } = yield* Effect.scoped(Effect.gen(function*() {
        const copy = Context.get(
          yield* Layer.build(PgLive({ url: targetUrl, poolSize: 1, applicationName: "dbkit-anonymize" })),
          SqlClient.SqlClient
        )
        const rewriteStarted = Date.now()
        const tables = yield* rewriteAll(copy, plans, name, "dropped")
        const rewriteMs = Date.now() - rewriteStarted
        return { tables, rewriteMs, vacuumMs: yield* vacuum(copy, plans, context.onProgress) }
      }))
      yield* sql.unsafe(`GRANT CONNECT ON DATABASE ${target} TO PUBLIC`)
      return report("into", name, tables, { copyMs, rewriteMs, vacuumMs })
    }))
  })
