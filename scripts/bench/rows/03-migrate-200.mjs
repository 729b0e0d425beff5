// 200 generated migrations applied to an empty server database, whole process (startup included for everyone):
//   dbkit migrate               a plain folder 0001_m1.sql … 0200_m200.sql (each migration its own transaction)
//   psql -1 -f all.sql          the same 200 migrations concatenated, one transaction, no history (the floor)
//   drizzle-orm migrate()       a drizzle-kit-shaped folder (meta/_journal.json + <tag>.sql) of the same SQL
//   @effect/sql PgMigrator      Migrator.fromRecord over the plain folder (scripts/bench/effect-sql-migrate.mjs)
// All four read the same generated SQL. Every timed run gets a fresh, empty scratch database, created before and
// dropped after the timed process (untimed); after every run (the warmup too) a check that 200 tables t_* exist
// fails the bench loudly otherwise. The four sides run interleaved; dbkit is measured once and compared with each
// baseline in its own row.
import { mkdirSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import pg from "pg"

const COUNT = 200
const DEFAULT_RUNS = 5 // each run is a whole migrate of 200 migrations; --runs overrides
const BREAKPOINT = "\n--> statement-breakpoint\n"

const pad = (i) => String(i).padStart(4, "0")

// A deterministic uuid-looking constant per table (no randomness: every run and every side sees the same SQL).
const uuid = (i) => `00000000-0000-4000-8000-${String(i).padStart(12, "0")}`

/**
 * Migration i (1-based) as a list of 2–4 statements: a tenant-scoped table and its index; every 10th migration
 * also changes an earlier table, alternately a column added with a default (i ≡ 10 mod 20) and a foreign key to
 * an earlier table (i ≡ 0 mod 20); every 7th adds a partial index.
 */
export const migration = (i) => {
  const t = `t_${i}`
  const cols = [
    "id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY",
    "tenant_id uuid NOT NULL",
    "name text NOT NULL",
    "amount numeric(12,2) DEFAULT 0",
    "created_at timestamptz DEFAULT now()"
  ]
  if (i % 20 === 0) cols.push("parent_id bigint")
  const stmts = [
    `CREATE TABLE ${t} (\n  ${cols.join(",\n  ")}\n);`,
    `CREATE INDEX ${t}_tenant_created_idx ON ${t} (tenant_id, created_at);`
  ]
  if (i % 20 === 10) {
    const e = `t_${i - 3}`
    stmts.push(`ALTER TABLE ${e} ADD COLUMN status text NOT NULL DEFAULT 'active';`)
    stmts.push(`ALTER TABLE ${e} ADD COLUMN owner_tenant uuid NOT NULL DEFAULT '${uuid(i)}';`)
  } else if (i % 20 === 0) {
    const e = `t_${i - 9}`
    stmts.push(`ALTER TABLE ${t} ADD CONSTRAINT ${t}_parent_fk FOREIGN KEY (parent_id) REFERENCES ${e} (id);`)
    stmts.push(`CREATE INDEX ${t}_parent_idx ON ${t} (parent_id);`)
  } else if (i % 7 === 0) {
    stmts.push(`CREATE INDEX ${t}_big_amount_idx ON ${t} (amount) WHERE amount > 1000;`)
  }
  return stmts
}

/** Writes the three shapes of the same migrations into root: plain/, drizzle/, all.sql. */
const generate = (root) => {
  const plain = join(root, "plain")
  const drizzle = join(root, "drizzle")
  mkdirSync(plain)
  mkdirSync(join(drizzle, "meta"), { recursive: true })
  const entries = []
  const all = []
  for (let i = 1; i <= COUNT; i++) {
    const stmts = migration(i)
    const tag = `${pad(i)}_m${i}`
    writeFileSync(join(plain, `${tag}.sql`), `${stmts.join("\n")}\n`)
    writeFileSync(join(drizzle, `${tag}.sql`), `${stmts.join(BREAKPOINT)}\n`)
    entries.push({ idx: i - 1, version: "7", when: 1_700_000_000_000 + i * 1000, tag, breakpoints: true })
    all.push(`-- ${tag}\n${stmts.join("\n")}\n`)
  }
  writeFileSync(
    join(drizzle, "meta", "_journal.json"),
    `${JSON.stringify({ version: "7", dialect: "postgresql", entries }, null, 2)}\n`
  )
  const allSql = join(root, "all.sql")
  writeFileSync(allSql, all.join("\n"))
  return { plain, drizzle, allSql }
}

const countTables = async (url) => {
  const c = new pg.Client({ connectionString: url })
  await c.connect()
  try {
    const q = `select count(*)::int as n from pg_tables where schemaname = 'public' and tablename like 't\\_%'`
    return (await c.query(q)).rows[0].n
  } finally {
    await c.end()
  }
}

export async function rows(ctx) {
  const runs = ctx.runsSet ? ctx.runs : Math.min(ctx.runs, DEFAULT_RUNS)
  const { plain, drizzle, allSql } = generate(ctx.tempDir("dbkit-bench-m200-"))

  // Each side: a fresh empty database per run, the URL passed by env or argument. Setup (create), the check that
  // the run really created all 200 tables (fails loudly otherwise; it runs after the untimed warmup too) and
  // teardown (drop) are untimed.
  const fresh =
    (make) =>
    async () => {
      const db = await ctx.scratchDb()
      return { db, ...make(db.url) }
    }
  const untimed = (name) => ({
    check: async (state) => {
      const n = await countTables(state.db.url)
      if (n !== COUNT) throw new Error(`bench: ${name} left ${n} tables t_* in an empty database, expected ${COUNT}`)
    },
    teardown: (state) => state?.db.drop()
  })
  const sides = [
    ctx.processSide("dbkit migrate", ctx.node, ["bin/dbkit.mjs", "migrate"], {
      setup: fresh((url) => ({ env: ctx.childEnv({ DATABASE_URL: url, DBKIT_MIGRATIONS_DIR: plain }) })),
      ...untimed("dbkit migrate")
    }),
    ctx.processSide("psql -1", "psql", [], {
      setup: fresh((url) => ({
        env: ctx.childEnv(),
        args: ["-X", "-1", "-q", "-v", "ON_ERROR_STOP=1", "-d", url, "-f", allSql]
      })),
      ...untimed("psql -1")
    }),
    ctx.processSide("drizzle migrate", ctx.node, ["scripts/bench/drizzle-migrate.mjs"], {
      setup: fresh((url) => ({ env: ctx.childEnv({ DATABASE_URL: url, BENCH_MIGRATIONS_DIR: drizzle }) })),
      ...untimed("drizzle migrate()")
    }),
    ctx.processSide("@effect/sql PgMigrator", ctx.node, ["scripts/bench/effect-sql-migrate.mjs"], {
      setup: fresh((url) => ({ env: ctx.childEnv({ DATABASE_URL: url, BENCH_MIGRATIONS_DIR: plain }) })),
      ...untimed("@effect/sql PgMigrator")
    })
  ]

  const [dbkit, psql, drizzleM, effectM] = await ctx.compare(sides, { runs })
  const operation = `migrate ${COUNT} (server)`
  return [
    ctx.row({ operation, dbkit, baseline: psql, baselineName: "psql -1 -f all.sql (floor)" }),
    ctx.row({ operation, dbkit, baseline: drizzleM, baselineName: "drizzle-orm node-postgres migrate()" }),
    ctx.row({ operation, dbkit, baseline: effectM, baselineName: "@effect/sql-pg PgMigrator.run()" })
  ]
}
