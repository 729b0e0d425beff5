/**
 * What a backup's manifest says it holds: the user tables pg_dump dumps (by its own exclusion
 * patterns), their exact row counts in the backup's snapshot, and dbkit's migration head. All of
 * it is read on the connection that holds the snapshot (`Run`).
 */
import type { SqlError } from "@effect/sql/SqlError"
import * as Effect from "effect/Effect"

/** A statement on the snapshot's connection. */
export type Run = (text: string) => Effect.Effect<ReadonlyArray<any>, SqlError>

/** A table or one of its inheritance children: `name` quoted for SQL, `plain` as the manifest spells it. */
interface Relation {
  readonly name: string
  readonly plain: string
  /** Partitioned: holds no rows of its own. */
  readonly partitioned: boolean
}

/** The user tables a backup covers, and every inheritance (and partition) child, by parent. */
export interface UserTables {
  readonly tables: ReadonlyArray<Relation>
  readonly children: ReadonlyMap<string, ReadonlyArray<Relation>>
}

/** A schema-only backup counts no tables. */
export const noTables: UserTables = { tables: [], children: new Map() }

/** Every user table not excluded (pg_dump's patterns) and in `schemas` when given, in the snapshot. */
export const userTables = (run: Run, excluded: ReadonlyArray<string>, schemas?: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const tables = (yield* run(
      `SELECT format('%I.%I', n.nspname, c.relname) AS name, n.nspname || '.' || c.relname AS plain, c.relkind = 'p' AS partitioned
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
          AND n.nspname NOT LIKE 'pg\\_%' ORDER BY 2`
    )) as Array<Relation>
    const edges = (yield* run(
      `SELECT format('%I.%I', pn.nspname, p.relname) AS parent, format('%I.%I', n.nspname, c.relname) AS name,
              n.nspname || '.' || c.relname AS plain, c.relkind = 'p' AS partitioned
         FROM pg_inherits i JOIN pg_class p ON p.oid = i.inhparent JOIN pg_namespace pn ON pn.oid = p.relnamespace
         JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_namespace n ON n.oid = c.relnamespace`
    )) as Array<Relation & { readonly parent: string }>
    const children = new Map<string, Array<Relation>>()
    for (const { parent, ...child } of edges) children.set(parent, [...(children.get(parent) ?? []), child])
    const skip = excluded.map(patternMatcher)
    return {
      tables: tables.filter((table) =>
        !skip.some((matches) => matches(table.plain)) &&
        (schemas === undefined || schemas.includes(table.plain.slice(0, table.plain.indexOf("."))))
      ),
      children
    } satisfies UserTables
  })

/** Exact row counts of the tables, in the backup's snapshot (count(*): children's rows included). */
export const countRows = (run: Run, { tables }: UserTables) =>
  Effect.gen(function*() {
    const counts: Record<string, number> = {}
    for (const table of tables) {
      const [row] = (yield* run(`SELECT count(*)::bigint::text AS n FROM ${table.name}`)) as [{ n: string }]
      counts[table.plain] = Number(row.n)
    }
    return counts
  })

/**
 * The same counts from the rows each COPY block of the dump held: a table's own rows plus its
 * inheritance children's, as count(*) gives them. A relation whose data the dump does not hold
 * (a child left out, an extension's table) is counted in the snapshot; a partitioned one holds none.
 */
export const countFromCopies = (run: Run, { children, tables }: UserTables, copied: Readonly<Record<string, number>>) =>
  Effect.gen(function*() {
    const own = new Map<string, number>()
    const ownRows = (relation: Relation) =>
      Effect.gen(function*() {
        const known = own.get(relation.name) ?? copied[relation.plain] ?? (relation.partitioned ? 0 : undefined)
        if (known !== undefined) return known
        const [row] = (yield* run(`SELECT count(*)::bigint::text AS n FROM ONLY ${relation.name}`)) as [{ n: string }]
        own.set(relation.name, Number(row.n))
        return Number(row.n)
      })
    const counts: Record<string, number> = {}
    for (const table of tables) {
      let rows = yield* ownRows(table)
      const seen = new Set([table.name])
      const pending = [...(children.get(table.name) ?? [])]
      for (let child = pending.pop(); child !== undefined; child = pending.pop()) {
        if (seen.has(child.name)) continue // multiple inheritance: count(*) scans a child once
        seen.add(child.name)
        rows += yield* ownRows(child)
        pending.push(...(children.get(child.name) ?? []))
      }
      counts[table.plain] = rows
    }
    return counts
  })

/**
 * A pg_dump table pattern (`orders`, `public.order*`, `audit_?`) as a predicate on
 * `schema.table`: `*` any run of characters, `?` one, unqualified means any schema, unquoted
 * names fold to lower case — so the manifest counts exactly the tables pg_dump dumped.
 */
export const patternMatcher = (pattern: string): (qualified: string) => boolean => {
  const part = (text: string) => {
    const quoted = /^".*"$/.test(text)
    const body = quoted ? text.slice(1, -1).replace(/""/g, "\"") : text.toLowerCase()
    return body.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".")
  }
  const dot = pattern.search(/\.(?=(?:[^"]*"[^"]*")*[^"]*$)/)
  const regex = dot === -1
    ? new RegExp(`^[^.]+\\.${part(pattern)}$`)
    : new RegExp(`^${part(pattern.slice(0, dot))}\\.${part(pattern.slice(dot + 1))}$`)
  return (qualified) => regex.test(qualified)
}

/** The newest applied migration in dbkit's history, if there is one. */
export const migrationHead = (run: Run) =>
  Effect.gen(function*() {
    const [exists] = (yield* run(`SELECT to_regclass('dbkit.migrations') IS NOT NULL AS e`)) as [{ e: boolean }]
    if (!exists.e) return null
    const rows =
      (yield* run(`SELECT name FROM dbkit.migrations WHERE status = 'applied' ORDER BY id DESC LIMIT 1`)) as Array<
        { name: string }
      >
    return rows[0]?.name ?? null
  })
