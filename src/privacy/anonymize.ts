/**
 * Anonymize: a database whose declared personal columns (the privacy map) hold realistic,
 * consistent fakes (fake.ts) instead of people's data, for development with production-shaped
 * data.
 *
 * `into`: a new database on the same server, created unreachable (ALLOW_CONNECTIONS false, then
 * CONNECT revoked from PUBLIC), filled by `pg_dump <source> | psql <new>` (plain SQL streamed, no
 * temp file, ON_ERROR_STOP), every declared column of every declared table rewritten in keyset
 * batches (one transaction, auditing off), the rewritten tables VACUUM FULL'd (so no old row
 * version or statistic keeps an original) and only then CONNECT granted back. Any failure or interrupt drops the new database;
 * a small guardian process (sh + psql) drops it too if this process dies without cleaning up
 * (SIGKILL, OOM), so it is never left holding original data.
 *
 * In place (no `into`): the configured database, rewritten the same way in one transaction (all
 * or nothing), then vacuumed; refused outright in production and otherwise guarded
 * (DB_ANONYMIZE_CONFIRM=1 or `yes`). Works on the embedded database too.
 *
 * Encrypted columns are decrypted with the keyring, faked, and the fake encrypted under the
 * active key. A fresh random run key per run makes the fakes; it is never stored or printed.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Redacted from "effect/Redacted"
import { spawn } from "node:child_process"
import { randomBytes } from "node:crypto"
import { PassThrough } from "node:stream"
import { pipeline } from "node:stream/promises"
import { InvalidDatabaseName } from "../backup/Restore.js"
import { DbConfig } from "../Config.js"
import { Database, type DatabaseUnavailable, NotSupportedOnEmbedded, PgLive } from "../Database.js"
import { Guard, type GuardError } from "../Guard.js"
import { quoteIdent } from "../Identifier.js"
import * as PgTools from "../PgTools.js"
import { siblingUrl } from "../Scratch.js"
import * as ServerError from "../ServerError.js"
import type { Category, PersonalColumn, PrivacyMap } from "./declare.js"
import { PrivacyMapMismatch } from "./errors.js"
import { fake, type FakeKind, kindsFor } from "./fake.js"
import { FieldDecryptFailed, FieldKeyMissing, FieldKeysInvalid, type Keyring, parseEnvelope } from "./fieldCrypto.js"
import { relationAccess } from "./subject.js"

// ---------------------------------------------------------------------------------------------
// errors

/** `--into` names a database that already exists (anonymize only creates new ones). */
export class AnonymizeTargetExists extends Data.TaggedError("AnonymizeTargetExists")<{ readonly database: string }> {
  override get message() {
    return `database ${this.database} already exists; --into makes a new database (pick another name, or drop it first)`
  }
}

/** Anonymizing a production database in place is never allowed, whatever the variables say. */
export class AnonymizeRefusedInProduction
  extends Data.TaggedError("AnonymizeRefusedInProduction")<{ readonly database: string }>
{
  override get message() {
    return `refusing to anonymize ${this.database} in place: the environment is production (DB_ANONYMIZE_ALLOW_PRODUCTION does not apply). Make an anonymized copy instead: dbkit privacy anonymize --into NEWDB`
  }
}

/** Row-level security would hide rows of a declared table from the role anonymizing it. */
export class AnonymizeNeedsBypassRls extends Data.TaggedError("AnonymizeNeedsBypassRls")<{
  readonly role: string
  readonly table: string
}> {
  override get message() {
    return `row-level security on ${this.table} would hide rows from ${this.role}, leaving them unanonymized; run as a superuser or a role with BYPASSRLS`
  }
}

/** A statement rewriting a table failed (e.g. a fake breaks a CHECK constraint); nothing was kept. */
export class AnonymizeFailed extends Data.TaggedError("AnonymizeFailed")<{
  readonly database: string
  readonly table: string
  /** The server's message (never the row's values). */
  readonly reason: string
  readonly code: string | null
  /** What became of the work: the new database was dropped, or the transaction rolled back. */
  readonly cleanup: "dropped" | "rolled back"
}> {
  override get message() {
    const what = this.cleanup === "dropped"
      ? `the new database ${this.database} was dropped`
      : `nothing in ${this.database} was changed (rolled back)`
    return `anonymizing ${this.table} failed: ${this.reason}${this.code ? ` [${this.code}]` : ""}; ${what}`
  }
}

export type AnonymizeError =
  | InvalidDatabaseName
  | AnonymizeTargetExists
  | AnonymizeRefusedInProduction
  | PrivacyMapMismatch
  | AnonymizeNeedsBypassRls
  | AnonymizeFailed
  | FieldKeysInvalid
  | FieldKeyMissing
  | FieldDecryptFailed
  | NotSupportedOnEmbedded
  | PgTools.PgToolMissing
  | PgTools.PgToolTooOld
  | PgTools.PgToolFailed
  | DatabaseUnavailable
  | GuardError
  | SqlError

// ---------------------------------------------------------------------------------------------
// options and report

export interface AnonymizeOptions {
  /** Make an anonymized copy in this new database (server only); without it, anonymize in place. */
  readonly into?: string | undefined
  /** Field keys, needed when the map declares encrypted columns. */
  readonly keyring?: Keyring | undefined
  /** Rows per batch (default 1000). */
  readonly batchSize?: number | undefined
  /** In place: confirmed (`--yes`), instead of DB_ANONYMIZE_CONFIRM or the prompt. */
  readonly yes?: boolean | undefined
  readonly onProgress?: ((event: AnonymizeProgress) => void) | undefined
}

export type AnonymizeProgress =
  | { readonly _tag: "Copying"; readonly into: string }
  | { readonly _tag: "Copied"; readonly bytes: number; readonly durationMs: number }
  | { readonly _tag: "Rewriting"; readonly table: string; readonly rows: number; readonly estimate: number | null }
  | { readonly _tag: "Rewritten"; readonly table: TableReport }
  | { readonly _tag: "Vacuuming"; readonly table: string }

/** One declared table: rows rewritten (rows with at least one non-empty declared value), columns, time. */
export interface TableReport {
  readonly table: string
  readonly columns: ReadonlyArray<string>
  readonly rows: number
  readonly durationMs: number
}

export interface AnonymizeReport {
  readonly mode: "into" | "in-place"
  /** The configured database (the source of a copy). */
  readonly source: string
  /** The database that now holds fakes. */
  readonly database: string
  readonly tables: ReadonlyArray<TableReport>
  readonly rows: number
  /** pg_dump | psql (into only). */
  readonly copyMs: number | null
  readonly rewriteMs: number
  /** VACUUM FULL, ANALYZE of the rewritten tables. */
  readonly vacuumMs: number
  readonly durationMs: number
  /** Rows rewritten per second of rewriting. */
  readonly rowsPerSecond: number
}

// ---------------------------------------------------------------------------------------------
// the plan: what each declared column is in this database

interface ColumnPlan {
  readonly column: string
  readonly category: Category
  readonly encrypted: boolean
  /** The SQL type to cast the fake to, as format_type spells it. */
  readonly type: string
  readonly kind: FakeKind
  readonly maxLength: number | null
}

interface TablePlan {
  /** `schema.table`, for reports. */
  readonly name: string
  /** Quoted, for SQL. */
  readonly sqlName: string
  readonly key: ReadonlyArray<{ readonly column: string; readonly type: string }>
  readonly columns: ReadonlyArray<ColumnPlan>
  readonly estimate: number | null
}

const KIND_BY_TYPE: Readonly<Record<string, FakeKind>> = {
  text: "text",
  varchar: "text",
  bpchar: "text",
  citext: "text",
  name: "text",
  date: "date",
  timestamp: "date",
  timestamptz: "date",
  inet: "inet",
  cidr: "cidr",
  uuid: "uuid",
  int2: "integer",
  int4: "integer",
  int8: "integer",
  numeric: "integer"
}

interface CatalogColumn {
  readonly name: string
  readonly type: string
  readonly base: string
  readonly typmod: number
}

const qualified = (schema: string, table: string) => `${schema}.${table}`

/** The map does not fit this database: a table or column is missing, or cannot hold a fake. */
const mismatch = (table: string, column: string | null, reason: string) =>
  new PrivacyMapMismatch({ problems: [`${column === null ? table : `${table}.${column}`} ${reason}`] })

/** Reads the catalog for every declared table; fails before anything is changed if the map does not fit. */
const planFor = (sql: SqlClient.SqlClient, map: PrivacyMap, keyring: Keyring | undefined) =>
  Effect.gen(function*() {
    const encrypted = map.tables.flatMap((t) =>
      t.columns.filter((c) => c.encrypted).map((c) => `${qualified(t.schema, t.table)}.${c.column}`)
    )
    if (encrypted.length > 0 && keyring === undefined) {
      return yield* new FieldKeysInvalid({
        source: "the environment",
        reason: `the personal-data map declares encrypted columns (${encrypted.slice(0, 3).join(", ")}${
          encrypted.length > 3 ? ", …" : ""
        }); set DBKIT_FIELD_KEYS or DBKIT_FIELD_KEYS_FILE so their values can be decrypted and their fakes encrypted`
      })
    }
    const plans: Array<TablePlan> = []
    for (const table of map.tables) {
      const name = qualified(table.schema, table.table)
      if (table.columns.length === 0) continue
      const relation = yield* Effect.provideService(relationAccess(table.schema, table.table), SqlClient.SqlClient, sql)
      if (relation === undefined) return yield* mismatch(name, null, "does not exist")
      if (relation.hidden) return yield* new AnonymizeNeedsBypassRls({ role: relation.role, table: name })
      const catalog = yield* sql<CatalogColumn>`
        SELECT a.attname::text AS name, format_type(a.atttypid, a.atttypmod) AS type,
               (CASE WHEN t.typtype = 'd' THEN b.typname ELSE t.typname END)::text AS base,
               (CASE WHEN t.typtype = 'd' THEN t.typtypmod ELSE a.atttypmod END)::int AS typmod
          FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid LEFT JOIN pg_type b ON b.oid = t.typbasetype
         WHERE a.attrelid = ${relation.oid} AND a.attnum > 0 AND NOT a.attisdropped`
      const byName = new Map(catalog.map((c) => [c.name, c] as const))
      const key: Array<{ column: string; type: string }> = []
      for (const column of table.key) {
        const found = byName.get(column)
        if (found === undefined) return yield* mismatch(name, column, "(a primary key column) does not exist")
        key.push({ column, type: found.type })
      }
      const columns: Array<ColumnPlan> = []
      for (const declared of table.columns) {
        const found = byName.get(declared.column)
        if (found === undefined) return yield* mismatch(name, declared.column, "does not exist")
        const planned = columnPlan(name, declared, found)
        if (planned instanceof PrivacyMapMismatch) return yield* planned
        columns.push(planned)
      }
      plans.push({
        name,
        sqlName: `${quoteIdent(table.schema)}.${quoteIdent(table.table)}`,
        key,
        columns,
        estimate: relation.estimate > 0 ? Math.round(relation.estimate) : null
      })
    }
    return plans
  })

const columnPlan = (table: string, declared: PersonalColumn, found: CatalogColumn): ColumnPlan | PrivacyMapMismatch => {
  const kind = KIND_BY_TYPE[found.base]
  const fail = (reason: string) => mismatch(table, declared.column, reason)
  if (kind === undefined) {
    return fail(`is of type ${found.type}, which anonymize cannot fill with a fake ${declared.category}`)
  }
  if (declared.encrypted && kind !== "text") {
    return fail(`is declared encrypted but is of type ${found.type} (ciphertext needs text)`)
  }
  if (!declared.encrypted && !kindsFor[declared.category].includes(kind)) {
    return fail(`is of type ${found.type}, which cannot hold a fake ${declared.category}`)
  }
  const sized = (found.base === "varchar" || found.base === "bpchar") && found.typmod >= 4
  return {
    column: declared.column,
    category: declared.category,
    encrypted: declared.encrypted,
    type: found.type,
    kind,
    maxLength: sized ? found.typmod - 4 : null
  }
}

// ---------------------------------------------------------------------------------------------
// the rewrite

/** A text[] literal, so the array travels as one text parameter on every driver. */
const textArray = (values: ReadonlyArray<string | null>) =>
  `{${values.map((v) => (v === null ? "NULL" : `"${v.replace(/\\/g, "\\\\").replace(/"/g, "\\\"")}"`)).join(",")}}`

/** What a failed statement's server said: its message and SQLSTATE, never the failing row. */
const serverError = (error: SqlError): { reason: string; code: string | null } => {
  const server = ServerError.read(error)
  return { reason: server.message.split("\n")[0]!, code: server.code ?? null }
}

interface RewriteContext {
  readonly runKey: Buffer
  readonly keyring: Keyring | undefined
  readonly batchSize: number
  readonly onProgress: (event: AnonymizeProgress) => void
}

/** The fake to store for one value: through the keyring for encrypted columns. */
const fakeValue = (
  plan: TablePlan,
  column: ColumnPlan,
  value: string,
  rowKey: () => string,
  context: RewriteContext
): string => {
  if (!column.encrypted) {
    return fake(column.category, value, context.runKey, { kind: column.kind, maxLength: column.maxLength })
  }
  const keyring = context.keyring!
  const envelope = parseEnvelope(value)
  let plaintext = value // a plaintext value in an encrypted column is faked and stored encrypted
  if (envelope !== undefined) {
    const where = `${plan.name}.${column.column} (${rowKey()})`
    if (!keyring.has(envelope.keyId)) throw new FieldKeyMissing({ keyId: envelope.keyId, where })
    try {
      plaintext = keyring.decrypt(value)
    } catch {
      throw new FieldDecryptFailed({ where, reason: "authentication failed (altered, truncated or under another key)" })
    }
  }
  return keyring.encrypt(fake(column.category, plaintext, context.runKey, { kind: "text" }))
}

/**
 * Rewrites one table in keyset batches: SELECT the next `batchSize` rows by primary key, fake
 * their declared values, `UPDATE … FROM unnest(…)`. Runs inside the caller's transaction, on its
 * one connection, pipelined: the next batch's SELECT and this batch's UPDATE are sent before the
 * fakes are worked out and awaited after, so the server and this process work at the same time.
 */
const rewriteTable = (
  sql: SqlClient.SqlClient,
  plan: TablePlan,
  context: RewriteContext,
  database: string,
  cleanup: AnonymizeFailed["cleanup"]
) =>
  Effect.gen(function*() {
    const started = Date.now()
    const keys = plan.key.map((k) => quoteIdent(k.column)).join(", ")
    const selected = [
      ...plan.key.map((k, i) => `${quoteIdent(k.column)}::text AS k${i}`),
      ...plan.columns.map((c, i) => `${quoteIdent(c.column)}::text AS c${i}`)
    ].join(", ")
    const after = `WHERE (${keys}) > (${plan.key.map((k, i) => `$${i + 1}::${k.type}`).join(", ")})`
    const names = [...plan.key.map((_, i) => `k${i}`), ...plan.columns.map((_, i) => `c${i}`)]
    const update = `WITH changed AS (
        UPDATE ${plan.sqlName} AS t SET ${
      plan.columns.map((c, i) => `${quoteIdent(c.column)} = v.c${i}::${c.type}`).join(", ")
    }
          FROM unnest(${names.map((_, i) => `$${i + 1}::text[]`).join(", ")}) AS v(${names.join(", ")})
         WHERE ${plan.key.map((k, i) => `t.${quoteIdent(k.column)} = v.k${i}::${k.type}`).join(" AND ")}
        RETURNING 1)
      SELECT count(*)::int AS n FROM changed`
    type Row = Record<string, string | null>
    const select = (last: ReadonlyArray<string> | undefined) =>
      sql.unsafe<Row>(
        `SELECT ${selected} FROM ${plan.sqlName} ${
          last === undefined ? "" : after
        } ORDER BY ${keys} LIMIT ${context.batchSize}`,
        last ?? []
      )

    /** The UPDATE's parameters for one batch (columns of text[] literals), or undefined when no row holds anything personal. */
    const fakesOf = (found: ReadonlyArray<Row>): Array<string> | undefined => {
      const columns = names.map((): Array<string | null> => [])
      for (const row of found) {
        const rowKey = () => plan.key.map((k, i) => `${k.column}=${row[`k${i}`]}`).join(", ")
        let personal = false
        const values = plan.columns.map((column, i) => {
          const value = row[`c${i}`] ?? null
          if (value === null || value.trim() === "") return value
          personal = true
          return fakeValue(plan, column, value, rowKey, context)
        })
        if (!personal) continue
        plan.key.forEach((_, i) => columns[i]!.push(row[`k${i}`] ?? null))
        values.forEach((v, i) => columns[plan.key.length + i]!.push(v))
      }
      return columns[0]!.length === 0 ? undefined : columns.map(textArray)
    }

    let rows = 0
    const updated = (pending: Fiber.RuntimeFiber<ReadonlyArray<{ n: number }>, SqlError> | undefined) =>
      pending === undefined ? Effect.void : Effect.map(Fiber.join(pending), ([result]) => void (rows += result?.n ?? 0))
    const work = Effect.gen(function*() {
      let found = yield* select(undefined)
      let pending: Fiber.RuntimeFiber<ReadonlyArray<{ n: number }>, SqlError> | undefined
      while (found.length > 0) {
        const full = found.length === context.batchSize
        const last = plan.key.map((_, i) => found[found.length - 1]![`k${i}`]!)
        // Sent now, run by the server while the fakes below are worked out.
        const next = full ? yield* Effect.forkScoped(select(last)) : undefined
        const parameters = fakesOf(found)
        yield* updated(pending)
        pending = parameters === undefined
          ? undefined
          : yield* Effect.forkScoped(sql.unsafe<{ n: number }>(update, parameters))
        context.onProgress({ _tag: "Rewriting", table: plan.name, rows, estimate: plan.estimate })
        found = next === undefined ? [] : yield* Fiber.join(next)
      }
      yield* updated(pending)
    })
    // Scoped: a failure stops the statements still in flight.
    yield* Effect.scoped(work).pipe(
      Effect.catchTag("SqlError", (error) =>
        Effect.fail(new AnonymizeFailed({ database, table: plan.name, ...serverError(error), cleanup }))),
      // Faking throws the key errors; they surface typed.
      Effect.catchAllDefect((defect) =>
        defect instanceof FieldKeyMissing || defect instanceof FieldDecryptFailed
          ? Effect.fail(defect)
          : Effect.die(defect)
      )
    )
    const report: TableReport = {
      table: plan.name,
      columns: plan.columns.map((c) =>
        c.column
      ),
      rows,
      durationMs: Date.now() - started
    }
    context.onProgress({ _tag: "Rewritten", table: report })
    return report
  })

/** VACUUM FULL, ANALYZE: old row versions and column statistics that still hold originals go. */
const vacuum = (sql: SqlClient.SqlClient, plans: ReadonlyArray<TablePlan>, onProgress: RewriteContext["onProgress"]) =>
  Effect.gen(function*() {
    const started = Date.now()
    for (const plan of plans) {
      onProgress({ _tag: "Vacuuming", table: plan.name })
      yield* sql.unsafe(`VACUUM (FULL, ANALYZE) ${plan.sqlName}`)
    }
    return Date.now() - started
  })

// ---------------------------------------------------------------------------------------------
// the copy (into)

const NAME = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/

const literal = (text: string) => `'${text.replace(/'/g, "''")}'`

/** `pg_dump <source> | psql <target>`: plain SQL streamed, stopping at the first error; the bytes it moved. */
const copyDatabase = (source: Redacted.Redacted<string>, target: Redacted.Redacted<string>) =>
  Effect.scoped(Effect.gen(function*() {
    const dump = yield* PgTools.spawn("pg_dump", ["--format=p", "--no-password", "--no-subscriptions"], { url: source })
    const load = yield* PgTools.spawn("psql", [
      "-X",
      "-q",
      "--no-password",
      "-v",
      "ON_ERROR_STOP=1",
      "--single-transaction",
      "-f",
      "-"
    ], {
      url: target,
      stdin: "pipe",
      stdout: "ignore"
    })
    let bytes = 0
    // pipeline keeps backpressure; psql stopping closes pg_dump's pipe, and pg_dump stops too.
    const fed = Effect.promise(() =>
      pipeline(dump.stdout, new PassThrough().on("data", (chunk: Buffer) => (bytes += chunk.length)), load.stdin).catch(
        () => undefined
      )
    )
    const [dumped, loaded] = yield* Effect.all([Effect.exit(dump.finished), Effect.exit(load.finished), fed], {
      concurrency: "unbounded"
    })
    // psql stopping first breaks pg_dump's pipe: psql's message is the story then.
    if (Exit.isFailure(loaded)) return yield* Effect.failCause(loaded.cause)
    // psql committed what it got, but the dump was cut short: the caller drops it all.
    if (Exit.isFailure(dumped)) return yield* Effect.failCause(dumped.cause)
    return bytes
  }))

/**
 * A detached `sh` that drops the new database if this process dies without saying it is done
 * (SIGKILL, OOM): we tell it "creating" before CREATE DATABASE, "created" after it and "done" at
 * the end; end of input before "done" means we are gone. Dying after "created", the database
 * goes; dying while creating, it goes only if it is still unreachable (ALLOW_CONNECTIONS false,
 * as we create it), so another's database of the same name is never touched. Without `sh`, the
 * in-process cleanup is all there is.
 */
const guardian = (url: Redacted.Redacted<string>, name: string) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const drop = `DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`
      const script = [
        "trap '' INT TERM HUP",
        `IFS= read -r step || exit 0`,
        `[ "$step" = creating ] || exit 0`,
        `IFS= read -r step`,
        `[ "$step" = done ] && exit 0`,
        `if [ "$step" = created ]; then`,
        `  IFS= read -r step`,
        `  [ "$step" = done ] && exit 0`,
        `  exec psql -X -q --no-password -c '${drop}'`,
        `fi`,
        `exec psql -X -q --no-password <<'SQL'`,
        `SELECT format('DROP DATABASE %I WITH (FORCE)', datname) FROM pg_database WHERE datname = '${name}' AND NOT datallowconn`,
        `\\gexec`,
        `SQL`
      ].join("\n")
      const child = spawn("sh", ["-c", script], {
        env: { ...process.env, ...PgTools.pgEnv(url, "dbkit-anonymize-guardian") },
        stdio: ["pipe", "ignore", "ignore"],
        detached: true
      })
      child.on("error", () => undefined)
      child.stdin.on("error", () => undefined)
      child.unref()
      ;(child.stdin as unknown as { unref?: () => void }).unref?.()
      let finished = false
      const say = (step: string) => () => void (finished || child.stdin.write(`${step}\n`))
      return {
        creating: say("creating"),
        created: say("created"),
        /** Nothing left for the guardian to do. */
        done: () => {
          if (!finished) (finished = true), child.stdin.end("done\n")
        },
        /** Leave the drop to the guardian (our own drop failed). */
        abandon: () => {
          if (!finished) (finished = true), child.stdin.end()
        }
      }
    }),
    (g) => Effect.sync(g.done)
  )

// ---------------------------------------------------------------------------------------------
// the entry point

/**
 * Anonymizes: into a new database (`options.into`, server only) or the configured database in
 * place (guarded; refused in production). Returns what was rewritten.
 */
export const anonymize = (
  map: PrivacyMap,
  options: AnonymizeOptions = {}
): Effect.Effect<
  AnonymizeReport,
  AnonymizeError,
  SqlClient.SqlClient | Database | DbConfig | Guard
> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const database = yield* Database
    const started = Date.now()
    const batchSize = Math.max(1, Math.floor(options.batchSize ?? 1000))
    const context: RewriteContext = {
      runKey: randomBytes(32),
      keyring: options.keyring,
      batchSize,
      onProgress: options.onProgress ?? (() => undefined)
    }
    /** Every declared table in one transaction, unaudited (the copy's audit_log is not flooded; it holds no values anyway). */
    const rewriteAll = (
      client: SqlClient.SqlClient,
      plans: ReadonlyArray<TablePlan>,
      target: string,
      cleanup: AnonymizeFailed["cleanup"]
    ) =>
      client.withTransaction(
        Effect.zipRight(
          client`SELECT set_config('dbkit.audit', 'off', true)`,
          Effect.forEach(plans, (plan) => rewriteTable(client, plan, context, target, cleanup))
        )
      )
    const report = (
      mode: AnonymizeReport["mode"],
      target: string,
      tables: ReadonlyArray<TableReport>,
      times: { copyMs: number | null; rewriteMs: number; vacuumMs: number }
    ): AnonymizeReport => {
      const rows = tables.reduce((sum, t) => sum + t.rows, 0)
      return {
        mode,
        source: database.database,
        database: target,
        tables,
        rows,
        ...times,
        durationMs: Date.now() - started,
        rowsPerSecond: rows / Math.max(0.001, times.rewriteMs / 1000)
      }
    }

    if (options.into === undefined) {
      const config = yield* DbConfig
      if (config.environment === "production") {
        return yield* new AnonymizeRefusedInProduction({ database: database.database })
      }
      const plans = yield* planFor(sql, map, options.keyring)
      const guard = yield* Guard
      yield* guard.confirm({
        action: "anonymize the database in place (every declared personal column is overwritten with fake values)",
        variable: "DB_ANONYMIZE",
        target: database.database,
        yes: options.yes
      })
      const rewriteStarted = Date.now()
      const tables = yield* rewriteAll(sql, plans, database.database, "rolled back")
      const rewriteMs = Date.now() - rewriteStarted
      // Committed: a VACUUM that fails (e.g. a lock it cannot get) does not undo that; it is reported.
      const vacuumMs = yield* vacuum(sql, plans, context.onProgress).pipe(
        Effect.catchAll((error) =>
          Effect.as(
            Effect.logWarning(
              `VACUUM FULL after anonymizing failed (${
                serverError(error).reason
              }); old row versions may keep original values until the tables are vacuumed`
            ),
            0
          )
        )
      )
      return report("in-place", database.database, tables, { copyMs: null, rewriteMs, vacuumMs })
    }

    const name = options.into
    if (!NAME.test(name)) return yield* new InvalidDatabaseName({ name })
    if (Option.isNone(database.url)) {
      return yield* new NotSupportedOnEmbedded({
        feature: "anonymize --into",
        instead: "anonymize the embedded database in place (--in-place); it holds a single database"
      })
    }
    const url = database.url.value
    const [exists] = yield* sql<{ e: boolean }>`SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = ${name}) AS e`
    if (exists?.e) return yield* new AnonymizeTargetExists({ database: name })
    const plans = yield* planFor(sql, map, options.keyring)
    // Tools before anything is created: pg_dump at least the server's major, psql at least pg_dump's.
    const [server] = yield* sql<{ num: number }>`SELECT current_setting('server_version_num')::int AS num`
    const serverMajor = Math.floor(server!.num / 10000)
    const [dumpMajor, psqlMajor] = yield* Effect.all([PgTools.major("pg_dump"), PgTools.major("psql")])
    if (dumpMajor < serverMajor) {
      return yield* new PgTools.PgToolTooOld({ tool: "pg_dump", toolMajor: dumpMajor, serverMajor })
    }
    if (psqlMajor < Math.max(serverMajor, dumpMajor)) {
      return yield* new PgTools.PgToolTooOld({
        tool: "psql",
        toolMajor: psqlMajor,
        serverMajor: Math.max(serverMajor, dumpMajor)
      })
    }
    const [locale] = yield* sql<{ encoding: string; collate: string; ctype: string }>`
      SELECT pg_encoding_to_char(encoding) AS encoding, datcollate::text AS collate, datctype::text AS ctype
        FROM pg_database WHERE datname = current_database()`
    const target = quoteIdent(name)

    return yield* Effect.scoped(Effect.gen(function*() {
      const guard = yield* guardian(url, name)
      // Created unreachable; from here on, any failure or interrupt drops it again.
      yield* Effect.sync(guard.creating)
      yield* Effect.acquireRelease(
        sql.unsafe(
          `CREATE DATABASE ${target} TEMPLATE template0 ENCODING ${literal(locale!.encoding)} ` +
            `LC_COLLATE ${literal(locale!.collate)} LC_CTYPE ${literal(locale!.ctype)} ALLOW_CONNECTIONS false`
        ).pipe(
          Effect.tap(() => Effect.sync(guard.created)),
          // Created by someone else since we looked.
          Effect.catchIf(
            (error) => serverError(error).code === "42P04",
            () => Effect.fail(new AnonymizeTargetExists({ database: name }))
          )
        ),
        (_, exit) =>
          Exit.isSuccess(exit) ? Effect.void : sql.unsafe(`DROP DATABASE IF EXISTS ${target} WITH (FORCE)`).pipe(
            Effect.timeout("60 seconds"),
            // Our drop failed (the server went away?): the guardian tries once we are gone.
            Effect.catchAll(() => Effect.sync(guard.abandon))
          )
      )
      yield* sql.unsafe(`REVOKE CONNECT ON DATABASE ${target} FROM PUBLIC`)
      yield* sql.unsafe(`ALTER DATABASE ${target} ALLOW_CONNECTIONS true`)
      const targetUrl = siblingUrl(url, name)
      context.onProgress({ _tag: "Copying", into: name })
      const copyStarted = Date.now()
      const bytes = yield* copyDatabase(url, targetUrl)
      const copyMs = Date.now() - copyStarted
      context.onProgress({ _tag: "Copied", bytes, durationMs: copyMs })
      const { rewriteMs, tables, vacuumMs } = yield* Effect.scoped(Effect.gen(function*() {
        const copy = Context.get(
          yield* Layer.build(PgLive({ url: targetUrl, poolSize: 1, applicationName: "dbkit-anonymize" })),
          SqlClient.SqlClient
        )
        const rewriteStarted = Date.now()
        const tables = yield* rewriteAll(copy, plans, name, "dropped")
        const rewriteMs = Date.now() - rewriteStarted
        return { tables, rewriteMs, vacuumMs: yield* vacuum(copy, plans, context.onProgress) }
      }))
      yield* sql.unsafe(`GRANT CONNECT ON DATABASE ${target} TO PUBLIC`)
      return report("into", name, tables, { copyMs, rewriteMs, vacuumMs })
    }))
  })
