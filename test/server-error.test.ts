// The one reader of what the server said: a real failed statement on each database gives its
// message, SQLSTATE, detail, hint and position through ServerError, and `describe` puts the
// server's reason after @effect/sql's "Failed to execute statement".
import * as SqlClient from "@effect/sql/SqlClient"
import { describe, expect, it, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as ServerError from "../src/ServerError.js"
import { backends } from "./support/databases.js"

for (const backend of await backends()) {
  layer(backend.layer, { excludeTestServices: true })(`ServerError on the ${backend.name} database`, (it) => {
    it.effect("reads message, SQLSTATE, detail and position from a real SqlError", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const division = yield* Effect.flip(sql.unsafe("SELECT 1/0"))
        expect(ServerError.read(division)).toMatchObject({ message: "division by zero", code: "22012" })
        expect(ServerError.sqlState(division)).toBe("22012")
        expect(ServerError.reason(division)).toBe("division by zero")
        expect(ServerError.describe(division)).toMatch(/: division by zero$/)
        const missing = yield* Effect.flip(sql.unsafe("SELECT nope FROM (SELECT 1 AS yes) t"))
        expect(ServerError.read(missing)).toMatchObject({ code: "42703", position: 8 })
        yield* sql.unsafe("CREATE TEMP TABLE se_parent (id int PRIMARY KEY)")
        yield* sql.unsafe("CREATE TEMP TABLE se_child (parent int REFERENCES se_parent)")
        const orphan = yield* Effect.flip(sql.unsafe("INSERT INTO se_child VALUES (7)"))
        expect(ServerError.read(orphan)).toMatchObject({
          code: "23503",
          detail: expect.stringContaining("(parent)=(7)")
        })
      }))
  })
}

describe("ServerError on errors that are not the server's", () => {
  it("a plain Error keeps its message; a wrapped one says its cause; dbkit's own errors are left as they are", () => {
    expect(ServerError.read(new Error("boom"))).toMatchObject({ message: "boom", code: undefined })
    expect(ServerError.describe(new Error("seed failed", { cause: new Error("disk full") }))).toBe(
      "seed failed: disk full"
    )
    const tagged = Object.assign(new Error("migration 0001 failed: x"), {
      _tag: "MigrationFailed",
      cause: new Error("x")
    })
    expect(ServerError.describe(tagged)).toBe("migration 0001 failed: x")
    expect(ServerError.describe(new Error("one\ntwo"), { firstLine: true })).toBe("one")
  })
})
