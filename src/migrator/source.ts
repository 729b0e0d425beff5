/**
 * Where migrations come from: a drizzle-kit folder (meta/_journal.json + <tag>.sql), a folder
 * of plain `NNNN_name.sql` files with optional `NNNN_name.down.sql`, or migrations given in
 * code. All become the same `Migration` value, in the order they must be applied.
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as fs from "node:fs"
import * as path from "node:path"
import { makeDirectories } from "../Directories.js"
import { MigrationSourceError } from "./errors.js"
import {
  cannotRunInTransaction,
  checksum,
  NO_TRANSACTION_MARKER,
  splitStatements,
  type SqlStatement,
  transactionControl
} from "./sql.js"

/** The body of a migration (or of its rollback). */
export type MigrationBody =
  | {
    readonly _tag: "Sql"
    readonly statements: ReadonlyArray<SqlStatement>
    /** For down files: false when it says `-- dbkit:no-transaction` or a statement needs it. */
    readonly transactional?: boolean
  }
  | { readonly _tag: "Code"; readonly effect: Effect.Effect<unknown, unknown, SqlClient.SqlClient> }

/** One migration, ready to plan and run. */
export interface Migration {
  readonly name: string
  /** The file it came from, or `code`. */
  readonly file: string
  readonly checksum: string
  /** False when a statement cannot run in a transaction or the file says `-- dbkit:no-transaction`. */
  readonly transactional: boolean
  readonly up: MigrationBody
  readonly down: Option.Option<MigrationBody>
}

/** Anything that yields the ordered migrations. */
export type MigrationSource = Effect.Effect<ReadonlyArray<Migration>, MigrationSourceError>

/** A migration defined in code, for library users. */
export interface CodeMigration {
  readonly name: string
  readonly up: Effect.Effect<unknown, unknown, SqlClient.SqlClient>
  readonly down?: Effect.Effect<unknown, unknown, SqlClient.SqlClient>
  /** Bump to make a changed code migration count as drift; defaults to the name. */
  readonly version?: string
}

/** A body and whether it can run in a transaction (not when marked, or when a statement refuses). */
const sqlBody = (text: string): MigrationBody => {
  const statements = splitStatements(text)
  const transactional = !NO_TRANSACTION_MARKER.test(text) && !statements.some((s) => cannotRunInTransaction(s.text))
  return { _tag: "Sql", statements, transactional }
}

/** The first statement that begins or ends a transaction in a body dbkit runs in its own transaction. */
export const findTransactionControl = (
  body: MigrationBody,
  transactional: boolean
): { readonly statement: number; readonly line: number; readonly keyword: string } | undefined => {
  if (body._tag !== "Sql" || !transactional) return undefined
  for (const [index, statement] of body.statements.entries()) {
    const keyword = transactionControl(statement.text)
    if (keyword !== undefined) return { statement: index + 1, line: statement.line, keyword }
  }
  return undefined
}

/** Computes `make()` on first use and keeps it. */
const once = <A>(make: () => A): () => A => {
  let value: { readonly a: A } | undefined
  return () => (value ??= { a: make() }).a
}

/**
 * Builds a Migration from SQL text. The statements are split on first use: a run with nothing
 * pending needs only names and checksums, and splitting is most of the cost of reading a folder.
 */
export const fromSql = (name: string, file: string, text: string, downText?: string): Migration => {
  const statements = once(() => splitStatements(text))
  const up = once((): MigrationBody => ({ _tag: "Sql", statements: statements() }))
  const transactional = once(() =>
    !NO_TRANSACTION_MARKER.test(text) && !statements().some((s) => cannotRunInTransaction(s.text))
  )
  const down = once(() => downText === undefined ? Option.none<MigrationBody>() : Option.some(sqlBody(downText)))
  return {
    name,
    file,
    checksum: checksum(text),
    get transactional() {
      return transactional()
    },
    get up() {
      return up()
    },
    get down() {
      return down()
    }
  }
}

// Fatal: a byte that is not UTF-8 is an error, not a U+FFFD silently applied. ignoreBOM keeps a
// byte order mark in the text, as Buffer#toString did, so checksums of such files do not change.
const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true })

/**
 * The offset of the first byte that is not UTF-8: where a lossy decoding first holds a U+FFFD the
 * file does not (everything before it decoded exactly, so it re-encodes to the same bytes).
 */
const invalidUtf8Offset = (bytes: Uint8Array): number => {
  const lossy = new TextDecoder("utf-8", { ignoreBOM: true }).decode(bytes)
  let offset = 0
  let from = 0
  for (let at = lossy.indexOf("\uFFFD"); at !== -1; at = lossy.indexOf("\uFFFD", at + 1)) {
    offset += Buffer.byteLength(lossy.slice(from, at))
    from = at
    const written = bytes[offset] === 0xef && bytes[offset + 1] === 0xbf && bytes[offset + 2] === 0xbd
    if (!written) return offset
  }
  return bytes.length
}

const decodeUtf8 = (file: string, bytes: Uint8Array) =>
  Effect.suspend(() => {
    try {
      return Effect.succeed(utf8.decode(bytes))
    } catch {
      const offset = invalidUtf8Offset(bytes)
      const line = bytes.subarray(0, offset).reduce((lines, b) => (b === 0x0a ? lines + 1 : lines), 1)
      const byte = `0x${(bytes[offset] ?? 0).toString(16).toUpperCase().padStart(2, "0")}`
      return Effect.fail(
        new MigrationSourceError({
          path: file,
          reason:
            `is not valid UTF-8: byte offset ${offset} (line ${line}) is ${byte}; save the file as UTF-8 (nothing was applied)`
        })
      )
    }
  })

const readText = (file: string) =>
  Effect.try({
    try: () => fs.readFileSync(file),
    catch: (cause) => new MigrationSourceError({ path: file, reason: `cannot be read: ${(cause as Error).message}` })
  }).pipe(Effect.flatMap((bytes) => decodeUtf8(file, bytes)))

const readOptional = (file: string) =>
  fs.existsSync(file) ? Effect.map(readText(file), Option.some) : Effect.succeed(Option.none<string>())

interface JournalEntry {
  readonly idx: number
  readonly tag: string
  readonly when?: number
}

const readJournal = (dir: string) =>
  Effect.gen(function*() {
    const file = path.join(dir, "meta", "_journal.json")
    const text = yield* readText(file)
    const journal = yield* Effect.try({
      try: () => JSON.parse(text) as { entries?: unknown },
      catch: () => new MigrationSourceError({ path: file, reason: "is not valid JSON" })
    })
    const entries = journal.entries
    const valid = Array.isArray(entries) &&
      entries.every((e) => typeof e?.idx === "number" && typeof e?.tag === "string" && /^[\w.-]+$/.test(e.tag))
    if (!valid) {
      return yield* new MigrationSourceError({ path: file, reason: "has no valid `entries` list of { idx, tag }" })
    }
    return [...(entries as Array<JournalEntry>)].sort((a, b) => a.idx - b.idx)
  })

/** A drizzle-kit output folder, in journal order. */
export const fromDrizzleFolder = (dir: string): MigrationSource =>
  Effect.gen(function*() {
    const entries = yield* readJournal(dir)
    const migrations: Array<Migration> = []
    for (const entry of entries) {
      const file = path.join(dir, `${entry.tag}.sql`)
      if (!fs.existsSync(file)) {
        return yield* new MigrationSourceError({ path: file, reason: `is listed in meta/_journal.json but missing` })
      }
      const text = yield* readText(file)
      const down = yield* readOptional(path.join(dir, `${entry.tag}.down.sql`))
      migrations.push(fromSql(entry.tag, file, text, Option.getOrUndefined(down)))
    }
    return migrations
  })

const PLAIN = /^(\d+)[_-]([\w.-]*?)(\.down)?\.sql$/

/** A folder of plain `NNNN_name.sql` (and optional `NNNN_name.down.sql`) files, by number. */
export const fromPlainFolder = (dir: string): MigrationSource =>
  Effect.gen(function*() {
    const files = fs.readdirSync(dir).filter((f) => f.endsWith(".sql")).sort()
    const ups = new Map<string, { version: bigint; file: string }>()
    const downs = new Set<string>()
    const versions = new Map<bigint, string>()
    for (const file of files) {
      const match = PLAIN.exec(file)
      if (!match) {
        return yield* new MigrationSourceError({
          path: path.join(dir, file),
          reason: "is not named NNNN_name.sql (a number, an underscore, a name)"
        })
      }
      const name = file.replace(/(\.down)?\.sql$/, "")
      if (match[3]) {
        downs.add(name)
        continue
      }
      const version = BigInt(match[1]!)
      const clash = versions.get(version)
      if (clash !== undefined) {
        return yield* new MigrationSourceError({
          path: path.join(dir, file),
          reason: `has the same number as ${clash}.sql; give each migration its own number`
        })
      }
      versions.set(version, name)
      ups.set(name, { version, file })
    }
    for (const name of downs) {
      if (!ups.has(name)) {
        return yield* new MigrationSourceError({
          path: path.join(dir, `${name}.down.sql`),
          reason: `has no matching ${name}.sql`
        })
      }
    }
    const ordered = [...ups.entries()].sort((
      [, a],
      [, b]
    ) => (a.version < b.version ? -1 : a.version > b.version ? 1 : 0))
    const migrations: Array<Migration> = []
    for (const [name, { file }] of ordered) {
      const text = yield* readText(path.join(dir, file))
      const down = downs.has(name) ? yield* readText(path.join(dir, `${name}.down.sql`)) : undefined
      migrations.push(fromSql(name, path.join(dir, file), text, down))
    }
    return migrations
  })

/**
 * A folder of migrations: drizzle-kit's layout when meta/_journal.json exists, plain files
 * otherwise. Each source remembers what it read and reads again only when a file in the folder
 * (or the journal) was added, removed, resized or touched — a readiness probe asking "pending?"
 * many times a second then costs a directory listing, not a read and hash of every file.
 */
export const fromDirectory = (dir: string): MigrationSource => {
  let cached: { readonly signature: string; readonly migrations: ReadonlyArray<Migration> } | undefined
  return Effect.suspend(() => {
    if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) {
      return Effect.fail(new MigrationSourceError({ path: dir, reason: "is not a directory" }))
    }
    const signature = folderSignature(dir)
    if (cached !== undefined && cached.signature === signature) return Effect.succeed(cached.migrations)
    const read = fs.existsSync(path.join(dir, "meta", "_journal.json")) ? fromDrizzleFolder(dir) : fromPlainFolder(dir)
    return Effect.tap(read, (migrations) => Effect.sync(() => void (cached = { signature, migrations })))
  })
}

/** Name, size and modification time of every file in the folder and of the journal. */
const folderSignature = (dir: string): string => {
  const parts: Array<string> = []
  const add = (file: string, label: string) => {
    try {
      const stat = fs.statSync(file)
      if (stat.isFile()) parts.push(`${label}:${stat.size}:${stat.mtimeMs}:${stat.ino}`)
    } catch {
      parts.push(`${label}:gone`)
    }
  }
  for (const name of fs.readdirSync(dir).sort()) add(path.join(dir, name), name)
  add(path.join(dir, "meta", "_journal.json"), "meta/_journal.json")
  return parts.join("|")
}

/** Migrations defined in code, applied in the order given. */
export const fromCode = (migrations: ReadonlyArray<CodeMigration>): MigrationSource =>
  Effect.sync(() =>
    migrations.map((m): Migration => ({
      name: m.name,
      file: "code",
      checksum: checksum(`code:${m.name}:${m.version ?? ""}`),
      transactional: true,
      up: { _tag: "Code", effect: m.up },
      down: m.down === undefined ? Option.none() : Option.some({ _tag: "Code", effect: m.down })
    }))
  )

/** Several sources, one after the other; names must be unique across them. */
export const combine = (...sources: ReadonlyArray<MigrationSource>): MigrationSource =>
  Effect.gen(function*() {
    const all = (yield* Effect.all(sources)).flat()
    const seen = new Set<string>()
    for (const migration of all) {
      if (seen.has(migration.name)) {
        return yield* new MigrationSourceError({ path: migration.file, reason: `defines ${migration.name} twice` })
      }
      seen.add(migration.name)
    }
    return all
  })

/** A migration name from free text: lower case, words joined by underscores. */
export const slug = (name: string): string =>
  name.trim().toLowerCase().replace(/[^a-z0-9]+/g, "_").replace(/^_+|_+$/g, "")

/**
 * Writes the next plain migration (`NNNN_name.sql`) and its `NNNN_name.down.sql` into a plain
 * folder. drizzle-kit folders get their migrations from `drizzle-kit generate` instead.
 */
export const scaffold = (
  dir: string,
  name: string
): Effect.Effect<{ readonly up: string; readonly down: string }, MigrationSourceError> =>
  Effect.gen(function*() {
    const base = slug(name)
    if (base === "") {
      return yield* new MigrationSourceError({
        path: dir,
        reason: `"${name}" has no letters or digits to name a migration with`
      })
    }
    if (fs.existsSync(path.join(dir, "meta", "_journal.json"))) {
      return yield* new MigrationSourceError({
        path: dir,
        reason:
          `is a drizzle-kit folder; create the migration with \`pnpm db:generate --custom --name ${base}\` (a ${base}.down.sql beside it is picked up for rollback)`
      })
    }
    makeDirectories(dir)
    const existing = fs.readdirSync(dir).map((f) => PLAIN.exec(f)).filter((m) => m !== null)
    // The folder's own width (that of its newest file: `001_` → `003_`), 4 digits in an empty one.
    const newest = existing.reduce<RegExpExecArray | undefined>(
      (best, m) => (best === undefined || BigInt(m[1]!) > BigInt(best[1]!) ? m : best),
      undefined
    )
    const width = newest === undefined ? 4 : newest[1]!.length
    const next = newest === undefined ? 1n : BigInt(newest[1]!) + 1n
    const stem = `${next.toString().padStart(width, "0")}_${base}`
    const up = path.join(dir, `${stem}.sql`)
    const down = path.join(dir, `${stem}.down.sql`)
    fs.writeFileSync(
      up,
      `-- ${stem}: ${name.trim()}\n-- Add "-- dbkit:no-transaction" on its own line to run this file outside a transaction.\n\n`,
      { flag: "wx" }
    )
    fs.writeFileSync(down, `-- Undoes ${stem} (run by \`dbkit migrate rollback\`).\n\n`, { flag: "wx" })
    return { up, down }
  })
