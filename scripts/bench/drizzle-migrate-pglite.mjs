// Baseline for `pnpm bench`: drizzle's own PGlite migrator on a PGlite data dir, as a user would run it.
// The data dir is DBKIT_DATA_DIR (required here, so it never touches the project's .dbkit/pglite);
// run from the repo root (migrationsFolder, BENCH_MIGRATIONS_DIR or migrations, is relative).
import { PGlite } from "@electric-sql/pglite"
import { drizzle } from "drizzle-orm/pglite"
import { migrate } from "drizzle-orm/pglite/migrator"

const dataDir = process.env.DBKIT_DATA_DIR
if (!dataDir) {
  console.error("drizzle-migrate-pglite: DBKIT_DATA_DIR is not set")
  process.exit(1)
}
const client = new PGlite(dataDir)
try {
  await migrate(drizzle(client), { migrationsFolder: process.env.BENCH_MIGRATIONS_DIR || "migrations" })
  // Only for the bench's setup run (never set on timed runs): report what drizzle recorded.
  if (process.env.BENCH_REPORT) {
    const { rows } = await client.query("select count(*)::int as n from drizzle.__drizzle_migrations")
    console.log(`applied=${rows[0].n}`)
  }
} finally {
  await client.close()
}
