/**
 * An rls tenant's rows, written out before deprovisioning deletes them: the tables that carry a
 * `tenant_id` in foreign-key order, and a gzipped SQL script that puts the rows back.
 */
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as fs from "node:fs"
import * as path from "node:path"
import { createGzip } from "node:zlib"
import { durable, stamp } from "../backup/Backup.js"
import { makeDirectories } from "../Directories.js"
import { quoteIdent, quoteQualified } from "../Identifier.js"
import type { TenancyContext } from "./context.js"
import type * as Registry from "./registry.js"

/** Tables with a `tenant_id` column, parents before children (by foreign keys among them). */
export const tenantTables = (context: TenancyContext) =>
  Effect.gen(function*() {
    const { sql } = context
    const tables = yield* sql<{ name: string }>`
      SELECT format('%I.%I', n.nspname, c.relname) AS name
        FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE a.attname = 'tenant_id' AND NOT a.attisdropped AND c.relkind IN ('r', 'p')
         AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'dbkit') ORDER BY 1`
    const edges = yield* sql<{ child: string; parent: string }>`
      SELECT format('%I.%I', cn.nspname, c.relname) AS child, format('%I.%I', pn.nspname, p.relname) AS parent
        FROM pg_constraint k
        JOIN pg_class c ON c.oid = k.conrelid JOIN pg_namespace cn ON cn.oid = c.relnamespace
        JOIN pg_class p ON p.oid = k.confrelid JOIN pg_namespace pn ON pn.oid = p.relnamespace
       WHERE k.contype = 'f' AND k.conrelid <> k.confrelid`
    const names = new Set(tables.map((t) => t.name))
    const ordered: Array<string> = []
    const visiting = new Set<string>()
    const visit = (table: string) => {
      if (ordered.includes(table) || visiting.has(table)) return
      visiting.add(table)
      for (const edge of edges) if (edge.child === table && names.has(edge.parent)) visit(edge.parent)
      ordered.push(table)
    }
    for (const table of names) visit(table)
    return ordered
  })

/**
 * The rls tenant's rows as a gzipped SQL script that puts them back (INSERT … SELECT from
 * json_populate_recordset, parents first, 500 rows a statement); mode 0600, fsynced, renamed
 * into place only when complete.
 */
export const exportRows = (
  context: TenancyContext,
  tenant: Registry.Tenant,
  tables: ReadonlyArray<string>,
  out: string
) =>
  Effect.gen(function*() {
    const { options, sql } = context
    makeDirectories(out)
    const file = path.resolve(out, `tenant_${tenant.slug}_backup_${stamp(new Date())}.sql.gz`)
    const temp = `${file}.partial`
    const gzip = createGzip()
    const sink = fs.createWriteStream(temp, { mode: 0o600, flags: "wx" })
    gzip.pipe(sink)
    // A failure or interruption leaves no partial file behind.
    yield* Effect.addFinalizer((exit) =>
      Exit.isSuccess(exit) ? Effect.void : Effect.sync(() => {
        gzip.destroy()
        sink.destroy()
        fs.rmSync(temp, { force: true })
      })
    )
    const write = (text: string) =>
      Effect.async<void>((resume) => {
        if (gzip.write(text)) resume(Effect.void)
        else gzip.once("drain", () => resume(Effect.void))
      })
    const tag = `$dbkit_${Math.random().toString(36).slice(2, 10)}$`
    const counts: Record<string, number> = {}
    // Putting the rows back is not an audit event (they were audited when first written).
    yield* write(
      `-- dbkit: data of tenant ${tenant.slug} (${tenant.id}), ${
        new Date().toISOString()
      }\nBEGIN;\nSELECT set_config('dbkit.audit', 'off', true);\n`
    )
    const sources = [
      ...(options.tenantTable ? [{ table: quoteQualified(options.tenantTable), column: "id" }] : []),
      ...tables.map((table) => ({ table, column: "tenant_id" }))
    ]
    for (const { column, table } of sources) {
      let batch: Array<unknown> = []
      counts[table] = 0
      const flush = Effect.suspend(() => {
        if (batch.length === 0) return Effect.void
        const json = JSON.stringify(batch)
        batch = []
        return write(
          `INSERT INTO ${table} OVERRIDING SYSTEM VALUE SELECT * FROM json_populate_recordset(NULL::${table}, ${tag}${json}${tag});\n`
        )
      })
      yield* sql.unsafe<{ row: unknown }>(
        `SELECT to_json(t) AS row FROM ${table} t WHERE ${quoteIdent(column)} = $1::uuid`,
        [tenant.id]
      ).pipe(
        Effect.flatMap((rows) =>
          Effect.forEach(rows, ({ row }) => {
            batch.push(row)
            counts[table]! += 1
            return batch.length >= 500 ? flush : Effect.void
          }, { discard: true })
        )
      )
      yield* flush
    }
    yield* write("COMMIT;\n")
    yield* Effect.async<void>((resume) => {
      sink.once("close", () => resume(Effect.void))
      gzip.end()
    })
    durable(temp)
    fs.renameSync(temp, file)
    durable(out)
    return { file, counts }
  }).pipe(Effect.scoped)
