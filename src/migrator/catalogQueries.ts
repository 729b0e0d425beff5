/**
 * The catalog queries a snapshot runs (one per kind of object, extension members and dbkit's own
 * bookkeeping left out) and the session settings they are run under.
 */

/** dbkit's own history: the `dbkit` schema, and the `dbkit_migrations` table of schema-targeted runs. */
export const HISTORY_SCHEMA = "dbkit"
const HISTORY_TABLE = "dbkit_migrations"

/**
 * Other migrators' history, which a database adopted from them keeps and no replay creates:
 * drizzle-orm's `drizzle.__drizzle_migrations` (and its `drizzle` schema when nothing else is in
 * it) and @effect/sql's `effect_sql_migrations`.
 */
export const FOREIGN_HISTORY_SCHEMA = "drizzle"
export const isBookkeeping = (schema: unknown, relation: unknown): boolean =>
  relation === HISTORY_TABLE || relation === "effect_sql_migrations" ||
  (schema === FOREIGN_HISTORY_SCHEMA && relation === "__drizzle_migrations")

/** `pg_depend` says the object belongs to an extension. */
const notExtensionMember = (catalog: string, oid: string) =>
  `NOT EXISTS (SELECT 1 FROM pg_depend dep WHERE dep.classid = '${catalog}'::regclass AND dep.objid = ${oid} AND dep.deptype = 'e')`

const inSchemas = (column: string) => `${column} = ANY($1::text[])`

export const SCHEMAS = `
SELECT n.nspname AS name
  FROM pg_namespace n
 WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
   AND n.nspname NOT LIKE 'pg\\_toast%'
   AND n.nspname NOT LIKE 'pg\\_temp%'
   AND ${notExtensionMember("pg_namespace", "n.oid")}`

export const EXTENSIONS = `
SELECT e.extname AS name, n.nspname AS schema, e.extversion AS version
  FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
 WHERE ${inSchemas("n.nspname")}`

export const RELATIONS = `
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

export const COLUMNS = `
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
export const CONSTRAINTS = `
SELECT n.nspname AS schema, c.relname AS relation, co.conname AS name, pg_get_constraintdef(co.oid) AS definition
  FROM pg_constraint co
  JOIN pg_class c ON c.oid = co.conrelid
  JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE ${inSchemas("n.nspname")}
   AND co.contype <> 'n'
   AND ${notExtensionMember("pg_class", "c.oid")}`

// Indexes that implement a primary key, unique or exclusion constraint are that constraint.
export const INDEXES = `
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

export const POLICIES = `
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

export const TYPES = `
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

export const SEQUENCES = `
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
export const FUNCTIONS = `
SELECT n.nspname AS schema, p.proname AS name, p.prokind::text AS kind,
       oidvectortypes(p.proargtypes) AS arguments, pg_get_functiondef(p.oid) AS definition
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE ${inSchemas("n.nspname")}
   AND p.prokind IN ('f', 'p')
   AND ${notExtensionMember("pg_proc", "p.oid")}`

// Internal triggers implement foreign keys and deferrable constraints, compared as constraints.
export const TRIGGERS = `
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
export const SETTINGS: ReadonlyArray<readonly [string, string]> = [
  ["search_path", "pg_catalog"],
  ["TimeZone", "UTC"],
  ["DateStyle", "ISO, MDY"],
  ["IntervalStyle", "postgres"],
  ["extra_float_digits", "1"],
  ["quote_all_identifiers", "off"]
]
