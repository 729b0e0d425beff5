/**
 * Opening the embedded PGlite database for `Database.layerPglite`: the extensions it needs, the
 * data directory's lock and version check, the instance itself (closed with the scope), and its
 * own pg_dump. The layer in Database.ts wraps the instance in a SqlClient and describes it.
 */
import type { PGlite } from "@electric-sql/pglite"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as fs from "node:fs"
import * as path from "node:path"
import { type ConnectError, DatabaseUnavailable, EmbeddedVersionMismatch } from "../DatabaseErrors.js"
import * as EmbeddedLock from "./EmbeddedLock.js"
import * as EmbeddedExtensions from "./extensions.js"

/** The major PostgreSQL version inside the bundled PGlite; data directories must match it. */
export const EMBEDDED_PG_MAJOR = "18"

/** Where the embedded database lives and what it loads. */
export interface PgliteOptions {
  readonly dataDir: string
  /** Start from a `dumpDataDir()` tarball instead of running initdb (fast clones for tests). */
  readonly loadDataDir?: Blob | undefined
  /** Extensions to load, by SQL name (`"pgcrypto"`, `"uuid-ossp"`). */
  readonly extensions?: ReadonlyArray<string> | undefined
  /** A migrations folder: the extensions its `.sql` files `CREATE EXTENSION` are loaded too. */
  readonly migrationsDir?: string | undefined
}

const isInMemory = (dataDir: string) => dataDir.startsWith("memory://")

/** How reports name the embedded database: its data directory, or "in memory". */
export const targetOf = (dataDir: string) => isInMemory(dataDir) ? "embedded (in memory)" : `embedded ${dataDir}`

/** Refuses a data directory written by another PostgreSQL major version. */
const checkDataDirVersion = (dataDir: string) =>
  Effect.suspend(() => {
    const versionFile = path.join(dataDir, "PG_VERSION")
    if (!fs.existsSync(versionFile)) return Effect.void
    const found = fs.readFileSync(versionFile, "utf8").trim()
    return found === EMBEDDED_PG_MAJOR
      ? Effect.void
      : Effect.fail(new EmbeddedVersionMismatch({ dataDir, found, expected: EMBEDDED_PG_MAJOR }))
  })

/**
 * The PGlite instance for `options`, closed with the scope. A data directory is locked for the
 * scope's life first (a second opener is `EmbeddedInUse`), and the extensions are resolved before
 * anything is opened or created, so a migration needing one PGlite lacks changes nothing on disk.
 */
export const open = (options: PgliteOptions): Effect.Effect<PGlite, ConnectError, Scope.Scope> =>
  Effect.gen(function*() {
    const inMemory = isInMemory(options.dataDir)
    const target = targetOf(options.dataDir)
    const requested: Array<EmbeddedExtensions.ExtensionRequest> = [
      ...(options.extensions ?? []).map((name) => ({ name })),
      ...(options.migrationsDir === undefined ? [] : EmbeddedExtensions.requestedByMigrations(options.migrationsDir))
    ]
    const extensions = yield* EmbeddedExtensions.load(requested)
    if (!inMemory) {
      yield* EmbeddedLock.acquire(options.dataDir)
      yield* checkDataDirVersion(options.dataDir)
    }
    const { PGlite } = yield* Effect.promise(() => import("@electric-sql/pglite"))
    const create = (loaded: typeof extensions, loadDataDir: Blob | undefined) =>
      Effect.tryPromise({
        try: () =>
          PGlite.create(
            inMemory ? undefined : options.dataDir,
            loadDataDir ? { loadDataDir, extensions: loaded } : { extensions: loaded }
          ),
        catch: (cause) =>
          new DatabaseUnavailable({
            target,
            reason: `could not open the embedded database: ${cause instanceof Error ? cause.message : String(cause)}`
          })
      })
    const close = (pg: PGlite) =>
      Effect.promise(() => pg.close()).pipe(Effect.timeoutOption("5 seconds"), Effect.ignore)
    // An extension installed earlier whose migration is gone (or came with a loaded data
    // directory) must be loaded too; only a catalog query tells, so reopen in that rare case.
    const withInstalled = (pg: PGlite) =>
      Effect.gen(function*() {
        const installed = yield* Effect.tryPromise(() =>
          pg.query<{ extname: string }>("SELECT extname FROM pg_extension")
        )
          .pipe(
            Effect.map((result) => result.rows.map((row) => row.extname)),
            Effect.orElseSucceed((): Array<string> => [])
          )
        const known = new Set(requested.map((request) => request.name))
        const unloaded = installed.filter((name) => !known.has(name) && EmbeddedExtensions.isShipped(name))
        if (unloaded.length === 0) return pg
        const all = yield* EmbeddedExtensions.load([...requested, ...unloaded.map((name) => ({ name }))])
        yield* close(pg)
        return yield* create(all, inMemory ? options.loadDataDir : undefined)
      })
    return yield* Effect.acquireRelease(Effect.flatMap(create(extensions, options.loadDataDir), withInstalled), close)
  })

/**
 * The embedded database's own pg_dump (PGlite's WASM build) over `pg`, given pg_dump arguments;
 * it runs in the one session, so the caller must hold it (inside `sql.reserve` / a transaction).
 */
export const dump =
  (pg: PGlite, target: string) => (args: ReadonlyArray<string>): Effect.Effect<Blob, DatabaseUnavailable> =>
    Effect.tryPromise({
      try: async () => {
        const { pgDump } = await import("@electric-sql/pglite-tools/pg_dump")
        try {
          return (await pgDump({ pg, args: [...args] })) as Blob
        } finally {
          // pg_dump runs in this very session: it leaves its REPEATABLE READ, READ ONLY
          // transaction open and its session settings changed (search_path = '',
          // row_security, timeouts…). End the one and undo the others, or later work fails.
          await pg.exec("ROLLBACK").catch(() => undefined)
          await pg.exec("RESET ALL").catch(() => undefined)
        }
      },
      catch: (cause) =>
        new DatabaseUnavailable({
          target,
          reason: `embedded pg_dump failed: ${cause instanceof Error ? cause.message : String(cause)}`
        })
    })
