// Baseline for `pnpm bench`: drizzle's own node-postgres migrator, as a user would run it.
// DATABASE_URL must be set; run from the repo root (migrationsFolder is relative).
import { drizzle } from "drizzle-orm/node-postgres"
import { migrate } from "drizzle-orm/node-postgres/migrator"
import pg from "pg"

if (!process.env.DATABASE_URL) {
  console.error("drizzle-migrate: DATABASE_URL is not set")
  process.exit(1)
}
const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL })
try {
  await migrate(drizzle(pool), { migrationsFolder: "migrations" })
} finally {
  await pool.end()
}
