// Baseline for `pnpm bench`: drizzle's own node-postgres migrator, as a user would run it.
// DATABASE_URL must be set; the folder is BENCH_MIGRATIONS_DIR (default: migrations, relative to the repo root,
// so run from there).
import { drizzle } from "drizzle-orm/node-postgres"
import { migrate } from "drizzle-orm/node-postgres/migrator"
import pg from "pg"

if (!process.env.DATABASE_URL) {
  console.error("drizzle-migrate: DATABASE_URL is not set")
  process.exit(1)
}
const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL })
try {
  await migrate(drizzle(pool), { migrationsFolder: process.env.BENCH_MIGRATIONS_DIR || "migrations" })
} finally {
  await pool.end()
}
