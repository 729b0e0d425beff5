// Baseline for the seed bench row (rows/04-seed.mjs): drizzle-seed's seed() on the same wide table, as a user would
// run it (a drizzle pgTable of the table, drizzle-orm/node-postgres, default generators, count BENCH_ROWS, seed 1).
// DATABASE_URL must be set and the table must exist.
import { drizzle } from "drizzle-orm/node-postgres"
import { boolean, doublePrecision, integer, numeric, pgTable, text, timestamp, uuid } from "drizzle-orm/pg-core"
import { seed } from "drizzle-seed"
import pg from "pg"

const n = Number(process.env.BENCH_ROWS)
if (!process.env.DATABASE_URL || !Number.isInteger(n) || n < 1) {
  console.error("drizzle-seed: DATABASE_URL and BENCH_ROWS (a positive integer) must be set")
  process.exit(1)
}

const wide = pgTable("wide", {
  id: uuid("id").primaryKey(),
  tenantId: uuid("tenant_id").notNull(),
  name: text("name"),
  email: text("email"),
  amount: numeric("amount", { precision: 12, scale: 2 }),
  quantity: integer("quantity"),
  status: text("status"),
  createdAt: timestamp("created_at", { withTimezone: true }),
  updatedAt: timestamp("updated_at", { withTimezone: true }),
  active: boolean("active"),
  score: doublePrecision("score"),
  notes: text("notes")
})

const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL })
try {
  await seed(drizzle(pool), { wide }, { count: n, seed: 1 })
} finally {
  await pool.end()
}
