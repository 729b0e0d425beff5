/**
 * Catalog snapshots: what a database's schemas contain, as a map from a stable object identity
 * (`table public.users`, `column public.users.email`, `function public.f(integer)`, ...) to a
 * normalised definition, and the differences between two snapshots. `migrate drift` replays the
 * migrations into a scratch database and diffs its snapshot against the target's.
 *
 * Normalisation, so that the same migrations give identical snapshots in two databases (of the
 * same PostgreSQL major version):
 * - no OIDs, owners, grants, sizes, statistics or sequence positions are read;
 * - everything is read in one transaction with `search_path` set to `pg_catalog` alone, so the
 *   deparsed expressions, index/view/trigger/function definitions and type names qualify every
 *   non-catalog object with its schema the same way whatever the session's search_path is, and
 *   with TimeZone, DateStyle, IntervalStyle, extra_float_digits and quote_all_identifiers fixed,
 *   so deparsed constants (partition bounds, defaults) do not follow session or database settings;
 * - objects that belong to an extension are left to the `extension` entry, indexes and NOT NULL
 *   constraints already described by a constraint or a column are not repeated, and column
 *   positions (which depend on drop/re-add history, not on the shape) are not compared.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Effect from "effect/Effect"
import {
  columnDefinition,
  policyDefinition,
  relationKinds,
  type Row,
  sequenceDefinition,
  str,
  tableDefinition,
  triggerStates,
  typeKinds
} from "./catalogDefinitions.js"
import {
  COLUMNS,
  CONSTRAINTS,
  EXTENSIONS,
  FOREIGN_HISTORY_SCHEMA,
  FUNCTIONS,
  HISTORY_SCHEMA,
  INDEXES,
  isBookkeeping,
  POLICIES,
  RELATIONS,
  SCHEMAS,
  SEQUENCES,
  SETTINGS,
  TRIGGERS,
  TYPES
} from "./catalogQueries.js"

/** One database's catalog: object identity → normalised definition, keys in sorted order. */
export interface CatalogSnapshot {
  readonly objects: ReadonlyMap<string, string>
}

export interface SnapshotOptions {
  /** Only these schemas (default: every non-system schema except `dbkit`). */
  readonly schemas?: ReadonlyArray<string>
  /** Schemas to leave out, besides the system ones and `dbkit`. */
  readonly exclude?: ReadonlyArray<string>
}

/**
 * One difference. "missing": the migrations produce it but the target lacks it; "extra": only the
 * target has it; "different": both have it with different definitions.
 */
export interface CatalogDifference {
  readonly kind: "missing" | "extra" | "different"
  readonly object: string
  readonly expected?: string
  readonly actual?: string
}

/** The schemas a snapshot covers, in the database at hand. */
const chooseSchemas = (existing: ReadonlyArray<string>, options: SnapshotOptions): ReadonlyArray<string> => {
  const exclude = new Set([HISTORY_SCHEMA, ...(options.exclude ?? [])])
  const wanted = options.schemas ? new Set(options.schemas) : undefined
  return existing.filter((name) => (wanted ? wanted.has(name) : true) && !exclude.has(name)).sort()
}

/**
 * Reads the catalog of the current database: tables, columns, constraints, indexes, row level
 * security flags, policies, enums, domains, composite and range types, sequences, views,
 * materialized views, functions, procedures, triggers, schemas and extensions.
 */
export const snapshot = (
  options: SnapshotOptions = {}
): Effect.Effect<CatalogSnapshot, SqlError, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const query = (text: string, params: ReadonlyArray<unknown> = []) => sql.unsafe<Row>(text, params)

    const read = Effect.gen(function*() {
      const previous = yield* query(
        `SELECT ${SETTINGS.map(([name], i) => `current_setting('${name}') AS s${i}`).join(", ")}`
      )
      yield* query(`SELECT ${SETTINGS.map(([name, value]) => `set_config('${name}', '${value}', true)`).join(", ")}`)
      const existing = (yield* query(SCHEMAS)).map((r) => str(r.name))
      const schemas = chooseSchemas(existing, options)
      const params = [schemas]
      const objects = new Map<string, string>()
      /** Adds an object unless it is, or belongs to, dbkit's or another migrator's history table. */
      const add = (key: string, definition: string, schema?: unknown, relation?: unknown) => {
        if (isBookkeeping(schema, relation)) return
        objects.set(key, definition)
      }

      for (const name of schemas) add(`schema ${name}`, "schema")
      for (const r of yield* query(EXTENSIONS, params)) {
        add(`extension ${str(r.name)}`, `version ${str(r.version)} in schema ${str(r.schema)}`)
      }
      for (const r of yield* query(RELATIONS, params)) {
        const name = `${str(r.schema)}.${str(r.name)}`
        const kind = relationKinds[str(r.kind)] ?? str(r.kind)
        if (kind === "table") {
          add(`table ${name}`, tableDefinition(r), r.schema, r.name)
          add(
            `rls ${name}`,
            `${r.rls === true ? "enabled" : "disabled"}${r.rls_forced === true ? ", forced" : ""}`,
            r.schema,
            r.name
          )
        } else {
          add(`${kind} ${name}`, str(r.view_definition).trim())
        }
      }
      for (const r of yield* query(COLUMNS, params)) {
        add(`column ${str(r.schema)}.${str(r.relation)}.${str(r.name)}`, columnDefinition(r), r.schema, r.relation)
      }
      for (const r of yield* query(CONSTRAINTS, params)) {
        add(`constraint ${str(r.schema)}.${str(r.relation)}.${str(r.name)}`, str(r.definition), r.schema, r.relation)
      }
      for (const r of yield* query(INDEXES, params)) {
        add(
          `index ${str(r.schema)}.${str(r.name)}`,
          `${str(r.definition)}${r.valid === false ? " (INVALID)" : ""}`,
          r.schema,
          r.relation
        )
      }
      for (const r of yield* query(POLICIES, params)) {
        add(`policy ${str(r.schema)}.${str(r.relation)}.${str(r.name)}`, policyDefinition(r), r.schema, r.relation)
      }
      for (const r of yield* query(TYPES, params)) {
        add(`${typeKinds[str(r.kind)] ?? "type"} ${str(r.schema)}.${str(r.name)}`, str(r.definition))
      }
      for (const r of yield* query(SEQUENCES, params)) {
        add(`sequence ${str(r.schema)}.${str(r.name)}`, sequenceDefinition(r), r.schema, r.owner_relation)
      }
      for (const r of yield* query(FUNCTIONS, params)) {
        const kind = r.kind === "p" ? "procedure" : "function"
        add(`${kind} ${str(r.schema)}.${str(r.name)}(${str(r.arguments)})`, str(r.definition).trim())
      }
      for (const r of yield* query(TRIGGERS, params)) {
        add(
          `trigger ${str(r.schema)}.${str(r.relation)}.${str(r.name)}`,
          `${str(r.definition)}${triggerStates[str(r.enabled)] ?? ""}`,
          r.schema,
          r.relation
        )
      }
      // drizzle's schema is its bookkeeping alone unless something else lives in it.
      const schemaKey = `schema ${FOREIGN_HISTORY_SCHEMA}`
      if (objects.has(schemaKey) && ![...objects.keys()].some((key) => key.includes(` ${FOREIGN_HISTORY_SCHEMA}.`))) {
        objects.delete(schemaKey)
      }
      // Restore the caller's settings in case this ran inside their transaction.
      yield* query(
        `SELECT ${SETTINGS.map(([name], i) => `set_config('${name}', $${i + 1}, true)`).join(", ")}`,
        SETTINGS.map((_, i) => str(previous[0]?.[`s${i}`]))
      )
      const sorted = [...objects.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      return { objects: new Map(sorted) } satisfies CatalogSnapshot
    })
    return yield* sql.withTransaction(read)
  })

/** Every difference between what the migrations produce (`expected`) and the target (`actual`). */
export const diff = (expected: CatalogSnapshot, actual: CatalogSnapshot): ReadonlyArray<CatalogDifference> => {
  const keys = [...new Set([...expected.objects.keys(), ...actual.objects.keys()])].sort((a, b) =>
    a < b ? -1 : a > b ? 1 : 0
  )
  const differences: Array<CatalogDifference> = []
  for (const object of keys) {
    const want = expected.objects.get(object)
    const have = actual.objects.get(object)
    if (want !== undefined && have === undefined) {
      differences.push({ kind: "missing", object, expected: want })
    } else if (want === undefined && have !== undefined) {
      differences.push({ kind: "extra", object, actual: have })
    } else if (want !== undefined && have !== undefined && want !== have) {
      differences.push({ kind: "different", object, expected: want, actual: have })
    }
  }
  return differences
}

const MAX_SHOWN = 160

/** A definition on one line, shortened to about `MAX_SHOWN` characters. */
const oneLine = (definition: string): string => {
  const flat = definition.replace(/\s+/g, " ").trim()
  return flat.length > MAX_SHOWN ? `${flat.slice(0, MAX_SHOWN - 1)}…` : flat
}

/** For long definitions that differ, the part where they start to differ on both sides. */
const differingParts = (expected: string, actual: string): [string, string] => {
  const a = expected.replace(/\s+/g, " ").trim()
  const b = actual.replace(/\s+/g, " ").trim()
  if (a.length <= MAX_SHOWN && b.length <= MAX_SHOWN) return [a, b]
  let start = 0
  while (start < a.length && start < b.length && a[start] === b[start]) start++
  const from = Math.max(0, start - 30)
  const cut = (s: string) => {
    const part = s.slice(from, from + MAX_SHOWN)
    return `${from > 0 ? "…" : ""}${part}${from + MAX_SHOWN < s.length ? "…" : ""}`
  }
  return [cut(a), cut(b)]
}

/** One readable line for a difference. */
export const formatDifference = (d: CatalogDifference): string => {
  switch (d.kind) {
    case "missing":
      return `missing: ${d.object} — ${oneLine(d.expected ?? "")} (the migrations create it; the database lacks it)`
    case "extra":
      return `extra: ${d.object} — ${oneLine(d.actual ?? "")} (in the database; the migrations do not create it)`
    case "different": {
      const [expected, actual] = differingParts(d.expected ?? "", d.actual ?? "")
      return `different: ${d.object} — migrations: ${expected}; database: ${actual}`
    }
  }
}
