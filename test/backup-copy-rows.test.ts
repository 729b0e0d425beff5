// A plain backup's row counts come from the COPY blocks of the dump as it streams past: they must
// be the counts count(*) gives — however the stream is cut into chunks, and for partitioned,
// inherited, excluded and oddly named tables.
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as SqlClient from "@effect/sql/SqlClient"
import { describe, expect, it, layer } from "@effect/vitest"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { Backup, layer as backupLayer } from "../src/backup/Backup.js"
import { copyRowCounter } from "../src/backup/copyRows.js"
import * as Config from "../src/Config.js"
import { withBackupServices } from "./support/backup.js"
import { admin, serverAvailable, ServerLive, tempDir, uniqueName } from "./support/databases.js"

const server = await serverAvailable()

const script = [
  "-- Name: f(); Type: FUNCTION",
  "CREATE FUNCTION public.f() RETURNS text AS $$",
  "COPYRIGHT notice, not a COPY",
  "COPY public.t (a) TO stdout;",
  "$$ LANGUAGE sql;",
  "COPY public.t (a, b) FROM stdin;",
  "1\tone",
  "\\\\.\tstarts with a backslash and a dot",
  "3\t\\N",
  "\\.",
  "COPY public.empty (a) FROM stdin;",
  "\\.",
  "COPY \"Odd.Schema\".\"say \"\"hi\"\"\" (x) FROM stdin;",
  "a",
  "b",
  "\\.",
  "COPY public.t (a, b) FROM stdin;",
  "4\tagain",
  "\\.",
  "CREATE INDEX ON public.t (a);",
  ""
].join("\n")

const expected = { "public.t": 4, "public.empty": 0, "Odd.Schema.say \"hi\"": 2 }

describe("counting the rows of a plain dump's COPY blocks", () => {
  it("gives the same counts however the script is cut into chunks", () => {
    const bytes = Buffer.from(script)
    for (let size = 1; size <= bytes.length; size++) {
      const counter = copyRowCounter()
      for (let i = 0; i < bytes.length; i += size) counter.write(bytes.subarray(i, i + size))
      expect(counter.copied, `chunks of ${size} bytes`).toEqual(expected)
    }
  })

  it("counts nothing in a script without COPY blocks", () => {
    const counter = copyRowCounter()
    counter.write(Buffer.from("CREATE TABLE public.t (a int);\nCOPY public.t (a) TO stdout;\n"))
    expect(counter.copied).toEqual({})
  })
})

const withBackup = <A, E>(f: (b: Backup["Type"]) => Effect.Effect<A, E>) =>
  Effect.flatMap(Backup, f).pipe(
    Effect.provide(
      backupLayer.pipe(Layer.provide(Layer.merge(Config.layerFrom({ environment: "development" }), NodeContext.layer)))
    ),
    Effect.withConfigProvider(ConfigProvider.fromMap(new Map()))
  )

describe.skipIf(!server)("a plain backup's manifest on the server", () => {
  layer(ServerLive, { excludeTestServices: true })("of partitioned, inherited and oddly named tables", (it) => {
    it.effect("holds the row counts count(*) gives, as the custom format's manifest does", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        yield* sql.unsafe(`
          CREATE TABLE events (id int, at date) PARTITION BY RANGE (at);
          CREATE TABLE events_2025 PARTITION OF events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
          CREATE TABLE events_2026 PARTITION OF events FOR VALUES FROM ('2026-01-01') TO ('2027-01-01') PARTITION BY RANGE (id);
          CREATE TABLE events_2026_low PARTITION OF events_2026 FOR VALUES FROM (0) TO (100);
          CREATE TABLE events_2026_high PARTITION OF events_2026 FOR VALUES FROM (100) TO (1000);
          INSERT INTO events SELECT g, '2025-06-01' FROM generate_series(1, 3) g;
          INSERT INTO events SELECT g, '2026-06-01' FROM generate_series(1, 5) g;
          INSERT INTO events SELECT g, '2026-06-01' FROM generate_series(100, 106) g;
          CREATE TABLE animals (name text);
          CREATE TABLE pets (owner text);
          CREATE TABLE dogs () INHERITS (animals, pets);
          CREATE TABLE puppies () INHERITS (dogs);
          INSERT INTO animals VALUES ('a'), ('b');
          INSERT INTO dogs VALUES ('rex', 'ann');
          INSERT INTO puppies VALUES ('bit', 'bob'), ('byte', 'bea');
          CREATE SCHEMA "Odd.Schema";
          CREATE TABLE "Odd.Schema"."say ""hi""" (line text);
          INSERT INTO "Odd.Schema"."say ""hi""" VALUES (E'two\\nlines'), (E'\\\\.'), ('.'), (NULL);
          CREATE TABLE empty (a int);`)
        const out = tempDir("dbkit-backups-")
        const excludeTable = ["events_2026_high"]
        const plain = yield* withBackup((b) => b.backup({ out, excludeTable }))
        const custom = yield* withBackup((b) => b.backup({ out, format: "custom", excludeTable }))
        // count(*) of every user table but the excluded one, in one query.
        const counts = yield* sql<{ table: string; n: number }>`
          SELECT n.nspname || '.' || c.relname AS table,
                 (xpath('/row/n/text()', query_to_xml(format('SELECT count(*) AS n FROM %I.%I', n.nspname, c.relname), false, true, '')))[1]::text::int AS n
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'
             AND c.relname <> 'events_2026_high'`
        const expectedCounts = Object.fromEntries(counts.map((c) => [c.table, c.n]))
        expect(expectedCounts).toMatchObject({
          "public.events": 15,
          "public.events_2026": 12,
          "public.events_2026_low": 5,
          "public.animals": 5,
          "public.pets": 3,
          "public.dogs": 3,
          "Odd.Schema.say \"hi\"": 4,
          "public.empty": 0
        })
        expect(plain.manifest.tables).toEqual(expectedCounts)
        expect(Object.keys(plain.manifest.tables)).toEqual(Object.keys(custom.manifest.tables))
        expect(custom.manifest.tables).toEqual(expectedCounts)
        // Restored (without exclusions), both agree with their manifests: psql's COPY tag for an
        // inheritance parent holds its own rows only, so such a table is counted with count(*).
        for (const format of ["plain", "custom"] as const) {
          const name = uniqueName(`dbkit_copy_rows_${format}`)
          const { made, restored } = yield* withBackupServices(({ backup, restore }) =>
            Effect.flatMap(
              backup.backup({ format }),
              (made) => Effect.map(restore.into(made.file, name), (restored) => ({ made, restored }))
            )
          )
          try {
            // restore.into fails with RestoreTestMismatch on any table whose count differs.
            expect(made.manifest.tables["public.animals"]).toBe(5)
            expect(restored.tables).toBe(Object.keys(made.manifest.tables).length)
            expect(restored.rows).toBe(Object.values(made.manifest.tables).reduce((a, b) => a + b, 0))
          } finally {
            yield* Effect.promise(() => admin(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`))
          }
        }
      }))
  })
})
