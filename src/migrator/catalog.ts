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

/** dbkit's own history: the `dbkit` schema, and the `dbkit_migrations` table of schema-targeted runs. */
const HISTORY_SCHEMA = "dbkit"
const HISTORY_TABLE = "dbkit_migrations"

/**
 * Other migrators' history, which a database adopted from them keeps and no replay creates:
 * drizzle-orm's `drizzle.__drizzle_migrations` (and its `drizzle` schema when nothing else is in
 * it) and @effect/sql's `effect_sql_migrations`.
 */
const FOREIGN_HISTORY_SCHEMA = "drizzle"
const isBookkeeping = (schema: unknown, relation: unknown): boolean =>
  relation === HISTORY_TABLE || relation === "effect_sql_migrations" ||
  (schema === FOREIGN_HISTORY_SCHEMA && relation === "__drizzle_migrations")

/** `pg_depend` says the object belongs to an extension. */
const notExtensionMember = (catalog: string, oid: string) =>
  `NOT EXISTS (SELECT 1 FROM pg_depend dep WHERE dep.classid = '${catalog}'::regclass AND dep.objid = ${oid} AND dep.deptype = 'e')`

const inSchemas = (column: string) => `${column} = ANY($1::text[])`

const SCHEMAS = `
SELECT n.nspname AS name
  FROM pg_namespace n
 WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
   AND n.nspname NOT LIKE 'pg\\_toast%'
   AND n.nspname NOT LIKE 'pg\\_temp%'
   AND ${notExtensionMember("pg_namespace", "n.oid")}`

const EXTENSIONS = `
SELECT e.extname AS name, n.nspname AS schema, e.extversion AS version
  FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
 WHERE ${inSchemas("n.nspname")}`

const RELATIONS = `
SELECT n.nspname AS schema, c.relname AS name, c.relkind::text AS kind, c.relpersistence::text AS persistence,
       c.relrowsecurity AS rls, c.relforcerowsecurity AS rls_forced,
       CASE WHEN c.relkind = 'p' THEN pg_get_partkeydef(c.oid) END AS partition_key,
       CASE WHEN c.relispartition THEN
         (SELECT pc.oid::regclass::text FROM pg_inherits i JOIN pg_class pc ON pc.oid = i.inhparent WHERE i.inhrelid = c.oid)
         || ' ' || pg_get_expr(c.relpartbound, c.oid)
       END AS partition_of,
       CASE WHEN c.relkind IN ('v', 'm') THEN pg_get_viewdef(c.oid, true) END AS view_definition
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE ${inSchemas("n.nspname")}
   AND c.relkind IN ('r', 'p', 'v', 'm')
   AND ${notExtensionMember("pg_class", "c.oid")}`

const COLUMNS = `
SELECT n.nspname AS schema, c.relname AS relation, a.attname AS name,
       format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull AS not_null,
       CASE WHEN a.attcollation <> 0 AND a.attcollation <> t.typcollation THEN
         (SELECT CASE WHEN cn.nspname = 'pg_catalog' THEN '' ELSE quote_ident(cn.nspname) || '.' END || quote_ident(co.collname)
            FROM pg_collation co JOIN pg_namespace cn ON cn.oid = co.collnamespace WHERE co.oid = a.attcollation)
       END AS collation,
       pg_get_expr(d.adbin, d.adrelid) AS default_expr,
       a.attidentity::text AS identity, a.attgenerated::text AS generated
  FROM pg_attribute a
  JOIN pg_class c ON c.oid = a.attrelid
  JOIN pg_namespace n ON n.oid = c.relnamespace
  JOIN pg_type t ON t.oid = a.atttypid
  LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
 WHERE ${inSchemas("n.nspname")}
   AND c.relkind IN ('r', 'p')
   AND a.attnum > 0 AND NOT a.attisdropped
   AND ${notExtensionMember("pg_class", "c.oid")}`

// NOT NULL constraints (contype 'n', PostgreSQL 18 for tables, 17 for domains) are the
// columns' NOT NULL flag, compared there.
const CONSTRAINTS = `
SELECT n.nspname AS schema, c.relname AS relation, co.conname AS name, pg_get_constraintdef(co.oid) AS definition
  FROM pg_constraint co
  JOIN pg_class c ON c.oid = co.conrelid
  JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE ${inSchemas("n.nspname")}
   AND co.contype <> 'n'
   AND ${notExtensionMember("pg_class", "c.oid")}`

// Indexes that implement a primary key, unique or exclusion constraint are that constraint.
const INDEXES = `
SELECT n.nspname AS schema, ic.relname AS name, tc.relname AS relation,
       pg_get_indexdef(i.indexrelid) AS definition, i.indisvalid AS valid
  FROM pg_index i
  JOIN pg_class ic ON ic.oid = i.indexrelid
  JOIN pg_class tc ON tc.oid = i.indrelid
  JOIN pg_namespace n ON n.oid = ic.relnamespace
 WHERE ${inSchemas("n.nspname")}
   AND NOT EXISTS (SELECT 1 FROM pg_constraint co
                    WHERE co.conindid = i.indexrelid AND co.conrelid = i.indrelid AND co.contype IN ('p', 'u', 'x'))
   AND ${notExtensionMember("pg_class", "tc.oid")}`

const POLICIES = `
SELECT n.nspname AS schema, c.relname AS relation, p.polname AS name, p.polcmd::text AS command,
       p.polpermissive AS permissive,
       (SELECT string_agg(r.role, ', ' ORDER BY r.role)
          FROM (SELECT CASE WHEN x = 0 THEN 'public' ELSE quote_ident(pg_get_userbyid(x)) END AS role
                  FROM unnest(p.polroles) AS u(x)) r) AS roles,
       pg_get_expr(p.polqual, p.polrelid) AS using_expr,
       pg_get_expr(p.polwithcheck, p.polrelid) AS check_expr
  FROM pg_policy p
  JOIN pg_class c ON c.oid = p.polrelid
  JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE ${inSchemas("n.nspname")}`

const TYPES = `
SELECT n.nspname AS schema, t.typname AS name, t.typtype::text AS kind,
       CASE t.typtype
         WHEN 'e' THEN (SELECT string_agg(quote_literal(e.enumlabel), ', ' ORDER BY e.enumsortorder)
                          FROM pg_enum e WHERE e.enumtypid = t.oid)
         WHEN 'd' THEN format_type(t.typbasetype, t.typtypmod)
                       || CASE WHEN t.typcollation <> 0 AND t.typcollation <> bt.typcollation
                               THEN ' COLLATE ' || (SELECT quote_ident(co.collname) FROM pg_collation co WHERE co.oid = t.typcollation)
                               ELSE '' END
                       || CASE WHEN t.typnotnull THEN ' NOT NULL' ELSE '' END
                       || COALESCE(' DEFAULT ' || COALESCE(pg_get_expr(t.typdefaultbin, 0), t.typdefault), '')
                       || COALESCE((SELECT ' ' || string_agg('CONSTRAINT ' || quote_ident(co.conname) || ' ' || pg_get_constraintdef(co.oid), ' ' ORDER BY co.conname)
                                      FROM pg_constraint co WHERE co.contypid = t.oid AND co.contype <> 'n'), '')
         WHEN 'c' THEN (SELECT string_agg(quote_ident(a.attname) || ' ' || format_type(a.atttypid, a.atttypmod), ', ' ORDER BY a.attnum)
                          FROM pg_attribute a WHERE a.attrelid = t.typrelid AND a.attnum > 0 AND NOT a.attisdropped)
         WHEN 'r' THEN (SELECT 'subtype ' || format_type(r.rngsubtype, NULL) FROM pg_range r WHERE r.rngtypid = t.oid)
       END AS definition
  FROM pg_type t
  JOIN pg_namespace n ON n.oid = t.typnamespace
  LEFT JOIN pg_type bt ON bt.oid = t.typbasetype
 WHERE ${inSchemas("n.nspname")}
   AND (t.typtype IN ('e', 'd', 'r')
        OR (t.typtype = 'c' AND EXISTS (SELECT 1 FROM pg_class c WHERE c.oid = t.typrelid AND c.relkind = 'c')))
   AND ${notExtensionMember("pg_type", "t.oid")}`

const SEQUENCES = `
SELECT n.nspname AS schema, c.relname AS name, format_type(s.seqtypid, NULL) AS type,
       s.seqstart::text AS start, s.seqincrement::text AS increment, s.seqmin::text AS min,
       s.seqmax::text AS max, s.seqcache::text AS cache, s.seqcycle AS cycle,
       owner.relation AS owner_relation, owner.description AS owned_by
  FROM pg_sequence s
  JOIN pg_class c ON c.oid = s.seqrelid
  JOIN pg_namespace n ON n.oid = c.relnamespace
  LEFT JOIN LATERAL (
    SELECT oc.relname AS relation,
           CASE d.deptype WHEN 'i' THEN 'IDENTITY OF ' ELSE 'OWNED BY ' END
             || quote_ident(on_.nspname) || '.' || quote_ident(oc.relname) || '.' || quote_ident(a.attname) AS description
      FROM pg_depend d
      JOIN pg_class oc ON oc.oid = d.refobjid
      JOIN pg_namespace on_ ON on_.oid = oc.relnamespace
      JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
     WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
       AND d.refclassid = 'pg_class'::regclass AND d.refobjsubid > 0 AND d.deptype IN ('a', 'i')
     LIMIT 1
  ) owner ON true
 WHERE ${inSchemas("n.nspname")}
   AND ${notExtensionMember("pg_class", "c.oid")}`

// Aggregates have no pg_get_functiondef; plain functions and procedures do.
const FUNCTIONS = `
SELECT n.nspname AS schema, p.proname AS name, p.prokind::text AS kind,
       oidvectortypes(p.proargtypes) AS arguments, pg_get_functiondef(p.oid) AS definition
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE ${inSchemas("n.nspname")}
   AND p.prokind IN ('f', 'p')
   AND ${notExtensionMember("pg_proc", "p.oid")}`

// Internal triggers implement foreign keys and deferrable constraints, compared as constraints.
const TRIGGERS = `
SELECT n.nspname AS schema, c.relname AS relation, t.tgname AS name,
       pg_get_triggerdef(t.oid) AS definition, t.tgenabled::text AS enabled
  FROM pg_trigger t
  JOIN pg_class c ON c.oid = t.tgrelid
  JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE ${inSchemas("n.nspname")}
   AND NOT t.tgisinternal
   AND ${notExtensionMember("pg_class", "c.oid")}`

/**
 * Session settings the deparsed definitions depend on, fixed for the snapshot's transaction:
 * with only pg_catalog on the search_path every other object comes out schema-qualified, and
 * constants (partition bounds, defaults) print the same whatever the time zone or date style.
 */
const SETTINGS: ReadonlyArray<readonly [string, string]> = [
  ["search_path", "pg_catalog"],
  ["TimeZone", "UTC"],
  ["DateStyle", "ISO, MDY"],
  ["IntervalStyle", "postgres"],
  ["extra_float_digits", "1"],
  ["quote_all_identifiers", "off"]
]

type Row = Record<string, unknown>

const str = (value: unknown): string => (value === null || value === undefined ? "" : String(value))
const opt = (value: unknown): string | undefined =>
  value === null || value === undefined || value === "" ? undefined : String(value)

const relationKinds: Record<string, string> = { r: "table", p: "table", v: "view", m: "materialized view" }
const policyCommands: Record<string, string> = { r: "SELECT", a: "INSERT", w: "UPDATE", d: "DELETE", "*": "ALL" }
const typeKinds: Record<string, string> = { e: "enum", d: "domain", c: "type", r: "range" }
const triggerStates: Record<string, string> = { D: " DISABLED", R: " ENABLE REPLICA", A: " ENABLE ALWAYS" }

const columnDefinition = (r: Row): string => {
  const parts = [str(r.type)]
  const collation = opt(r.collation)
  if (collation) parts.push(`COLLATE ${collation}`)
  if (r.not_null === true) parts.push("NOT NULL")
  const expr = opt(r.default_expr)
  const generated = str(r.generated)
  if (generated === "s" || generated === "v") {
    parts.push(`GENERATED ALWAYS AS (${expr ?? ""}) ${generated === "s" ? "STORED" : "VIRTUAL"}`)
  } else if (expr !== undefined) {
    parts.push(`DEFAULT ${expr}`)
  }
  const identity = str(r.identity)
  if (identity === "a") parts.push("GENERATED ALWAYS AS IDENTITY")
  if (identity === "d") parts.push("GENERATED BY DEFAULT AS IDENTITY")
  return parts.join(" ")
}

const tableDefinition = (r: Row): string => {
  const parts = [r.persistence === "u" ? "unlogged table" : "table"]
  const partitionKey = opt(r.partition_key)
  if (partitionKey) parts.push(`PARTITION BY ${partitionKey}`)
  const partitionOf = opt(r.partition_of)
  if (partitionOf) parts.push(`PARTITION OF ${partitionOf}`)
  return parts.join(" ")
}

const policyDefinition = (r: Row): string => {
  const parts = [
    r.permissive === false ? "AS RESTRICTIVE" : "AS PERMISSIVE",
    `FOR ${policyCommands[str(r.command)] ?? str(r.command)}`,
    `TO ${opt(r.roles) ?? "public"}`
  ]
  const using = opt(r.using_expr)
  if (using) parts.push(`USING (${using})`)
  const check = opt(r.check_expr)
  if (check) parts.push(`WITH CHECK (${check})`)
  return parts.join(" ")
}

const sequenceDefinition = (r: Row): string =>
  [
    str(r.type),
    `START ${str(r.start)}`,
    `INCREMENT ${str(r.increment)}`,
    `MINVALUE ${str(r.min)}`,
    `MAXVALUE ${str(r.max)}`,
    `CACHE ${str(r.cache)}`,
    ...(r.cycle === true ? ["CYCLE"] : []),
    ...(opt(r.owned_by) ? [str(r.owned_by)] : [])
  ].join(" ")

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
