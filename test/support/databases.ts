/**
 * Real databases for tests: a scratch database per test file on the local server (created with
 * a unique name, dropped with FORCE afterwards) and in-memory PGlite instances cloned from the
 * run's template. Server tests run when the server is reachable; with CI=true an unreachable
 * server fails the file instead of skipping it.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import pg from "pg"
import { inject } from "vitest"
import { Database, PgliteLive, PgLive } from "../../src/Database.js"
import { EmbeddedTemplate } from "../../src/Scratch.js"

/** The server URL tests use: DATABASE_URL, else the local default. */
export const serverUrl = process.env.DATABASE_URL ?? "postgres://root@127.0.0.1:5432/postgres"

/** The same server, another database. */
export const urlFor = (database: string): string => {
  const url = new URL(serverUrl)
  url.pathname = `/${database}`
  return url.toString()
}

export const adminUrl = urlFor("postgres")

/** Whether the server answers; throws under CI=true when it does not. */
export const serverAvailable = async (): Promise<boolean> => {
  const client = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: 3000 })
  try {
    await client.connect()
    await client.query("select 1")
    return true
  } catch (error) {
    if (process.env.CI === "true" || process.env.CI === "1") {
      throw new Error(`PostgreSQL is required (CI=true) but not reachable: ${(error as Error).message}`)
    }
    return false
  } finally {
    await client.end().catch(() => undefined)
  }
}

/** Runs SQL on the server's `postgres` database (create/drop databases). */
export const admin = <A = any>(text: string, params: Array<unknown> = []): Promise<Array<A>> =>
  queryAt<A>(adminUrl, text, params)

/** Runs one statement on the database at `url` over a connection of its own. */
export const queryAt = async <A = any>(url: string, text: string, params: Array<unknown> = []): Promise<Array<A>> => {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    return (await client.query(text, params)).rows
  } finally {
    await client.end()
  }
}

/** A database (or role) name no other test process uses: `<prefix>_<pid>_<time>_<random>`, ≤ 63 bytes for a short prefix. */
export const uniqueName = (prefix: string) =>
  `${prefix}_${process.pid}_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`

/** Creates a scratch database; returns its name and URL. */
export const createScratchDatabase = async (prefix = "dbkit_test") => {
  const name = uniqueName(prefix)
  await admin(`CREATE DATABASE "${name}"`)
  return { name, url: urlFor(name) }
}

export const dropScratchDatabase = (name: string) => admin(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`)

/** A scratch database on the server for the life of the layer. */
export class ScratchDatabase extends Context.Tag("test/ScratchDatabase")<ScratchDatabase, {
  readonly name: string
  readonly url: Redacted.Redacted<string>
}>() {}

export const ScratchDatabaseLive = Layer.scoped(
  ScratchDatabase,
  Effect.acquireRelease(
    Effect.promise(() => createScratchDatabase()),
    ({ name }) => Effect.promise(() => dropScratchDatabase(name))
  ).pipe(Effect.map(({ name, url }) => ({ name, url: Redacted.make(url) })))
)

/** SqlClient + Database over a fresh scratch database on the server. */
export const ServerLive: Layer.Layer<SqlClient.SqlClient | Database | ScratchDatabase> = Layer.unwrapEffect(
  Effect.map(ScratchDatabase, (scratch) => PgLive({ url: scratch.url, poolSize: 5 }))
).pipe(Layer.orDie, Layer.provideMerge(ScratchDatabaseLive))

let template: Blob | undefined

/** The run's fresh-PGlite tarball (made once by global-setup.ts): clone it instead of running initdb. */
export const pgliteTemplate = (): Blob => (template ??= new Blob([fs.readFileSync(inject("pgliteTemplate"))]))

/** Embedded scratch databases (drift, dry runs, test restores) cloned from the run's template, for a test's own PgliteLive. */
export const ScratchFromTemplate: Layer.Layer<EmbeddedTemplate> = Layer.sync(
  EmbeddedTemplate,
  () => Option.some(pgliteTemplate())
)

/**
 * SqlClient + Database over a fresh in-memory PGlite cloned from the run's template; the scratch
 * databases made on it (drift, dry runs, test restores) are clones of the template too.
 */
export const EmbeddedLive: Layer.Layer<SqlClient.SqlClient | Database> = Layer.unwrapEffect(
  Effect.sync(() =>
    PgliteLive({ dataDir: "memory://", loadDataDir: pgliteTemplate() }).pipe(Layer.merge(ScratchFromTemplate))
  )
).pipe(Layer.orDie)

/**
 * An embedded data directory holding the run's fresh cluster (at `dataDir`, else a new
 * `<temp>/pglite`), for a test whose subject is not creating one: dbkit opens it instead of
 * running initdb, which takes seconds.
 */
export const embeddedDataDir = (dataDir = path.join(tempDir(), "pglite")): string => {
  fs.mkdirSync(dataDir, { recursive: true })
  execFileSync("tar", ["-xzf", inject("pgliteTemplate"), "-C", dataDir], { stdio: "ignore" })
  return dataDir
}

/** The backends a behavioural suite runs on: both, or only the embedded one without a server. */
export const backends = async () => {
  const server = await serverAvailable()
  return [
    ...(server ? [{ name: "server", layer: ServerLive as Layer.Layer<SqlClient.SqlClient | Database> }] : []),
    { name: "embedded", layer: EmbeddedLive }
  ]
}

/** The temporary directories to remove when the process exits: one listener for all of them. */
const leftBehind = new Set<string>()
let listening = false

/** A temporary directory removed when the process exits. */
export const tempDir = (prefix = "dbkit-") => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix))
  leftBehind.add(dir)
  if (!listening) {
    listening = true
    process.on("exit", () => leftBehind.forEach((d) => fs.rmSync(d, { recursive: true, force: true })))
  }
  return dir
}
