// The Seeder's contract, with small seeds declared here, on both databases.
import * as SqlClient from "@effect/sql/SqlClient"
import { describe, expect, it, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Config from "../src/Config.js"
import type { Environment } from "../src/Config.js"
import * as Random from "../src/seeder/random.js"
import { layer as seederLayer, make, type Seed, Seeder } from "../src/seeder/Seeder.js"
import { backends } from "./support/databases.js"
import { NonInteractiveGuard } from "./support/terminal.js"

let counter = 0
const fresh = () => `s${++counter}_${Math.random().toString(36).slice(2, 7)}`

/** Runs `f` with a Seeder over `seeds` in `environment`. */
const withSeeder = <A, E, R>(
  seeds: ReadonlyArray<Seed>,
  f: (seeder: Seeder["Type"]) => Effect.Effect<A, E, R>,
  environment: Environment = "development"
) =>
  Effect.flatMap(Seeder, f).pipe(
    Effect.provide(seederLayer({ seeds }).pipe(Layer.provide(Config.layerFrom({ environment }))))
  )

const rowsOf = (table: string) =>
  Effect.flatMap(
    SqlClient.SqlClient,
    (sql) => Effect.map(sql.unsafe<{ n: number }>(`SELECT count(*)::int AS n FROM ${table}`), (r) => r[0]!.n)
  )

/** A log table each test's seeds append their names to, to see the order they ran in. */
const setup = (schema: string) =>
  Effect.flatMap(
    SqlClient.SqlClient,
    (sql) =>
      sql.unsafe(`CREATE SCHEMA ${schema}; CREATE TABLE ${schema}.log (n serial, seed text);
      CREATE TABLE ${schema}.items (id int PRIMARY KEY, label text NOT NULL)`)
  )

const logging = (schema: string, name: string, extra: Partial<Seed> = {}): Seed =>
  make({
    name,
    profile: "development",
    run: () =>
      Effect.flatMap(SqlClient.SqlClient, (sql) => sql.unsafe(`INSERT INTO ${schema}.log (seed) VALUES ('${name}')`)),
    ...extra
  })

describe("Random", () => {
  it("the same seed number and label give the same sequence; another label or number does not", () => {
    const a = Random.make(42, "users")
    const b = Random.make(42, "users")
    const seqA = Array.from({ length: 5 }, () => [a.uuid(), a.int(1, 1000), a.decimal(1, 99)])
    const seqB = Array.from({ length: 5 }, () => [b.uuid(), b.int(1, 1000), b.decimal(1, 99)])
    expect(seqA).toEqual(seqB)
    expect(Random.make(43, "users").uuid()).not.toEqual(Random.make(42, "users").uuid())
    expect(Random.make(42, "orgs").uuid()).not.toEqual(Random.make(42, "users").uuid())
    expect(Random.make(1, "x").uuid()).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
    const d = Random.make(7, "d")
    for (let i = 0; i < 200; i++) expect(d.decimal(-5, 5)).toMatch(/^-?\d\.\d{2}$/)
  })
})

for (const backend of await backends()) {
  layer(backend.layer, { excludeTestServices: true })(`Seeder on the ${backend.name} database`, (it) => {
    it.effect("runs seeds in dependency order whatever the declaration order", () =>
      Effect.gen(function*() {
        const schema = fresh()
        yield* setup(schema)
        const seeds = [
          logging(schema, "invoices", { dependsOn: ["customers"] }),
          logging(schema, "customers", { dependsOn: ["organizations"] }),
          logging(schema, "organizations")
        ]
        yield* withSeeder(seeds, (s) => s.run())
        const sql = yield* SqlClient.SqlClient
        const order = yield* sql.unsafe<{ seed: string }>(`SELECT seed FROM ${schema}.log ORDER BY n`)
        expect(order.map((r) => r.seed)).toEqual(["organizations", "customers", "invoices"])
      }))

    it.effect("a cycle or an unknown dependency is a typed error before anything runs", () =>
      Effect.gen(function*() {
        const schema = fresh()
        yield* setup(schema)
        const cycle = yield* Effect.flip(withSeeder([
          logging(schema, "a", { dependsOn: ["c"] }),
          logging(schema, "b", { dependsOn: ["a"] }),
          logging(schema, "c", { dependsOn: ["b"] }),
          logging(schema, "free")
        ], (s) => s.run()))
        expect(cycle._tag).toBe("SeedCycle")
        expect(cycle.message).toContain("a → c → b → a")
        const unknown = yield* Effect.flip(withSeeder([logging(schema, "a", { dependsOn: ["ghost"] })], (s) => s.run()))
        expect(unknown._tag).toBe("UnknownSeedDependency")
        expect(yield* rowsOf(`${schema}.log`)).toBe(0)
      }))

    it.effect("a failing seed rolls back completely, names the batch, and its dependents do not run; others do", () =>
      Effect.gen(function*() {
        const schema = fresh()
        yield* setup(schema)
        const bulk = make({
          name: "bulk",
          profile: "development",
          run: (ctx) =>
            Effect.gen(function*() {
              yield* Effect.flatMap(SqlClient.SqlClient, (sql) =>
                sql.unsafe(`INSERT INTO ${schema}.log (seed) VALUES ('bulk')`))
              // Row 15,001 has a NULL label: batch 2 of 10,000.
              yield* ctx.copy(
                `${schema}.items`,
                ["id", "label"],
                (function*() {
                  for (let i = 1; i <= 25_000; i++) {
                    yield [i, i === 15_001 ? null : `item ${i}`]
                  }
                })(),
                { batchSize: 10_000 }
              )
            })
        })
        const error = yield* Effect.flip(withSeeder([
          bulk,
          logging(schema, "after_bulk", { dependsOn: ["bulk"] }),
          logging(schema, "independent")
        ], (s) => s.run()))
        expect(error._tag).toBe("SeedFailed")
        expect(error.message).toContain("seed bulk failed")
        expect(error.message).toContain("batch 2")
        expect(error.message).toContain("not run because they depend on it: after_bulk")
        expect(yield* rowsOf(`${schema}.items`)).toBe(0)
        const sql = yield* SqlClient.SqlClient
        const ran = yield* sql.unsafe<{ seed: string }>(`SELECT seed FROM ${schema}.log ORDER BY n`)
        expect(ran.map((r) => r.seed)).toEqual(["independent"])
      }))

    it.effect("a row generator that throws mid-COPY fails the seed cleanly: typed error, nothing written, no hang", () =>
      Effect.gen(function*() {
        const schema = fresh()
        yield* setup(schema)
        const throwing = make({
          name: "throwing",
          profile: "development",
          run: (ctx) =>
            ctx.copy(
              `${schema}.items`,
              ["id", "label"],
              (function*() {
                for (let i = 1; i <= 5_000; i++) {
                  if (i === 2_500) throw new Error("the generator broke")
                  yield [i, `item ${i}`]
                }
              })()
            )
        })
        const error = yield* Effect.flip(withSeeder([throwing], (s) => s.run()))
        expect(error._tag).toBe("SeedFailed")
        expect(error.message).toContain("generating rows failed: the generator broke")
        expect(yield* rowsOf(`${schema}.items`)).toBe(0)
      }))

    it.effect("a seed's row count is what copy wrote, or the number it returns — never both", () =>
      Effect.gen(function*() {
        const schema = fresh()
        yield* setup(schema)
        const rows = Array.from({ length: 30 }, (_, i) => [i, `x${i}`] as const)
        const results = yield* withSeeder([
          make({
            name: `copied_${schema}`,
            profile: "development",
            run: (ctx) => ctx.copy(`${schema}.items`, ["id", "label"], rows.slice(0, 10))
          }),
          make({
            name: `silent_${schema}`,
            profile: "development",
            run: (ctx) => Effect.asVoid(ctx.copy(`${schema}.items`, ["id", "label"], rows.slice(10, 20)))
          }),
          make({
            name: `sql_${schema}`,
            profile: "development",
            run: () =>
              Effect.flatMap(
                SqlClient.SqlClient,
                (sql) => sql.unsafe(`INSERT INTO ${schema}.log (seed) VALUES ('a'), ('b')`)
              ).pipe(Effect.as(2))
          })
        ], (s) => s.run())
        expect(results.map((r) => r.rows)).toEqual([10, 10, 2])
      }))

    it.effect("generated seeds run once and are recorded; reference seeds run every time", () =>
      Effect.gen(function*() {
        const schema = fresh()
        yield* setup(schema)
        const seeds = [logging(schema, `ref_${schema}`, { profile: "reference" }), logging(schema, `gen_${schema}`)]
        const first = yield* withSeeder(seeds, (s) => s.run())
        expect(first.map((r) => r.status)).toEqual(["ran", "ran"])
        const second = yield* withSeeder(seeds, (s) => s.run())
        expect(second.map((r) => r.status)).toEqual(["ran", "already ran"])
        expect(yield* rowsOf(`${schema}.log`)).toBe(3)
        const listed = yield* withSeeder(seeds, (s) => s.list)
        expect(listed.map((l) => [l.name, l.once, l.lastRun._tag])).toEqual([
          [`ref_${schema}`, false, "Some"],
          [`gen_${schema}`, true, "Some"]
        ])
      }))

    it.effect("two runs at once apply a run-once seed once (one waits for the other, then finds it done)", () =>
      Effect.gen(function*() {
        const schema = fresh()
        yield* setup(schema)
        const seeds = [logging(schema, "once_only", { once: true })]
        const [a, b] = yield* withSeeder(
          seeds,
          (seeder) => Effect.all([seeder.run(), seeder.run()], { concurrency: 2 })
        )
        expect([a[0]!.status, b[0]!.status].sort()).toEqual(["already ran", "ran"])
        // And from two separate Seeder instances (across processes the server's advisory lock does this).
        const other = [logging(schema, "once_again", { once: true })]
        const [c, d] = yield* Effect.all([withSeeder(other, (s) => s.run()), withSeeder(other, (s) => s.run())], {
          concurrency: 2
        })
        expect([c[0]!.status, d[0]!.status].sort()).toEqual(["already ran", "ran"])
        const [row] = yield* Effect.flatMap(
          SqlClient.SqlClient,
          (sql) =>
            sql.unsafe<{ once_only: number; once_again: number }>(
              `SELECT count(*) FILTER (WHERE seed = 'once_only')::int AS once_only, count(*) FILTER (WHERE seed = 'once_again')::int AS once_again FROM ${schema}.log`
            )
        )
        expect(row!.once_only).toBe(1)
        expect(row!.once_again).toBe(1)
      }))

    it.effect("in production only reference seeds run; asking for generated data is refused and writes nothing", () =>
      Effect.gen(function*() {
        const schema = fresh()
        yield* setup(schema)
        const seeds = [logging(schema, `ref_${schema}`, { profile: "reference" }), logging(schema, `gen_${schema}`)]
        const results = yield* withSeeder(seeds, (s) => s.run(), "production")
        expect(results.map((r) => r.seed)).toEqual([`ref_${schema}`])
        const refused = yield* Effect.flip(withSeeder(seeds, (s) => s.run({ profile: "development" }), "production"))
        expect(refused._tag).toBe("SeedRefusedInProduction")
        const only = yield* Effect.flip(withSeeder(seeds, (s) => s.run({ only: [`gen_${schema}`] }), "production"))
        expect(only._tag).toBe("SeedRefusedInProduction")
        expect(yield* rowsOf(`${schema}.log`)).toBe(1)
      }))

    it.effect("the test profile (and the test environment by default) runs the development seeds too, plus test-only seeds; development does not run test seeds", () =>
      Effect.gen(function*() {
        const schema = fresh()
        yield* setup(schema)
        const seeds = [
          logging(schema, `ref_${schema}`, { profile: "reference" }),
          logging(schema, `dev_${schema}`),
          logging(schema, `only_for_tests_${schema}`, { profile: "test" })
        ]
        const development = yield* withSeeder(seeds, (s) => s.run({ dryRun: true, profile: "development" }))
        expect(development.map((r) => r.seed)).toEqual([`ref_${schema}`, `dev_${schema}`])
        const byFlag = yield* withSeeder(seeds, (s) => s.run({ dryRun: true, profile: "test" }))
        expect(byFlag.map((r) => [r.seed, r.status])).toEqual(seeds.map((seed) => [seed.name, "would run"]))
        const byEnvironment = yield* withSeeder(seeds, (s) => s.run(), "test")
        expect(byEnvironment.map((r) => [r.seed, r.status])).toEqual(seeds.map((seed) => [seed.name, "ran"]))
        const reference = yield* withSeeder(seeds, (s) => s.run({ profile: "reference" }), "test")
        expect(reference.map((r) => r.seed)).toEqual([`ref_${schema}`])
      }))

    it.effect("a scale that is not a finite number above 0, or a seed number that is not a safe integer, is refused before anything runs", () =>
      Effect.gen(function*() {
        const schema = fresh()
        yield* setup(schema)
        const seeds = [logging(schema, `ref_${schema}`, { profile: "reference" }), logging(schema, `gen_${schema}`)]
        for (
          const options of [{ scale: 0 }, { scale: -1 }, { scale: Number.NaN }, { scale: Number.POSITIVE_INFINITY }, {
            seed: 1.5
          }, { seed: 2 ** 53 }]
        ) {
          const refused = yield* Effect.flip(withSeeder(seeds, (s) => s.run(options)))
          expect(refused._tag, JSON.stringify(options)).toBe("InvalidSeedOptions")
          expect(refused.message).toMatch(/^--(scale|seed) must be .*; nothing was run$/)
          const dry = yield* Effect.flip(withSeeder(seeds, (s) => s.run({ ...options, dryRun: true })))
          expect(dry._tag).toBe("InvalidSeedOptions")
        }
        expect(yield* rowsOf(`${schema}.log`)).toBe(0)
        const listed = yield* withSeeder(seeds, (s) => s.list)
        expect(listed.map((l) => l.lastRun._tag)).toEqual(["None", "None"])
      }))

    it.effect("any safe integer is a seed number: one beyond 32 bits is recorded and listed back, also in a history table an older dbkit made", () =>
      Effect.gen(function*() {
        const schema = fresh()
        yield* setup(schema)
        const sql = yield* SqlClient.SqlClient
        yield* withSeeder([logging(schema, `first_${schema}`)], (s) => s.run())
        // dbkit.seeds as earlier versions made it: a 32-bit seed number, rows always set.
        yield* sql.unsafe(`UPDATE dbkit.seeds SET rows = 0 WHERE rows IS NULL;
          ALTER TABLE dbkit.seeds ALTER COLUMN seed_number TYPE integer, ALTER COLUMN rows SET NOT NULL`)
        const seeds = [logging(schema, `big_${schema}`)]
        const results = yield* withSeeder(seeds, (s) => s.run({ seed: 3_000_000_000 }))
        expect(results.map((r) => r.status)).toEqual(["ran"])
        const [listed] = yield* withSeeder(seeds, (s) => s.list)
        expect(listed!.lastRun._tag === "Some" && listed!.lastRun.value.seed).toBe(3_000_000_000)
        const again = yield* withSeeder(seeds, (s) => s.run({ seed: Number.MAX_SAFE_INTEGER }))
        expect(again[0]!.previousRun?.seed).toBe(3_000_000_000)
      }))

    it.effect("a run-once seed asked for another seed number or scale says it already ran with which, and how to regenerate", () =>
      Effect.gen(function*() {
        const schema = fresh()
        yield* setup(schema)
        const seeds = [logging(schema, `ref_${schema}`, { profile: "reference" }), logging(schema, `gen_${schema}`)]
        yield* withSeeder(seeds, (s) => s.run({ seed: 7, scale: 1.5 }))
        const other = yield* withSeeder(seeds, (s) => s.run({ seed: 8, scale: 2 }))
        const [reference, generated] = other
        expect(reference).toMatchObject({ status: "ran" })
        expect(reference!.note).toBeUndefined()
        expect(generated).toMatchObject({ status: "already ran", previousRun: { seed: 7, scale: 1.5 } })
        expect(generated!.previousRun!.at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/)
        expect(generated!.note).toContain(`gen_${schema} already ran with seed 7, scale 1.5`)
        expect(generated!.note).toContain("seed 8, scale 2 changed nothing")
        expect(generated!.note).toContain("`dbkit seed clean`")
        const scaleOnly = yield* withSeeder(seeds, (s) => s.run({ scale: 3, dryRun: true }))
        expect(scaleOnly[1]!.note).toContain("scale 3 changed nothing")
        // Asking for nothing, or for what it ran with, is no surprise: no note.
        for (const options of [{}, { seed: 7 }, { seed: 7, scale: 1.5 }]) {
          const same = yield* withSeeder(seeds, (s) => s.run(options))
          expect(same[1]).toMatchObject({ status: "already ran", previousRun: { seed: 7, scale: 1.5 } })
          expect(same[1]!.note, JSON.stringify(options)).toBeUndefined()
        }
        expect(yield* rowsOf(`${schema}.log`)).toBe(1 + 5) // the reference seed each time, the generated one once
      }))

    it.effect("a seed that reports no row count has none (null), not 0; a returned number or copied rows are its count", () =>
      Effect.gen(function*() {
        const schema = fresh()
        yield* setup(schema)
        const sql = yield* SqlClient.SqlClient
        const seeds = [
          make({
            name: `upsert_${schema}`,
            profile: "reference",
            run: () => sql.unsafe(`INSERT INTO ${schema}.log (seed) VALUES ('u')`)
          }),
          make({
            name: `counted_${schema}`,
            profile: "reference",
            run: () => Effect.as(sql.unsafe(`INSERT INTO ${schema}.log (seed) VALUES ('c')`), 12)
          }),
          make({
            name: `copied_${schema}`,
            profile: "development",
            run: (ctx) => ctx.copy(`${schema}.items`, ["id", "label"], [[1, "a"], [2, "b"]])
          })
        ]
        const results = yield* withSeeder(seeds, (s) => s.run())
        expect(results.map((r) => r.rows)).toEqual([null, 12, 2])
        const listed = yield* withSeeder(seeds, (s) => s.list)
        expect(listed.map((l) => l.lastRun._tag === "Some" ? l.lastRun.value.rows : "never")).toEqual([null, 12, 2])
      }))

    it.effect("a dry run says what would run and writes nothing", () =>
      Effect.gen(function*() {
        const schema = fresh()
        yield* setup(schema)
        const results = yield* withSeeder([logging(schema, `dry_${schema}`)], (s) => s.run({ dryRun: true }))
        expect(results.map((r) => r.status)).toEqual(["would run"])
        expect(yield* rowsOf(`${schema}.log`)).toBe(0)
      }))

    it.effect("clean is guarded, then deletes generated rows and forgets those runs; reference rows stay", () =>
      Effect.gen(function*() {
        const schema = fresh()
        yield* setup(schema)
        const sql = yield* SqlClient.SqlClient
        yield* sql.unsafe(`CREATE TABLE ${schema}.kinds (k text PRIMARY KEY)`)
        const seeds = [
          make({
            name: `kinds_${schema}`,
            profile: "reference",
            run: () => sql.unsafe(`INSERT INTO ${schema}.kinds VALUES ('a') ON CONFLICT DO NOTHING`)
          }),
          make({
            name: `items_${schema}`,
            profile: "development",
            tables: [`${schema}.items`],
            expects: (scale) => ({ [`${schema}.items`]: 100 * scale }),
            run: (ctx) =>
              ctx.copy(
                `${schema}.items`,
                ["id", "label"],
                Array.from({ length: 100 * ctx.scale }, (_, i) => [i, `x${i}`])
              )
          })
        ]
        yield* withSeeder(seeds, (s) => s.run({ scale: 2 }))
        expect(yield* withSeeder(seeds, (s) => s.validate())).toEqual([])
        const refused = yield* Effect.flip(
          withSeeder(seeds, (s) => s.clean()).pipe(Effect.provide(NonInteractiveGuard()))
        )
        expect(refused._tag).toBe("ConfirmationRequired")
        expect(yield* rowsOf(`${schema}.items`)).toBe(200)
        const cleaned = yield* withSeeder(seeds, (s) => s.clean({ yes: true })).pipe(
          Effect.provide(NonInteractiveGuard())
        )
        expect(cleaned.tables).toEqual([{ table: `${schema}.items`, rows: 200 }])
        expect(yield* rowsOf(`${schema}.items`)).toBe(0)
        expect(yield* rowsOf(`${schema}.kinds`)).toBe(1)
        const problems = yield* withSeeder(seeds, (s) => s.validate())
        expect(problems).toEqual([]) // forgotten: nothing to hold it to
        const again = yield* withSeeder(seeds, (s) => s.run({ scale: 2 }))
        expect(again.map((r) => r.status)).toEqual(["ran", "ran"])
      }))
  })
}
