/**
 * Builds throwaway migration folders and runs a Migrator over them, each test in its own
 * schema so one database serves a whole file.
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"
import * as fs from "node:fs"
import * as path from "node:path"
import type { Database } from "../../src/Database.js"
import * as Migrator from "../../src/migrator/Migrator.js"
import { fromDirectory, type MigrationSource } from "../../src/migrator/source.js"
import { tempDir } from "./databases.js"

let counter = 0

/** A fresh schema name for one test. */
export const freshSchema = () => `t${++counter}_${Math.random().toString(36).slice(2, 7)}`

/** Writes files (relative paths → content) into a new temp folder. */
export const writeFolder = (files: Record<string, string>, dir = tempDir("dbkit-mig-")) => {
  for (const [name, content] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true })
    fs.writeFileSync(path.join(dir, name), content)
  }
  return dir
}

/** Runs `f` with a Migrator over `source` (a folder or a source), targeting `schema`. */
export const withMigrator = <A, E, R = never>(
  source: string | MigrationSource,
  schema: string | undefined,
  f: (migrator: Migrator.Migrator["Type"]) => Effect.Effect<A, E, R>,
  options: Omit<Migrator.MigratorOptions, "source" | "schema"> = {}
): Effect.Effect<A, E, SqlClient.SqlClient | Database | Exclude<R, Migrator.Migrator>> =>
  Effect.flatMap(Migrator.Migrator, f).pipe(
    Effect.provide(
      Migrator.layer({ source: typeof source === "string" ? fromDirectory(source) : source, schema, ...options })
    )
  )

/** The reference migrations folder (drizzle-kit layout). */
export const referenceMigrationsDir = path.resolve(import.meta.dirname, "../../migrations")

/**
 * A copy of the reference drizzle-kit folder whose journal ends at `tag`: what a project had
 * migrated with drizzle's own migrator before adopting dbkit. drizzle's migrator runs every
 * migration in one transaction, so it cannot apply 0005_tenant_safe_keys (CREATE INDEX
 * CONCURRENTLY); dbkit runs that one outside a transaction.
 */
export const referenceMigrationsThrough = (tag: string): string => {
  const journal = JSON.parse(fs.readFileSync(path.join(referenceMigrationsDir, "meta", "_journal.json"), "utf8")) as {
    entries: Array<{ tag: string }>
  }
  const end = journal.entries.findIndex((entry) => entry.tag === tag)
  if (end === -1) throw new Error(`${tag} is not in the reference migrations' journal`)
  const entries = journal.entries.slice(0, end + 1)
  return writeFolder({
    "meta/_journal.json": JSON.stringify({ ...journal, entries }, null, 2),
    ...Object.fromEntries(
      entries.map((entry) => [
        `${entry.tag}.sql`,
        fs.readFileSync(path.join(referenceMigrationsDir, `${entry.tag}.sql`), "utf8")
      ])
    )
  })
}
