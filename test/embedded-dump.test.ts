// Plain pg_dump scripts loaded into the embedded database, as `psql -1 -v ON_ERROR_STOP=1 -f`
// loads them on a server: dumps made by PGlite's own pg_dump and by the server's, a failure
// halfway that leaves the target as it was, psql meta-commands, and a splitter that cuts the
// same statements however the script is chunked.
import { describe, expect, it } from "@effect/vitest"
import { PGlite } from "@electric-sql/pglite"
import { pgDump } from "@electric-sql/pglite-tools/pg_dump"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { pipeline } from "node:stream/promises"
import { createGunzip, createGzip } from "node:zlib"
import pg from "pg"
import { inject } from "vitest"
import { BackupUntrusted } from "../src/DumpPolicy.js"
import { type DumpItem, DumpReader, DumpSplitter, loadPlainDump, PlainDumpFailed } from "../src/embedded/PlainDump.js"
import { pgEnv } from "../src/PgTools.js"
import { createScratchDatabase, dropScratchDatabase, serverAvailable, serverUrl, tempDir } from "./support/databases.js"

const server = await serverAvailable()

/** A fresh in-memory PGlite cloned from the run's template, closed with the scope. */
const embedded = Effect.acquireRelease(
  Effect.promise(() => PGlite.create({ loadDataDir: new Blob([fs.readFileSync(inject("pgliteTemplate"))]) })),
  (db) => Effect.promise(() => db.close())
)

/** A small seeded PRNG (mulberry32), so a failing chunking is reproducible. */
const random = (seed: number) => () => {
  seed = (seed + 0x6d2b79f5) | 0
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}

/** The bytes as Buffers of sizes drawn from `size` (cutting UTF-8 sequences anywhere). */
async function* chunked(bytes: Uint8Array, size: () => number) {
  for (let at = 0; at < bytes.length;) {
    const end = Math.min(bytes.length, at + size())
    yield Buffer.from(bytes.subarray(at, end))
    at = end
  }
}

const lines = (...text: Array<string>) =>
  (async function*() {
    yield text.join("\n") + "\n"
  })()

// Every table of the fixture, checked by row count and a hash of its rows (in byte order, with
// dates printed the same way on both servers).
const fixtureTables = ["public.notes", "public.big", "public.\"Mixed;Case\"", "public.events", "public.empty_one"]
const checksumSql = (table: string) =>
  `SELECT count(*)::int AS rows, md5(coalesce(string_agg(t::text, E'\\n' ORDER BY t::text COLLATE "C"), '')) AS hash FROM ${table} t`
const checksumSettings = "SET DateStyle = 'ISO, YMD'; SET TimeZone = 'UTC'"

/** Rows that trip a naive splitter or COPY reader, a big table, and routines with tricky bodies. */
const fixture = (bigRows: number) => `
  CREATE TABLE notes (id int PRIMARY KEY, body text, tags text[], doc jsonb, amount numeric(12,2), seen timestamp, raw bytea);
  INSERT INTO notes VALUES
    (1, 'semi;colon -- not a comment /* nor this */', '{a,"b c"}', '{"k": "v;--"}', 12.5, '2024-01-02 03:04:05', '\\x00ff'),
    (2, E'tab\\there\\nnewline\\r\\nand a backslash \\\\ and \\\\.', '{"x\\\\y"}', '[1, "two"]', -0.01, '1999-12-31 23:59:59.999', '\\x5c2e0a'),
    (3, NULL, NULL, NULL, NULL, NULL, NULL),
    (4, 'zoë 🐘 日本語 — ünïcødé', '{}', '{"emoji": "🐘"}', 0, 'infinity', ''),
    (5, E'\\\\.', '{"\\\\."}', '"\\\\."', 1, '2000-01-01', '\\x5c2e'),
    (6, '$$ dollar $x$ quotes $$ and $1', '{$$}', '{"$$": "$x$"}', 2, '2000-01-02', '\\x24'),
    (7, 'it''s "quoted"; E''x''', '{"it''s"}', '{"q": "\\""}', 3, '2000-01-03', '\\x27');
  CREATE TABLE big (id int PRIMARY KEY, label text, n bigint);
  INSERT INTO big SELECT g, 'row ' || g || E'\\t;', g * 7 FROM generate_series(1, ${bigRows}) g;
  CREATE TABLE "Mixed;Case" ("semi;colon" int PRIMARY KEY, "quote""d" text);
  INSERT INTO "Mixed;Case" VALUES (1, 'a'), (2, NULL);
  CREATE TABLE events (id serial PRIMARY KEY, name text);
  INSERT INTO events (name) VALUES ('one'), ('two'), ('three');
  CREATE TABLE empty_one (id int);
  CREATE FUNCTION nested() RETURNS text LANGUAGE plpgsql AS $outer$
    BEGIN
      RETURN $x$;$$ -- $x$ || '/* ; */' || $$;$y$$; -- end;
    END
  $outer$;
  CREATE FUNCTION atomic_sum(a int, b int) RETURNS int LANGUAGE sql
    BEGIN ATOMIC
      SELECT CASE WHEN a IS NULL THEN 0 ELSE a END + b;
    END;
  CREATE VIEW note_bodies AS SELECT id, body FROM notes WHERE body LIKE '%;%';
`

/** What the fixture's routines and view say, to compare source and copy. */
const behaviourSql =
  "SELECT public.nested() AS nested, public.atomic_sum(2, 3) AS sum, (SELECT count(*)::int FROM public.note_bodies) AS bodies"
/** The copy's sequence goes on from the source's three rows. */
const nextEventSql = "SELECT nextval('public.events_id_seq')::int AS next"

const checksumsOf = async (query: (sql: string) => Promise<Array<Record<string, unknown>>>) => {
  await query(checksumSettings)
  const out: Record<string, unknown> = {}
  for (const table of fixtureTables) out[table] = (await query(checksumSql(table)))[0]
  return out
}
const checksumsOfPglite = (db: PGlite) =>
  checksumsOf(async (sql) => {
    const results = await db.exec(sql)
    return results[results.length - 1]!.rows as Array<Record<string, unknown>>
  })

/** The session settings a script changes and a load must put back. */
const sessionState = (db: PGlite) =>
  Effect.promise(async () => ({
    inTransaction: db.isInTransaction(),
    settings: (await db.query(
      "SELECT current_setting('search_path') AS search_path, current_setting('row_security') AS row_security, current_setting('check_function_bodies') AS check_function_bodies, current_setting('client_min_messages') AS client_min_messages"
    )).rows[0]
  }))

const failureOf = <A>(effect: Effect.Effect<A, PlainDumpFailed | BackupUntrusted>) =>
  Effect.flip(effect).pipe(
    Effect.filterOrDieMessage(
      (error): error is PlainDumpFailed => error instanceof PlainDumpFailed,
      "expected PlainDumpFailed"
    )
  )

const refusalOf = <A>(effect: Effect.Effect<A, PlainDumpFailed | BackupUntrusted>) =>
  Effect.flip(effect).pipe(
    Effect.filterOrDieMessage(
      (error): error is BackupUntrusted => error instanceof BackupUntrusted,
      "expected BackupUntrusted"
    )
  )

describe("loadPlainDump", () => {
  it.scoped("loads PGlite's own pg_dump into a fresh PGlite: same rows, routines and sequence, session settings put back", () =>
    Effect.gen(function*() {
      const source = yield* embedded
      yield* Effect.promise(() => source.exec(fixture(100_000)))
      const expected = yield* Effect.promise(() => checksumsOfPglite(source))
      const behaviour = yield* Effect.promise(() => source.query(behaviourSql))
      const dump = new Uint8Array(
        yield* Effect.promise(async () => (await pgDump({ pg: source, args: [] })).arrayBuffer())
      )

      const target = yield* embedded
      const before = yield* sessionState(target)
      const next = random(1)
      const progress: Array<number> = []
      // Chunks of 1 to 4,096 bytes: statements, quotes and UTF-8 sequences cut anywhere.
      const result = yield* loadPlainDump(target, chunked(dump, () => 1 + Math.floor(next() * 4096)), {
        onProgress: (bytes) => progress.push(bytes)
      })

      expect(yield* sessionState(target)).toEqual(before)
      expect(result.bytes).toBe(dump.length)
      expect(progress.at(-1)).toBe(dump.length)
      expect(result.statements).toBeGreaterThan(100_000) // PGlite's pg_dump writes one INSERT per row
      expect(result.copies).toEqual([])
      expect(yield* Effect.promise(() => checksumsOfPglite(target))).toEqual(expected)
      expect((expected["public.big"] as { rows: number }).rows).toBe(100_000)
      expect((yield* Effect.promise(() => target.query(behaviourSql))).rows).toEqual(behaviour.rows)
      expect((yield* Effect.promise(() => target.query(nextEventSql))).rows).toEqual([{ next: 4 }])
    }))

  it.scoped("a failure halfway names the statement's line, and leaves the target as it was, out of any transaction", () =>
    Effect.gen(function*() {
      const target = yield* embedded
      yield* Effect.promise(() =>
        target.exec(
          "CREATE TABLE keep (id int PRIMARY KEY, note text); INSERT INTO keep VALUES (1, 'kept'), (2, 'also kept')"
        )
      )
      const before = yield* sessionState(target)
      const keep = () => Effect.promise(async () => (await target.query("SELECT * FROM keep ORDER BY id")).rows)
      const keptRows = yield* keep()

      // A pg_dump-like script: settings, a COPY, then statements sent in one batch with the bad
      // one in the middle (the error must still name it, not the batch).
      const script = (bad: Array<string>, copyRows = ["1\tone", "2\ttwo"]) => {
        const head = [
          "--",
          "-- PostgreSQL database dump",
          "--",
          "",
          "SET client_encoding = 'UTF8';",
          "SELECT pg_catalog.set_config('search_path', '', false);",
          "SET row_security = off;",
          "CREATE TABLE public.a (id integer PRIMARY KEY, body text);",
          "COPY public.a (id, body) FROM stdin;",
          ...copyRows,
          "\\.",
          "",
          ...Array.from({ length: 5 }, (_, i) => `INSERT INTO public.a VALUES (${10 + i}, 'before ${i}; --');`)
        ]
        const tail = [
          ...Array.from({ length: 5 }, (_, i) => `INSERT INTO public.a VALUES (${20 + i}, 'after ${i}');`),
          "CREATE TABLE public.b (id int);"
        ]
        return { text: [...head, ...bad, ...tail].join("\n") + "\n", badLine: head.length + 1, copyLine: 9 }
      }
      const load = (text: string) =>
        failureOf(loadPlainDump(
          target,
          (async function*() {
            yield text
          })()
        ))
      const expectUnchanged = Effect.gen(function*() {
        expect(yield* keep()).toEqual(keptRows)
        expect(
          (yield* Effect.promise(() =>
            target.query("SELECT to_regclass('public.a') AS a, to_regclass('public.b') AS b")
          )).rows
        ).toEqual([{ a: null, b: null }])
        expect(yield* sessionState(target)).toEqual(before)
        expect((yield* Effect.promise(() => target.query("SELECT 1 AS ok"))).rows).toEqual([{ ok: 1 }])
      })

      const duplicate = script(["INSERT INTO public.a VALUES (1, 'a duplicate key');"])
      const failed = yield* load(duplicate.text)
      expect(failed.line).toBe(duplicate.badLine)
      expect(failed.statement).toBe("INSERT INTO public.a VALUES (1, 'a duplicate key');")
      expect(failed.reason).toMatch(/duplicate key value violates unique constraint "a_pkey"/)
      expect(failed.message).toBe(
        `line ${duplicate.badLine}: INSERT INTO public.a VALUES (1, 'a duplicate key');: ${failed.reason}`
      )
      yield* expectUnchanged

      // A syntax error fails the server's parse of the whole batch before any of it runs.
      const syntax = script(["INSERT INTO public.a VALUES (30, 'x') oops;"])
      const syntaxFailure = yield* load(syntax.text)
      expect(syntaxFailure.line).toBe(syntax.badLine)
      expect(syntaxFailure.reason).toMatch(/syntax error at or near "oops"/)
      yield* expectUnchanged

      // A statement over several lines is named by the line it starts on.
      const multiline = script(["CREATE TABLE public.c (", "    id integer REFERENCES public.nowhere (id)", ");"])
      const missing = yield* load(multiline.text)
      expect(missing.line).toBe(multiline.badLine)
      expect(missing.message).toMatch(
        new RegExp(
          `^line ${multiline.badLine}: CREATE TABLE public\\.c \\( id integer REFERENCES public\\.nowhere \\(id\\) \\);: relation "public\\.nowhere" does not exist`
        )
      )
      yield* expectUnchanged

      // A bad COPY row: the COPY's line, and the line of the row in the reason.
      const badRow = script([], ["1\tone", "x\ttwo"])
      const copyFailure = yield* load(badRow.text)
      expect(copyFailure.line).toBe(badRow.copyLine)
      expect(copyFailure.statement).toBe("COPY public.a (id, body) FROM stdin;")
      expect(copyFailure.reason).toMatch(/invalid input syntax for type integer: "x".*\(data on line 11\)$/)
      yield* expectUnchanged

      // A script cut off inside COPY data is refused, not loaded in part.
      const truncated = yield* load("CREATE TABLE public.a (id int);\nCOPY public.a (id) FROM stdin;\n1\n2\n")
      expect(truncated.reason).toMatch(/ends inside COPY data/)
      yield* expectUnchanged

      // Transaction control would end the one transaction early (pg_dump's BEGIN/COMMIT around large objects are left out).
      const rollback = yield* refusalOf(
        loadPlainDump(target, lines("CREATE TABLE public.a (id int);", "ROLLBACK;", "CREATE TABLE public.b (id int);"))
      )
      expect(rollback).toMatchObject({ line: 2, text: "ROLLBACK;" })
      yield* expectUnchanged
    }))

  it.scoped("psql meta-commands: \\restrict and \\unrestrict are ignored; \\connect and others are refused before anything runs", () =>
    Effect.gen(function*() {
      const target = yield* embedded
      const loaded = yield* loadPlainDump(
        target,
        lines(
          "--",
          "\\restrict 1ZiXvoleUW3ZYMJJhlCvsSM8YfTYfn4Wo",
          "",
          "CREATE TABLE public.m (id int, note text);",
          "COPY public.m (id, note) FROM stdin;",
          "1\t\\\\restrict not a command",
          "\\.",
          "",
          "\\unrestrict 1ZiXvoleUW3ZYMJJhlCvsSM8YfTYfn4Wo"
        )
      )
      expect(loaded).toMatchObject({ statements: 2, copies: [{ table: "public.m", rows: 1 }] })
      expect((yield* Effect.promise(() => target.query("SELECT note FROM public.m"))).rows).toEqual([{
        note: "\\restrict not a command"
      }])

      const connect = yield* refusalOf(
        loadPlainDump(
          target,
          lines("CREATE TABLE public.n (id int);", "", "\\connect other", "CREATE TABLE public.o (id int);")
        )
      )
      expect(connect.line).toBe(3)
      expect(connect.message).toMatch(
        /^the script, line 3: refused "\\connect other": \\connect switches to another database/
      )
      const set = yield* refusalOf(loadPlainDump(target, lines("\\set ON_ERROR_STOP on")))
      expect(set.message).toMatch(
        /^the script, line 1: refused "\\set ON_ERROR_STOP on": the psql meta-command \\set is not something pg_dump writes/
      )
      expect((yield* Effect.promise(() => target.query("SELECT to_regclass('public.n') AS n"))).rows).toEqual([{
        n: null
      }])
      expect(target.isInTransaction()).toBe(false)
    }))
})

describe.skipIf(!server)("loadPlainDump of a server dump", () => {
  it.scoped("a gzipped plain pg_dump of PostgreSQL on the server loads into PGlite with skipOwnership; without it, the server's roles fail", () =>
    Effect.gen(function*() {
      const scratch = yield* Effect.acquireRelease(
        Effect.promise(() => createScratchDatabase("dbkit_plain_dump")),
        ({ name }) => Effect.promise(() => dropScratchDatabase(name))
      )
      const client = yield* Effect.acquireRelease(
        Effect.promise(async () => {
          const client = new pg.Client({ connectionString: scratch.url })
          await client.connect()
          return client
        }),
        (client) => Effect.promise(() => client.end())
      )
      yield* Effect.promise(() => client.query(fixture(120_000)))
      const expected = yield* Effect.promise(() => checksumsOf(async (sql) => (await client.query(sql)).rows))
      const behaviour = yield* Effect.promise(() => client.query(behaviourSql))

      // pg_dump --format=p | gzip > file, as a plain backup is kept.
      const file = path.join(tempDir("dbkit-plain-dump-"), "dump.sql.gz")
      yield* Effect.promise(async () => {
        const child = spawn("pg_dump", ["--format=p"], {
          env: { ...process.env, ...pgEnv(Redacted.make(scratch.url)) },
          stdio: ["ignore", "pipe", "pipe"]
        })
        let stderr = ""
        child.stderr.on("data", (data) => (stderr += data))
        const exited = new Promise<number | null>((resolve) => child.on("close", resolve))
        await pipeline(child.stdout, createGzip(), fs.createWriteStream(file))
        const code = await exited
        if (code !== 0) throw new Error(`pg_dump exited with ${code}: ${stderr}`)
      })
      const read = () => fs.createReadStream(file, { highWaterMark: 16 * 1024 }).pipe(createGunzip())

      const target = yield* embedded
      const before = yield* sessionState(target)
      const owned = yield* failureOf(loadPlainDump(target, read()))
      const role = decodeURIComponent(new URL(serverUrl).username)
      expect(owned.reason).toBe(`role "${role}" does not exist`)
      expect(owned.statement).toMatch(/^ALTER [\s\S]+ OWNER TO \S+;$/)
      expect(yield* sessionState(target)).toEqual(before)

      const result = yield* loadPlainDump(target, read(), { skipOwnership: true })
      expect(yield* sessionState(target)).toEqual(before)
      expect(result.skipped).toBeGreaterThanOrEqual(fixtureTables.length)
      expect(result.copies).toEqual(expect.arrayContaining([
        { table: "public.big", rows: 120_000 },
        { table: "public.notes", rows: 7 },
        { table: "public.empty_one", rows: 0 }
      ]))
      expect(yield* Effect.promise(() => checksumsOfPglite(target))).toEqual(expected)
      expect((yield* Effect.promise(() => target.query(behaviourSql))).rows).toEqual(behaviour.rows)
      expect((yield* Effect.promise(() => target.query(nextEventSql))).rows).toEqual([{ next: 4 }])
    }))
})

describe("DumpSplitter", () => {
  // Every construct the lexer knows, next to the ones a naive splitter gets wrong.
  const script = [
    "--",
    "-- PostgreSQL database dump; with a ' and a $$ in a comment",
    "--",
    "\\restrict abc",
    "SET standard_conforming_strings = on;",
    "SELECT 'semi;colon', 'it''s', E'it\\'s; \\\\', E'a''\\'; b', \"quoted;\"\"ident\", U&'d\\0061t;a';",
    "/* a /* nested; */ comment; */ SELECT 1 /* inline; */ + 2 -- trailing; comment",
    "  - 3;",
    "CREATE FUNCTION public.f() RETURNS text LANGUAGE plpgsql AS $outer$ BEGIN RETURN $x$;$$ -- $x$ || $$;$y$$; END $outer$;",
    "CREATE FUNCTION public.g(int) RETURNS int LANGUAGE sql AS $$ SELECT $1 + 1; $$;",
    "CREATE FUNCTION public.h(a int) RETURNS int LANGUAGE sql",
    "    BEGIN ATOMIC",
    " SELECT CASE WHEN a > 0 THEN a ELSE 0 END;",
    " SELECT 2;",
    "END;",
    "CREATE OR REPLACE PROCEDURE public.p() LANGUAGE sql BEGIN ATOMIC INSERT INTO t VALUES (1); END;",
    "CREATE RULE r AS ON INSERT TO t DO ALSO (SELECT 1; SELECT 2);",
    "SELECT ä$b$ AS id$, 1e5, $1;",
    "COPY public.t (id, \"bo)dy\") FROM stdin;",
    "1\ta\\tb;c -- not a comment",
    "2\t\\N",
    "3\t\\\\.",
    "4\tzoë 🐘 日本語",
    "\\.",
    "COPY public.empty (id) FROM stdin;",
    "\\.",
    "SET standard_conforming_strings = off;",
    "SELECT 'old\\'style; string';",
    "SET standard_conforming_strings = on;",
    "\\unrestrict abc",
    "SELECT 'multi",
    "line;', $$dollar",
    "body;$$, E'esc\\",
    ";' /* block",
    "; */;",
    "SELECT 'unterminated at the end"
  ].join("\n")

  const split = (chunks: Iterable<string>) => {
    const splitter = new DumpSplitter()
    const items: Array<DumpItem> = []
    for (const chunk of chunks) items.push(...splitter.push(chunk))
    items.push(...splitter.end())
    // COPY data arrives in as many pieces as the text did: compare it per COPY.
    return items.reduce<Array<DumpItem>>((merged, item) => {
      const last = merged.at(-1)
      if (item._tag === "CopyData" && last?._tag === "CopyData") {
        merged[merged.length - 1] = { ...last, data: `${last.data}${item.data}`, rows: last.rows + item.rows }
      } else merged.push(item)
      return merged
    }, [])
  }
  const cut = (text: string, size: () => number) => {
    const pieces: Array<string> = []
    for (let at = 0; at < text.length;) {
      const end = Math.min(text.length, at + size())
      pieces.push(text.slice(at, end))
      at = end
    }
    return pieces
  }

  it("cuts statements, COPY data and meta-commands by psql's rules", () => {
    const items = split([script])
    const statement = (line: number) =>
      items.find((item) => item.line === line && (item._tag === "Statement" || item._tag === "CopyStart"))
    expect(items.map((item) => `${item._tag}@${item.line}`)).toEqual([
      "MetaCommand@4",
      "Statement@5",
      "Statement@6",
      "Statement@7",
      "Statement@9",
      "Statement@10",
      "Statement@11",
      "Statement@16",
      "Statement@17",
      "Statement@18",
      "CopyStart@19",
      "CopyData@20",
      "CopyEnd@24",
      "CopyStart@25",
      "CopyEnd@26",
      "Statement@27",
      "Statement@28",
      "Statement@29",
      "MetaCommand@30",
      "Statement@31",
      "Statement@36"
    ])
    expect(statement(7)).toMatchObject({ sql: "SELECT 1 /* inline; */ + 2 -- trailing; comment\n  - 3;" })
    expect(statement(11)).toMatchObject({
      sql: expect.stringMatching(/^CREATE FUNCTION public\.h[\s\S]*SELECT 2;\nEND;$/)
    })
    expect(statement(19)).toMatchObject({
      table: "public.t",
      sql: "COPY public.t (id, \"bo)dy\") FROM stdin;",
      columns: "(id, \"bo)dy\")",
      options: ""
    })
    expect(items[11]).toEqual({
      _tag: "CopyData",
      rows: 4,
      line: 20,
      data: "1\ta\\tb;c -- not a comment\n2\t\\N\n3\t\\\\.\n4\tzoë 🐘 日本語\n"
    })
    expect(statement(28)).toMatchObject({ sql: "SELECT 'old\\'style; string';" })
    expect(items[0]).toEqual({
      _tag: "MetaCommand",
      command: "\\restrict",
      argument: "abc",
      line: 4,
      inStatement: false
    })
    expect(items.at(-1)).toEqual({ _tag: "Statement", sql: "SELECT 'unterminated at the end", line: 36 })
  })

  /** DumpReader's items for the script's bytes cut into pieces, with its latin1 text and byte data as UTF-8 strings. */
  const read = (pieces: Iterable<Buffer>) => {
    const reader = new DumpReader()
    const items: Array<DumpItem> = []
    for (const piece of pieces) items.push(...reader.push(piece))
    items.push(...reader.end())
    const text = (latin1: string) => Buffer.from(latin1, "latin1").toString("utf8")
    return items.map((item): DumpItem => {
      switch (item._tag) {
        case "CopyData":
          return { ...item, data: Buffer.isBuffer(item.data) ? item.data.toString("utf8") : item.data }
        case "Statement":
          return { ...item, sql: text(item.sql) }
        case "CopyStart":
          return {
            ...item,
            sql: text(item.sql),
            table: text(item.table),
            columns: text(item.columns),
            options: text(item.options)
          }
        case "MetaCommand":
          return { ...item, argument: text(item.argument) }
        default:
          return item
      }
    }).reduce<Array<DumpItem>>((merged, item) => {
      const last = merged.at(-1)
      if (item._tag === "CopyData" && last?._tag === "CopyData") {
        merged[merged.length - 1] = { ...last, data: `${last.data}${item.data}`, rows: last.rows + item.rows }
      } else merged.push(item)
      return merged
    }, [])
  }

  it("DumpReader (COPY data as bytes, never decoded) gives DumpSplitter's items however the bytes are cut, multi-byte characters too", () => {
    const whole = split([script])
    const bytes = Buffer.from(script, "utf8")
    expect(read([bytes])).toEqual(whole)
    expect(read(Array.from(bytes, (b) => Buffer.from([b])))).toEqual(whole) // one byte at a time, inside characters too
    for (let seed = 1; seed <= 200; seed++) {
      const next = random(seed)
      const largest = seed % 3 === 0 ? 4 : seed % 3 === 1 ? 40 : 400
      const pieces: Array<Buffer> = []
      for (let at = 0; at < bytes.length;) {
        const size = 1 + Math.floor(next() * largest)
        pieces.push(bytes.subarray(at, at + size))
        at += size
      }
      expect(read(pieces), `seed ${seed}`).toEqual(whole)
    }
  })

  it("gives the same items however the text is chunked: one chunk, 1-character chunks, random sizes", () => {
    const whole = split([script])
    expect(split(script)).toEqual(whole) // one character at a time
    for (let seed = 1; seed <= 200; seed++) {
      const next = random(seed)
      const largest = seed % 3 === 0 ? 4 : seed % 3 === 1 ? 40 : 400
      expect(split(cut(script, () => 1 + Math.floor(next() * largest))), `seed ${seed}`).toEqual(whole)
    }
  })
})
