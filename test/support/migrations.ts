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
