// Many pending migrations share messages (src/migrator/batch.ts), each still its own transaction
// with its own checksum and history row: a run of 60 applies all 60 with 60 history rows; a
// migration that fails in the middle of a message — at run time, at parse time, or one whose
// text leaves a quote open — leaves exactly the ones before it applied and is the one named.
import * as SqlClient from "@effect/sql/SqlClient"
import { expect, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { nextBatch } from "../src/migrator/batch.js"
import { fromDirectory } from "../src/migrator/source.js"
import { backends } from "./support/databases.js"
import { freshSchema, withMigrator, writeFolder } from "./support/migrations.js"

const pad = (n: number) => String(n).padStart(3, "0")

/** 60 migrations, each creating a table; `broken` replaces #45's text. */
const sixty = (broken?: string) =>
  writeFolder(Object.fromEntries(Array.from({ length: 60 }, (_, i) => {
    const n = i + 1
    return [
      `${pad(n)}_t${n}.sql`,
      n === 45 && broken !== undefined
        ? broken
        : `CREATE TABLE t${n} (id int PRIMARY KEY);\nINSERT INTO t${n} VALUES (${n});\n`
    ]
  })))

for (const backend of await backends()) {
  layer(backend.layer, { excludeTestServices: true })(
    `migrations in shared messages on the ${backend.name} database`,
    (it) => {
      it.effect("60 migrations: all applied in order, each recorded in the history", () =>
        Effect.gen(function*() {
          const schema = freshSchema()
          const dir = sixty()
          const result = yield* withMigrator(dir, schema, (m) => m.migrate())
          expect(result.applied.map((a) => a.name)).toEqual(
            Array.from({ length: 60 }, (_, i) => `${pad(i + 1)}_t${i + 1}`)
          )
          const status = yield* withMigrator(dir, schema, (m) => m.status)
          expect(status.applied.map((a) => a.name)).toEqual(result.applied.map((a) => a.name))
          expect(status.pending).toEqual([])
          const sql = yield* SqlClient.SqlClient
          const [count] = yield* sql.unsafe<{ n: number }>(
            `SELECT count(*)::int AS n FROM pg_tables WHERE schemaname = '${schema}' AND tablename ~ '^t[0-9]+$'`
          )
          expect(count!.n).toBe(60)
          // The plan really shares messages: after the first, more than one migration per message.
          const migrations = yield* fromDirectory(dir).pipe(Effect.orDie)
          expect(nextBatch(migrations, 1, 16).length).toBe(16)
        }))

      for (
        const [label, broken, code] of [
          ["fails at run time", "CREATE TABLE t45 (id int PRIMARY KEY);\nINSERT INTO nowhere VALUES (1);\n", "42P01"],
          ["does not parse", "CREATE TABLE t45 (id int PRIMARY KEY);\nCREATE TABLE (;\n", "42601"],
          ["leaves a quote open", "CREATE TABLE t45 (id int PRIMARY KEY);\nSELECT 'unclosed;\n", "42601"]
        ] as const
      ) {
        it.effect(`a migration in the middle of a message that ${label}: the 44 before it stay applied, it is named, nothing of it or after it is kept`, () =>
          Effect.gen(function*() {
            const schema = freshSchema()
            const dir = sixty(broken)
            const error = yield* Effect.flip(withMigrator(dir, schema, (m) => m.migrate()))
            expect(error._tag).toBe("MigrationFailed")
            if (error._tag !== "MigrationFailed") return
            expect(error.migration).toBe("045_t45")
            expect(error.code).toBe(code)
            const status = yield* withMigrator(dir, schema, (m) => m.status)
            expect(status.applied.map((a) => a.name)).toHaveLength(44)
            expect(status.applied.at(-1)?.name).toBe("044_t44")
            expect(status.pending[0]).toBe("045_t45")
            const sql = yield* SqlClient.SqlClient
            const [count] = yield* sql.unsafe<{ n: number }>(
              `SELECT count(*)::int AS n FROM pg_tables WHERE schemaname = '${schema}' AND tablename ~ '^t[0-9]+$'`
            )
            expect(count!.n).toBe(44)
          }))
      }
    }
  )
}
