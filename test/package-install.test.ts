/**
 * dbkit installed as a dependency of someone else's project: the tarball `npm pack` makes,
 * installed by npm from the real registry next to `effect@3` and `@effect/sql` in a fresh
 * project. The install must resolve (no peer loops, one PGlite), the bin must run, the
 * consumer's strict `tsc` must accept a program using dbkit's compiled types, the library must
 * run from dist/index.js, and `dbkit migrate` must work on the embedded database.
 *
 * Needs the npm registry (and downloads ~60 packages into a cache kept under the OS temp dir, so
 * later runs are faster); skipped when it is unreachable, failed under CI=true.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { writeFolder } from "./support/migrations.js"
import { cleanEnv, type InstalledProject, installProject, npm, registryAvailable, run } from "./support/tarball.js"

const online = await registryAvailable()

/** The consumer's own config: strict, NodeNext. skipLibCheck is on, as drizzle-orm's types require (see the last test). */
const tsconfig = {
  compilerOptions: {
    target: "ES2022",
    lib: ["ES2022"],
    module: "NodeNext",
    moduleResolution: "NodeNext",
    strict: true,
    exactOptionalPropertyTypes: true,
    noUncheckedIndexedAccess: true,
    skipLibCheck: true,
    types: ["node"],
    outDir: "build"
  },
  include: ["index.ts"]
}

/** A program as a user writes it: dbkit's services and layers, wired with Effect, on in-memory PGlite. */
const program = `import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import { DatabaseLive, DbConfig, MigrationSource, Migrator, PgLive } from "dbkit"

const program = Effect.gen(function*() {
  const migrator = yield* Migrator
  const result = yield* migrator.migrate()
  const sql = yield* SqlClient.SqlClient
  const rows = yield* sql<{ readonly n: number }>\`select count(*)::int as n from information_schema.tables where table_name = 'widgets'\`
  return { applied: result.applied.map((m) => m.name), widgets: rows[0]?.n ?? 0 }
})

/** The embedded database in memory, chosen by DbConfig (no DATABASE_URL). */
const embedded = Migrator.layerConfig().pipe(
  Layer.provideMerge(DatabaseLive),
  Layer.provideMerge(DbConfig.layerFrom({ dataDir: "memory://", migrationsDir: "migrations" }))
)

/** The same program on a server (typechecked only). */
export const onServer = (url: string) =>
  program.pipe(
    Effect.provide(
      Migrator.layer({ source: MigrationSource.fromDirectory("migrations") }).pipe(
        Layer.provideMerge(PgLive({ url: Redacted.make(url) }))
      )
    )
  )

const result = await Effect.runPromise(program.pipe(Effect.provide(embedded)))
console.log(JSON.stringify(result))
`

/** Opens the data directory `dbkit migrate` left and says whether the table is there. */
const checkTable = `import { PGlite } from "@electric-sql/pglite"
const pg = await PGlite.create(".dbkit/pglite")
const { rows } = await pg.query("select to_regclass('public.widgets')::text as t")
await pg.close()
console.log(JSON.stringify(rows))
`

const root = fs.mkdtempSync(path.join(os.tmpdir(), "dbkit-install-"))
let project: InstalledProject
const bin = (name: string) => path.join(project.dir, "node_modules", ".bin", name)

describe.runIf(online)("dbkit installed from its tarball with npm", () => {
  beforeAll(async () => {
    const dir = writeFolder(
      {
        "migrations/0001_init.sql": "CREATE TABLE widgets (id int PRIMARY KEY, name text NOT NULL);\n",
        "tsconfig.json": `${JSON.stringify(tsconfig, null, 2)}\n`,
        "index.ts": program,
        "check-table.mjs": checkTable
      },
      path.join(root, "consumer")
    )
    project = await installProject(dir, ["effect@3", "@effect/sql", "typescript@5.9", "@types/node@20"])
    console.info(
      `npm install of the dbkit tarball + effect@3 @effect/sql typescript @types/node: ${project.seconds.toFixed(1)} s`
    )
  }, 900_000)

  afterAll(() => fs.rmSync(root, { recursive: true, force: true }))

  it("ships the bin, the bundles and compiled types, and not the sources", async () => {
    const listed = await run("tar", ["-tzf", project.tarball], { cwd: root })
    expect(listed.code).toBe(0)
    const files = listed.stdout.split("\n").filter((line) => line !== "").map((line) => line.replace(/^package\//, ""))
    expect(files).toEqual(
      expect.arrayContaining([
        "package.json",
        "bin/dbkit.mjs",
        "dist/cli.cjs",
        "dist/index.js",
        "dist/types/index.d.ts"
      ])
    )
    expect(files.filter((file) => !/^(package\.json|README\.md|LICENSE|bin\/[^/]+|dist\/.+)$/.test(file))).toEqual([])
    expect(files.filter((file) => /^dist\/(cli\.cjs\.cache|.*\.ts$)/.test(file) && !file.endsWith(".d.ts"))).toEqual([])
  })

  it("resolves with one copy of PGlite and no missing or invalid dependency", async () => {
    const listed = await npm(project.dir, ["ls", "--all", "--json"]) // exits non-zero on a missing/invalid/extraneous package
    const versions = new Set<string>()
    const walk = (deps: Record<string, { version?: string; dependencies?: Record<string, unknown> }> | undefined) => {
      for (const [name, dep] of Object.entries(deps ?? {})) {
        if (name === "@electric-sql/pglite" && dep.version !== undefined) versions.add(dep.version)
        walk(dep.dependencies as never)
      }
    }
    walk((JSON.parse(listed.stdout) as { dependencies?: never }).dependencies)
    expect([...versions]).toHaveLength(1)
    // Physically one copy, too: only the hoisted one.
    const nested =
      (await run("find", ["node_modules", "-path", "*/@electric-sql/pglite/package.json"], { cwd: project.dir })).stdout
        .trim().split("\n")
    expect(nested).toEqual(["node_modules/@electric-sql/pglite/package.json"])
  })

  it("runs `dbkit --help`", async () => {
    const help = await run(bin("dbkit"), ["--help"], { cwd: project.dir, env: cleanEnv({ CI: "true" }) })
    expect(help.stderr).toBe("")
    expect(help.code).toBe(0)
    expect(help.stdout).toContain("migrate")
  })

  it("typechecks a program using dbkit with the consumer's strict tsc, and runs it (library from dist/index.js)", async () => {
    const tsc = await run(bin("tsc"), ["-p", "."], { cwd: project.dir })
    expect(tsc.stdout + tsc.stderr).toBe("")
    expect(tsc.code).toBe(0)
    const ran = await run(process.execPath, ["build/index.js"], { cwd: project.dir })
    expect(ran.stderr).toBe("")
    expect(ran.code).toBe(0)
    expect(JSON.parse(ran.stdout)).toEqual({ applied: ["0001_init"], widgets: 1 })
  })

  it("`dbkit migrate --json` migrates the embedded database (no DATABASE_URL)", async () => {
    const migrated = await run(bin("dbkit"), ["migrate", "--json"], {
      cwd: project.dir,
      env: cleanEnv({ CI: "true" }),
      timeoutMs: 180_000
    })
    expect(migrated.code, migrated.stderr).toBe(0)
    const report = JSON.parse(migrated.stdout) as { target: string; applied: Array<{ name: string }> }
    expect(report.target).toContain("embedded")
    expect(report.applied.map((m) => m.name)).toEqual(["0001_init"])
    const table = await run(process.execPath, ["check-table.mjs"], { cwd: project.dir })
    expect(table.code, table.stderr).toBe(0)
    expect(JSON.parse(table.stdout)).toEqual([{ t: "widgets" }])
  })

  it("dbkit's declarations are clean without skipLibCheck; what remains is in third-party packages' own", async () => {
    // drizzle-orm's .d.ts do not check on their own (optional drivers such as mysql2 and gel
    // missing, strictness errors), PGlite's need @types/emscripten and the DOM lib, and
    // @effect/sql-pg's need @types/pg: none of that is dbkit's, but it is why a consumer needs
    // skipLibCheck. What must hold: no error in dbkit's declarations, and no import in them that
    // a consumer cannot resolve (a dev-only package leaking into the public types).
    const tsc = await run(bin("tsc"), ["-p", ".", "--noEmit", "--skipLibCheck", "false"], { cwd: project.dir })
    const errorFiles = [...(tsc.stdout + tsc.stderr).matchAll(/^(\S[^(\n]*)\(\d+,\d+\): error TS\d+/gm)].map((m) =>
      m[1]!
    )
    const packages = new Set(errorFiles.map((file) => file.match(/^node_modules\/((?:@[^/]+\/)?[^/]+)\//)?.[1] ?? file))
    expect([...packages].filter((name) => !["drizzle-orm", "@electric-sql/pglite", "@effect/sql-pg"].includes(name)))
      .toEqual([])
  })
})
