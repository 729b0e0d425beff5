// Baseline for `pnpm bench`: @effect/sql's own migrator (PgMigrator.run from @effect/sql-pg), as a user would run
// it: every `NNNN_name.sql` in BENCH_MIGRATIONS_DIR becomes a Migrator.fromRecord entry { "NNNN_name": effect }
// whose effect runs the file's text with `sql.unsafe` (one simple-protocol query, so several statements are fine).
// DATABASE_URL must be set. No schema dump (schemaDirectory unset); NodeContext.layer is provided anyway because
// PgMigrator.run's type asks for FileSystem / Path / CommandExecutor, so a TypeScript user would provide it.
// @effect/sql runs all pending migrations in one transaction (history table effect_sql_migrations). Imports are
// per module ("effect/Effect", not the "effect" barrel) to keep this baseline's startup as low as it can be.
import * as PgClient from "@effect/sql-pg/PgClient"
import * as PgMigrator from "@effect/sql-pg/PgMigrator"
import * as SqlClient from "@effect/sql/SqlClient"
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import { readdirSync, readFileSync } from "node:fs"
import { join } from "node:path"

const url = process.env.DATABASE_URL
const dir = process.env.BENCH_MIGRATIONS_DIR
if (!url || !dir) {
  console.error("effect-sql-migrate: DATABASE_URL and BENCH_MIGRATIONS_DIR must be set")
  process.exit(1)
}

const record = {}
for (const f of readdirSync(dir).filter((f) => /^\d+_.+\.sql$/.test(f)).sort()) {
  const text = readFileSync(join(dir, f), "utf8")
  record[f.slice(0, -".sql".length)] = Effect.flatMap(SqlClient.SqlClient, (sql) => sql.unsafe(text))
}

const program = Effect.gen(function*() {
  const applied = yield* PgMigrator.run({ loader: PgMigrator.fromRecord(record) })
  // Only for the bench's setup run (never set on timed runs): report how many migrations ran.
  if (process.env.BENCH_REPORT) console.log(`applied=${applied.length}`)
})

program.pipe(
  Effect.provide(Layer.mergeAll(PgClient.layer({ url: Redacted.make(url) }), NodeContext.layer)),
  NodeRuntime.runMain
)
