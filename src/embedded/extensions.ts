/**
 * The PostgreSQL extensions the embedded database can load, and which ones a project needs.
 *
 * PGlite loads an extension only when it is handed to `PGlite.create`, so before opening we read
 * what the project's migrations `CREATE EXTENSION` (a regex over the files, no parsing) and
 * import just those bundles: start-up imports none unless a migration or the caller names one.
 * One PGlite does not ship fails before anything is opened or created, naming the migration.
 */
import type { Extension } from "@electric-sql/pglite"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as fs from "node:fs"
import * as path from "node:path"

/** A migration (or the caller) needs an extension the embedded database cannot load. */
export class EmbeddedExtensionUnavailable extends Data.TaggedError("EmbeddedExtensionUnavailable")<{
  readonly extension: string
  /** The migration file naming it, relative to the migrations folder; absent when the caller asked. */
  readonly file?: string | undefined
}> {
  override get message() {
    const where = this.file === undefined ? "" : ` (migration ${this.file})`
    return `the embedded database cannot load extension "${this.extension}"${where}; run against a PostgreSQL server (set DATABASE_URL)`
  }
}

/** An extension some source asks for: its SQL name and, from a migration, the file. */
export interface ExtensionRequest {
  readonly name: string
  readonly file?: string | undefined
}

// autoinc, insert_username, moddatetime and refint share one bundle (spi) in PGlite.
const spi = () => import("@electric-sql/pglite/contrib/moddatetime").then((m) => m.moddatetime)

/**
 * SQL extension name (as in CREATE EXTENSION) → the PGlite 0.5.x bundle providing it, imported on
 * first use. The list is dist/contrib of that version, less auto_explain (a module, not an
 * extension). pgvector and PostGIS are not in it: PGlite publishes them as separate packages.
 */
const loaders: Readonly<Record<string, () => Promise<Extension>>> = {
  amcheck: () => import("@electric-sql/pglite/contrib/amcheck").then((m) => m.amcheck),
  autoinc: spi,
  bloom: () => import("@electric-sql/pglite/contrib/bloom").then((m) => m.bloom),
  btree_gin: () => import("@electric-sql/pglite/contrib/btree_gin").then((m) => m.btree_gin),
  btree_gist: () => import("@electric-sql/pglite/contrib/btree_gist").then((m) => m.btree_gist),
  citext: () => import("@electric-sql/pglite/contrib/citext").then((m) => m.citext),
  cube: () => import("@electric-sql/pglite/contrib/cube").then((m) => m.cube),
  dict_int: () => import("@electric-sql/pglite/contrib/dict_int").then((m) => m.dict_int),
  dict_xsyn: () => import("@electric-sql/pglite/contrib/dict_xsyn").then((m) => m.dict_xsyn),
  earthdistance: () => import("@electric-sql/pglite/contrib/earthdistance").then((m) => m.earthdistance),
  file_fdw: () => import("@electric-sql/pglite/contrib/file_fdw").then((m) => m.file_fdw),
  fuzzystrmatch: () => import("@electric-sql/pglite/contrib/fuzzystrmatch").then((m) => m.fuzzystrmatch),
  hstore: () => import("@electric-sql/pglite/contrib/hstore").then((m) => m.hstore),
  insert_username: spi,
  intarray: () => import("@electric-sql/pglite/contrib/intarray").then((m) => m.intarray),
  isn: () => import("@electric-sql/pglite/contrib/isn").then((m) => m.isn),
  lo: () => import("@electric-sql/pglite/contrib/lo").then((m) => m.lo),
  ltree: () => import("@electric-sql/pglite/contrib/ltree").then((m) => m.ltree),
  moddatetime: spi,
  pageinspect: () => import("@electric-sql/pglite/contrib/pageinspect").then((m) => m.pageinspect),
  pg_buffercache: () => import("@electric-sql/pglite/contrib/pg_buffercache").then((m) => m.pg_buffercache),
  pg_freespacemap: () => import("@electric-sql/pglite/contrib/pg_freespacemap").then((m) => m.pg_freespacemap),
  pg_stat_statements: () => import("@electric-sql/pglite/contrib/pg_stat_statements").then((m) => m.pg_stat_statements),
  pg_surgery: () => import("@electric-sql/pglite/contrib/pg_surgery").then((m) => m.pg_surgery),
  pg_trgm: () => import("@electric-sql/pglite/contrib/pg_trgm").then((m) => m.pg_trgm),
  pg_visibility: () => import("@electric-sql/pglite/contrib/pg_visibility").then((m) => m.pg_visibility),
  pg_walinspect: () => import("@electric-sql/pglite/contrib/pg_walinspect").then((m) => m.pg_walinspect),
  pgcrypto: () => import("@electric-sql/pglite/contrib/pgcrypto").then((m) => m.pgcrypto),
  refint: spi,
  seg: () => import("@electric-sql/pglite/contrib/seg").then((m) => m.seg),
  tablefunc: () => import("@electric-sql/pglite/contrib/tablefunc").then((m) => m.tablefunc),
  tcn: () => import("@electric-sql/pglite/contrib/tcn").then((m) => m.tcn),
  tsm_system_rows: () => import("@electric-sql/pglite/contrib/tsm_system_rows").then((m) => m.tsm_system_rows),
  tsm_system_time: () => import("@electric-sql/pglite/contrib/tsm_system_time").then((m) => m.tsm_system_time),
  unaccent: () => import("@electric-sql/pglite/contrib/unaccent").then((m) => m.unaccent),
  "uuid-ossp": () => import("@electric-sql/pglite/contrib/uuid_ossp").then((m) => m.uuid_ossp)
}

/** Built into every PostgreSQL, PGlite included: nothing to load. */
const BUILT_IN = new Set(["plpgsql"])

/** Whether PGlite ships the extension as a bundle to load (plpgsql, built in, is not one). */
export const isShipped = (name: string): boolean => Object.hasOwn(loaders, name)

const CREATE_EXTENSION = /\bcreate\s+extension\s+(?:if\s+not\s+exists\s+)?("(?:[^"]|"")+"|[a-z_][a-z0-9_$]*)/gi

/** The extension names a SQL text creates, in order; comments are skipped, unquoted names folded. */
export const extensionsCreatedBy = (text: string): ReadonlyArray<string> => {
  const code = text.replace(/\/\*[\s\S]*?\*\//g, " ").replace(/^\s*--.*$/gm, "")
  return [...code.matchAll(CREATE_EXTENSION)].map(([, name]) =>
    name!.startsWith("\"") ? name!.slice(1, -1).replace(/""/g, "\"") : name!.toLowerCase()
  )
}

/** Every `.sql` file under `dir` (drizzle-kit and plain folders alike), in name order. */
const sqlFiles = (dir: string): ReadonlyArray<string> => {
  let entries: Array<fs.Dirent>
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true })
  } catch {
    return []
  }
  return entries
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    .flatMap((entry) => {
      const file = path.join(dir, entry.name)
      return entry.isDirectory() ? sqlFiles(file) : entry.isFile() && entry.name.endsWith(".sql") ? [file] : []
    })
}

/**
 * The extensions the migrations in `dir` create, each with the first file naming it. A missing
 * folder or an unreadable file counts as naming none: reading migrations is the migrator's job,
 * and it reports those itself.
 */
export const requestedByMigrations = (dir: string): ReadonlyArray<ExtensionRequest> => {
  const requests = new Map<string, ExtensionRequest>()
  for (const file of sqlFiles(dir)) {
    let text: string
    try {
      text = fs.readFileSync(file, "utf8")
    } catch {
      continue
    }
    for (const name of extensionsCreatedBy(text)) {
      if (!requests.has(name)) requests.set(name, { name, file: path.relative(dir, file) })
    }
  }
  return [...requests.values()]
}

/**
 * The `extensions` option for `PGlite.create` that loads the requested extensions: the first one
 * PGlite does not ship fails, before anything is imported. Keyed by bundle name, so extensions
 * sharing a bundle load it once.
 */
export const load = (
  requests: ReadonlyArray<ExtensionRequest>
): Effect.Effect<Record<string, Extension>, EmbeddedExtensionUnavailable> =>
  Effect.gen(function*() {
    const missing = requests.find((request) => !BUILT_IN.has(request.name) && !isShipped(request.name))
    if (missing !== undefined) {
      return yield* new EmbeddedExtensionUnavailable({ extension: missing.name, file: missing.file })
    }
    const wanted = [...new Set(requests.map((request) => request.name).filter((name) => !BUILT_IN.has(name)))]
    if (wanted.length === 0) return {}
    // A bundle that fails to import is a broken install, not something a caller can handle.
    const bundles = yield* Effect.promise(() => Promise.all(wanted.map((name) => loaders[name]!())))
    return Object.fromEntries(bundles.map((bundle) => [bundle.name.replace(/-/g, "_"), bundle]))
  })
