// Whole-process no-op migrate (every migration already applied), dbkit vs drizzle's own migrator as a user would
// run it, on the server (each side its own scratch database) and on the embedded PGlite database (each side its
// own data dir). Each database is migrated once by its own tool before timing, so every timed run is a no-op.
// Both tools get the reference migrations drizzle's migrator can run: it applies all of them in one
// transaction, so it stops at 0005_tenant_safe_keys (CREATE INDEX CONCURRENTLY); the folder is cut there.
import { copyFile, mkdir, readFile, writeFile } from "node:fs/promises"
import { join } from "node:path"
import pg from "pg"

const DRIZZLE_CAN_RUN_THROUGH = "0004_audit_triggers"

/** A copy of the reference drizzle-kit folder ending at DRIZZLE_CAN_RUN_THROUGH; returns it and its count. */
const referenceFolder = async (ctx) => {
  const journal = JSON.parse(await readFile(join(ctx.repoRoot, "migrations/meta/_journal.json"), "utf8"))
  const entries = journal.entries.slice(0, journal.entries.findIndex((e) => e.tag === DRIZZLE_CAN_RUN_THROUGH) + 1)
  const dir = ctx.tempDir("dbkit-bench-noop-migrations-")
  await mkdir(join(dir, "meta"), { recursive: true })
  await writeFile(join(dir, "meta/_journal.json"), JSON.stringify({ ...journal, entries }, null, 2))
  for (const { tag } of entries) await copyFile(join(ctx.repoRoot, "migrations", `${tag}.sql`), join(dir, `${tag}.sql`))
  return { dir, count: entries.length }
}

// Fails loudly if the setup run did not record every migration, so timed runs really are no-ops.
const countRows = async (url, table) => {
  const c = new pg.Client({ connectionString: url })
  await c.connect()
  try {
    return Number((await c.query(`select count(*)::int as n from ${table}`)).rows[0].n)
  } finally {
    await c.end()
  }
}

const check = (what, got, want) => {
  if (got !== want) throw new Error(`bench setup: ${what} recorded ${got} migrations, expected ${want}`)
}

export async function rows(ctx) {
  const { dir: migrationsDir, count: want } = await referenceFolder(ctx)
  const folders = { DBKIT_MIGRATIONS_DIR: migrationsDir, BENCH_MIGRATIONS_DIR: migrationsDir }
  const dbkitArgs = ["bin/dbkit.mjs", "migrate"]
  const out = []

  // Server.
  const dbA = await ctx.scratchDb()
  const dbB = await ctx.scratchDb()
  try {
    const dbkitEnv = ctx.childEnv({ DATABASE_URL: dbA.url, ...folders })
    const drizzleEnv = ctx.childEnv({ DATABASE_URL: dbB.url, ...folders })
    const drizzleArgs = ["scripts/bench/drizzle-migrate.mjs"]
    await ctx.runProcess(ctx.node, dbkitArgs, { env: dbkitEnv })
    await ctx.runProcess(ctx.node, drizzleArgs, { env: drizzleEnv })
    check("dbkit (server)", await countRows(dbA.url, "dbkit.migrations"), want)
    check("drizzle (server)", await countRows(dbB.url, "drizzle.__drizzle_migrations"), want)
    const [dbkit, baseline] = await ctx.compare([
      ctx.processSide("dbkit migrate", ctx.node, dbkitArgs, { env: dbkitEnv }),
      ctx.processSide("drizzle migrate", ctx.node, drizzleArgs, { env: drizzleEnv })
    ])
    out.push(
      ctx.row({
        operation: "migrate no-op (server)",
        dbkit,
        baseline,
        baselineName: "drizzle-orm node-postgres migrate()"
      })
    )
  } finally {
    await dbA.drop()
    await dbB.drop()
  }

  // Embedded PGlite (DATABASE_URL unset). Each open of a PGlite data dir costs ~0.5 s on its own.
  const dirA = ctx.tempDir("dbkit-bench-pglite-dbkit-")
  const dirB = ctx.tempDir("dbkit-bench-pglite-drizzle-")
  const dbkitEnv = ctx.childEnv({ DBKIT_DATA_DIR: dirA, ...folders })
  const drizzleEnv = ctx.childEnv({ DBKIT_DATA_DIR: dirB, ...folders })
  const drizzleArgs = ["scripts/bench/drizzle-migrate-pglite.mjs"]
  await ctx.runProcess(ctx.node, dbkitArgs, { env: dbkitEnv })
  const setup = await ctx.runProcess(ctx.node, drizzleArgs, { env: { ...drizzleEnv, BENCH_REPORT: "1" } })
  check("drizzle (PGlite)", Number(/applied=(\d+)/.exec(setup.stdout)?.[1]), want)
  const status = await ctx.runProcess(ctx.node, [...dbkitArgs, "status", "--json"], { env: dbkitEnv })
  const st = JSON.parse(status.stdout)
  if (!st.upToDate) throw new Error(`bench setup: dbkit (PGlite) not up to date after migrate:\n${status.stdout}`)
  check("dbkit (PGlite)", st.applied?.length, want)
  const [dbkit, baseline] = await ctx.compare([
    ctx.processSide("dbkit migrate (embedded)", ctx.node, dbkitArgs, { env: dbkitEnv }),
    ctx.processSide("drizzle migrate (pglite)", ctx.node, drizzleArgs, { env: drizzleEnv })
  ])
  out.push(
    ctx.row({
      operation: "migrate no-op (embedded PGlite)",
      dbkit,
      baseline,
      baselineName: "drizzle-orm pglite migrate()"
    })
  )
  return out
}
