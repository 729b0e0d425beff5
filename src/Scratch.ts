/**
 * Scratch databases: a throwaway database beside the one a program runs on, for replaying
 * migrations (drift), test restores and the like. On a server it is a new database on the same
 * server (dropped WITH (FORCE) when the scope closes); on the embedded database it is a fresh
 * in-memory PGlite.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import { type ConnectError, Database, PgliteLive, PgLive } from "./Database.js"

/** The URL of another database on the same server (same credentials). */
export const siblingUrl = (url: Redacted.Redacted<string>, database: string): Redacted.Redacted<string> => {
  const parsed = new URL(Redacted.value(url))
  parsed.pathname = `/${encodeURIComponent(database)}`
  return Redacted.make(parsed.toString())
}

/**
 * What an embedded scratch database starts from: by default PGlite runs initdb (seconds); a
 * `dumpDataDir()` tarball of a fresh, empty PGlite is cloned instead (about a third of that).
 * A program or test suite that makes many scratch databases provides one, e.g.
 * `Layer.succeed(EmbeddedTemplate, Option.some(tarball))`.
 */
export class EmbeddedTemplate extends Context.Reference<EmbeddedTemplate>()("dbkit/Scratch/EmbeddedTemplate", {
  defaultValue: (): Option.Option<Blob> => Option.none()
}) {}

/** A scratch database: its layer, and its URL on a server (for pg tools). */
export interface ScratchDatabase {
  readonly layer: Layer.Layer<SqlClient.SqlClient | Database, ConnectError>
  readonly url: Option.Option<Redacted.Redacted<string>>
}

/**
 * Creates a scratch database for the life of the scope. Needs the CREATEDB privilege on a server.
 */
export const make = (
  prefix = "dbkit_scratch"
): Effect.Effect<ScratchDatabase, SqlError, SqlClient.SqlClient | Database | Scope.Scope> =>
  Effect.gen(function*() {
    const database = yield* Database
    const sql = yield* SqlClient.SqlClient
    if (database.kind === "embedded" || Option.isNone(database.url)) {
      // PGlite runs only the extensions it is given: the scratch one gets those this database has.
      const installed = yield* sql<
        { name: string }
      >`SELECT extname AS name FROM pg_extension WHERE extname <> 'plpgsql'`
      const template = yield* EmbeddedTemplate
      return {
        layer: PgliteLive({
          dataDir: "memory://",
          loadDataDir: Option.getOrUndefined(template),
          extensions: installed.map((e) => e.name)
        }),
        url: Option.none()
      }
    }
    // The pid tells whose it is when several programs (or test processes) share the server.
    const name = `${prefix}_${process.pid}_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`
    yield* Effect.acquireRelease(
      sql.unsafe(`CREATE DATABASE "${name}"`),
      () => Effect.ignore(sql.unsafe(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`))
    )
    const url = siblingUrl(database.url.value, name)
    return { layer: PgLive({ url, poolSize: 2, applicationName: "dbkit-scratch" }), url: Option.some(url) }
  })
