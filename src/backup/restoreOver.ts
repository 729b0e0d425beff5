/**
 * Restoring over the configured database (`restore` without `--into`), guarded. On a server the
 * dump is loaded into a staging database (restoreInto.ts) while the target's restore lock is held
 * (targetLock.ts), then swapped in for the target in one transaction; on the embedded database
 * one transaction replaces the application schemas. See Restore.over for the whole contract.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"
import type * as AdvisoryLock from "../AdvisoryLock.js"
import { type EmbeddedLoad, ownBackendPids } from "../Database.js"
import { Guard } from "../Guard.js"
import { quoteIdent } from "../Identifier.js"
import type { RestoreContext } from "./context.js"
import { RestoreTargetInUse } from "./errors.js"
import * as Files from "./files.js"
import * as Leftovers from "./leftovers.js"
import * as Load from "./load.js"
import type { RestoreOverOptions, RestoreOverResult } from "./Restore.js"
import { loadInto, restoreKey, serverUrl, trusted } from "./restoreInto.js"
import { applicationSchemas, dropSchemas } from "./schemas.js"
import { databaseProperties, holdTargetLock, waitersSessions } from "./targetLock.js"

/**
 * Over the embedded database: one transaction drops the application schemas (public is made
 * again as initdb makes it), loads the dump and compares the counts; COMMIT only if all of it
 * succeeded. PostgreSQL's DDL is transactional, so a failure anywhere restores everything.
 */
const overEmbedded = (
  { backup, config, database, sql }: RestoreContext,
  load: EmbeddedLoad,
  file: string,
  options: RestoreOverOptions
) =>
  Effect.gen(function*() {
    const guard = yield* Guard
    const target = database.database
    const inspected = yield* Files.inspect(file)
    yield* Load.checkEmbeddedFormat(inspected.manifest)
    yield* guard.confirm({
      action: `replace the database with ${file}`,
      variable: "DB_RESTORE",
      target,
      yes: options.yes
    })
    const manifest = yield* Files.checkBeforeLoad(file, yield* restoreKey)
    const safety = options.safetyBackup === false ? null : (yield* backup.backup()).file
    const restored = yield* sql.withTransaction(
      Effect.gen(function*() {
        const schemas = (yield* sql.unsafe<{ name: string }>(applicationSchemas)).map((r) => r.name)
        yield* sql.unsafe(
          `${dropSchemas(schemas)}
           CREATE SCHEMA public AUTHORIZATION pg_database_owner;
           COMMENT ON SCHEMA public IS 'standard public schema';
           GRANT USAGE ON SCHEMA public TO PUBLIC;`
        )
        const loaded = yield* Load.loadEmbedded(load, file, manifest, yield* restoreKey, options.onProgress)
        const counts = inspected.foreign
          ? Load.uncheckedCounts(loaded)
          : yield* Load.compareCounts(file, manifest, loaded).pipe(Effect.provideService(SqlClient.SqlClient, sql))
        return { ...counts, rolesCreated: loaded.rolesCreated }
      })
    )
    const leftoversRemoved: Leftovers.Removed = {
      stagingDatabases: [],
      partialFiles: (yield* Leftovers.removeStalePartialFiles(config.backupDir, new Date(), target)).map((f) => f.file)
    }
    return {
      file,
      database: target,
      ...restored,
      safetyBackup: safety,
      previous: null,
      leftoversRemoved
    } satisfies RestoreOverResult
  })

/**
 * Sessions on `target` but the asking one, split into dbkit's own — this process's pools', and
 * those of dbkit processes queued for the same lock (targetLock.ts) — and everyone else's.
 */
const sessionsOn = (run: AdvisoryLock.Session, url: Redacted.Redacted<string>, target: string) =>
  Effect.zipWith(
    run(
      `SELECT pid, coalesce(application_name, '') AS "applicationName", coalesce(usename, '') AS "user"
         FROM pg_stat_activity WHERE datname = $1 AND backend_type = 'client backend' AND pid <> pg_backend_pid()`,
      [target]
    ),
    waitersSessions(run, target),
    (rows, waiting) => {
      const own = new Set([...ownBackendPids(url), ...waiting])
      const sessions = rows.map((r) => ({
        pid: Number(r.pid),
        applicationName: String(r.applicationName),
        user: String(r.user)
      }))
      return { own: sessions.filter((s) => own.has(s.pid)), others: sessions.filter((s) => !own.has(s.pid)) }
    }
  )

/**
 * The sessions the swap will end: this process's own always; another program's (whatever its
 * application_name) only with --terminate-connections, else RestoreTargetInUse.
 */
const sessionsToEnd = (
  run: AdvisoryLock.Session,
  url: Redacted.Redacted<string>,
  target: string,
  options: RestoreOverOptions,
  safetyBackup: string | null
) =>
  Effect.flatMap(
    sessionsOn(run, url, target),
    ({ others, own }) =>
      others.length > 0 && options.terminateConnections !== true
        ? Effect.fail(new RestoreTargetInUse({ database: target, sessions: others, safetyBackup }))
        : Effect.succeed([...own, ...others])
  ).pipe(
    // Another dbkit restore that has just started connects to the target before it can
    // announce itself as a waiter (holdTargetLock): its session looks like another
    // program's for a moment. Look again for up to 3 s before refusing.
    Effect.retry({
      schedule: Schedule.spaced("250 millis"),
      times: 12,
      while: (error) => error._tag === "RestoreTargetInUse"
    })
  )

/**
 * Over a server database, holding the target's restore lock throughout (targetLock.ts): what
 * killed restores and backups left goes first; the dump is loaded into a staging database of
 * this process's own and checked (the target untouched). Then, only once no other program is
 * connected (or --terminate-connections), the safety backup; and one transaction gives the
 * staging database the target's own properties (owner, ACL, settings, comment, connection
 * limit: no dump holds them) and swaps the two.
 */
const overServer = (
  context: RestoreContext,
  url: Redacted.Redacted<string>,
  target: string,
  file: string,
  options: RestoreOverOptions
) =>
  Effect.scoped(
    Effect.gen(function*() {
      const started = new Date()
      const admin = yield* holdTargetLock(url, target, "restore", options.lockWait)
      const leftoversRemoved: Leftovers.Removed = {
        stagingDatabases: yield* Leftovers.dropStaleStagingDatabases(admin, target, started),
        partialFiles: (yield* Leftovers.removeStalePartialFiles(context.config.backupDir, started, target)).map((f) =>
          f.file
        )
      }
      const staging = Leftovers.stagingName(target, "restore", started)
      const previous = Leftovers.stagingName(target, "previous", started)
      const counts = yield* loadInto(context, url, file, staging, options)
      const swap = Effect.gen(function*() {
        // Every refusal comes before the safety backup, so a refused restore costs none.
        yield* sessionsToEnd(admin, url, target, options, null)
        const safety = options.safetyBackup === false ? null : (yield* context.backup.backup()).file
        // Again: a session may have connected while the backup ran.
        const sessions = yield* sessionsToEnd(admin, url, target, options, safety)
        for (const session of sessions) yield* admin(`SELECT pg_terminate_backend($1)`, [session.pid])
        const properties = yield* databaseProperties(admin, target, staging)
        const swapped = [
          ...properties,
          `ALTER DATABASE ${quoteIdent(target)} RENAME TO ${quoteIdent(previous)}`,
          `ALTER DATABASE ${quoteIdent(staging)} RENAME TO ${quoteIdent(target)}`
        ]
        yield* admin(`BEGIN;\n${swapped.join(";\n")};\nCOMMIT`).pipe(
          Effect.onError(() => Effect.ignore(admin("ROLLBACK")))
        )
        if (safety !== null) yield* Effect.ignore(admin(`DROP DATABASE IF EXISTS ${quoteIdent(previous)} WITH (FORCE)`))
        return safety
      })
      // Only this process's own staging database is dropped: its name is unique to this run.
      const safety = yield* swap.pipe(
        Effect.tapErrorCause(() => Effect.ignore(admin(`DROP DATABASE IF EXISTS ${quoteIdent(staging)} WITH (FORCE)`)))
      )
      return {
        file,
        database: target,
        ...counts,
        safetyBackup: safety,
        previous: safety === null ? previous : null,
        rolesCreated: [],
        leftoversRemoved
      } satisfies RestoreOverResult
    })
  )

/** Restore.over: replaces the configured database with the backup, guarded. */
export const over = (context: RestoreContext, file: string, options: RestoreOverOptions = {}) =>
  Effect.gen(function*() {
    const { database } = context
    yield* trusted(context, file, database.database, options, true)
    if (Option.isSome(database.embeddedLoad)) {
      return yield* overEmbedded(context, database.embeddedLoad.value, file, options)
    }
    const guard = yield* Guard
    const url = yield* serverUrl(context, "restore over this database")
    const target = database.database
    yield* guard.confirm({
      action: `replace the database with ${file}`,
      variable: "DB_RESTORE",
      target,
      yes: options.yes
    })
    return yield* overServer(context, url, target, file, options)
  })
