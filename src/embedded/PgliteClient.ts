/**
 * An @effect/sql `SqlClient` over an in-process PGlite instance.
 *
 * PGlite is a single session, so a one-permit semaphore gives each statement, stream or
 * transaction the session to itself: a concurrent caller waits for an open transaction to
 * finish instead of running inside it. Statements without parameters go through `exec` (the
 * simple query protocol), so a multi-statement migration file runs in one call, as on the server.
 */
import * as Reactivity from "@effect/experimental/Reactivity"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as SqlClient from "@effect/sql/SqlClient"
import type { Connection } from "@effect/sql/SqlConnection"
import { SqlError } from "@effect/sql/SqlError"
import type { PGlite, Results } from "@electric-sql/pglite"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"

type RowTransform = (<A extends object>(rows: ReadonlyArray<A>) => ReadonlyArray<A>) | undefined

/** The embedded connection's COPY FROM '/dev/blob' (PGlite takes the data as a Blob). */
export interface CopyCapable {
  readonly copyFromBlob: (statement: string, blob: Blob) => Effect.Effect<void, SqlError>
}

/** The connection's blob COPY, when it is an embedded connection. */
export const copyCapable = (conn: Connection): CopyCapable["copyFromBlob"] | undefined => {
  const copy = (conn as Partial<CopyCapable>).copyFromBlob
  return typeof copy === "function" ? copy : undefined
}

const rowsOf = (results: ReadonlyArray<Results>): ReadonlyArray<any> =>
  results.length === 1 ? results[0]!.rows : results.map((result) => result.rows)

/** Builds a SqlClient whose statements run on the given PGlite instance. */
export const make = (pg: PGlite): Effect.Effect<SqlClient.SqlClient, never, Reactivity.Reactivity> =>
  Effect.gen(function*() {
    const session = yield* Effect.makeSemaphore(1)

    const attempt = <A>(message: string, run: () => Promise<A>): Effect.Effect<A, SqlError> =>
      Effect.tryPromise({ try: run, catch: (cause) => new SqlError({ cause, message }) })

    const run = (sql: string, params: ReadonlyArray<unknown>) =>
      params.length === 0
        ? Effect.map(attempt("Failed to execute statement", () => pg.exec(sql)), rowsOf)
        : Effect.map(
          attempt("Failed to execute statement", () => pg.query(sql, params as Array<unknown>)),
          (r) => r.rows
        )

    const connection: Connection & CopyCapable = {
      copyFromBlob: (statement, blob) =>
        Effect.asVoid(attempt("Failed to execute statement", () => pg.query(statement, [], { blob }))),
      execute: (sql, params, transformRows: RowTransform) =>
        Effect.map(run(sql, params), (rows) => (transformRows ? transformRows(rows) : rows)),
      executeRaw: (sql, params) =>
        attempt("Failed to execute statement", () => pg.query(sql, params as Array<unknown>)),
      executeValues: (sql, params) =>
        Effect.map(
          attempt("Failed to execute statement", () =>
            pg.query<Array<unknown>>(sql, params as Array<unknown>, { rowMode: "array" })),
          (result) =>
            result.rows
        ),
      executeUnprepared: (sql, params, transformRows: RowTransform) =>
        Effect.map(run(sql, params), (rows) => (transformRows ? transformRows(rows) : rows)),
      // PGlite materialises results anyway; a stream is the rows of one query, chunked.
      executeStream: (sql, params, transformRows: RowTransform) =>
        Stream.flatMap(
          Stream.fromEffect(run(sql, params)),
          (rows) => Stream.fromChunk(Chunk.unsafeFromArray(transformRows ? transformRows(rows) : rows))
        )
    }

    // Each acquisition holds the session for the acquirer's scope (one statement, or one
    // whole transaction / reserved connection).
    const acquire = Effect.as(Effect.acquireRelease(session.take(1), () => session.release(1)), connection)

    return yield* SqlClient.make({
      acquirer: acquire,
      transactionAcquirer: acquire,
      compiler: PgClient.makeCompiler(),
      spanAttributes: [["db.system.name", "postgresql"], ["db.namespace", "pglite"]]
    })
  })
