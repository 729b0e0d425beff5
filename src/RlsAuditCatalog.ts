/**
 * The catalog reads of the RLS audit (RlsAudit.ts): tenant tables, their policies, the
 * application roles' attributes, ownership and grants, foreign keys, sequences and SECURITY
 * DEFINER functions. Each is one query; names come back as text, lists as JSON (the same on the
 * server and on PGlite).
 */
import type { SqlError } from "@effect/sql/SqlError"
import * as Effect from "effect/Effect"
import type { CatalogQuery } from "./RlsAuditPolicies.js"

/** $1 the tenant column, $2 the schemas as a JSON array (NULL: every user schema). */
const SCOPE = `WITH scanned AS (
  SELECT n.oid, n.nspname FROM pg_namespace n
   WHERE CASE WHEN $2::jsonb IS NULL
     THEN n.nspname NOT IN ('pg_catalog', 'information_schema', 'dbkit') AND n.nspname NOT LIKE 'pg\\_%'
     ELSE n.nspname IN (SELECT jsonb_array_elements_text($2::jsonb)) END
), tenant_tables AS (
  SELECT c.oid, s.nspname::text AS schema, c.relname::text AS name, c.relrowsecurity AS enabled,
         c.relforcerowsecurity AS forced, c.relowner, a.attnum AS tenant_attnum,
         NOT a.attnotnull AS tenant_nullable, format_type(a.atttypid, a.atttypmod) AS tenant_type
    FROM pg_class c
    JOIN scanned s ON s.oid = c.relnamespace
    JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = $1::text AND a.attnum > 0 AND NOT a.attisdropped
   WHERE c.relkind IN ('r', 'p')
)
`

/** A list the server sent as JSON (a parsed value, or its text). */
const list = (value: unknown): ReadonlyArray<string> =>
  (typeof value === "string" ? JSON.parse(value) : value ?? []) as ReadonlyArray<string>

export interface TableRow {
  readonly schema: string
  readonly name: string
  readonly enabled: boolean
  readonly forced: boolean
  readonly owner: string
}

export interface PolicyRow {
  readonly schema: string
  readonly table: string
  readonly tenantType: string
  readonly policy: string
  readonly permissive: boolean
  /** Role names; `public` for PUBLIC. */
  readonly roles: ReadonlyArray<string>
  readonly using: string | null
  readonly check: string | null
}

const COMMANDS = `(VALUES ('SELECT', 'r'), ('INSERT', 'a'), ('UPDATE', 'w'), ('DELETE', 'd')) AS cmd(name, code)`

/** The audit's reads over one scope. */
export const catalog = (query: CatalogQuery, tenantColumn: string, schemas: ReadonlyArray<string> | null) => {
  const scope = [tenantColumn, schemas === null ? null : JSON.stringify(schemas)]
  const scoped = <A extends object>(text: string, roles?: ReadonlyArray<string>) =>
    query<A>(SCOPE + text, roles === undefined ? scope : [...scope, JSON.stringify(roles)])
  const forRoles = <A extends object>(roles: ReadonlyArray<string>, text: string) =>
    roles.length === 0 ? Effect.succeed<ReadonlyArray<A>>([]) : scoped<A>(text, roles)
  return {
    tables: scoped<TableRow>(
      `SELECT schema, name, enabled, forced, pg_get_userbyid(relowner)::text AS owner FROM tenant_tables ORDER BY 1, 2`
    ),
    policies: Effect.map(
      scoped<Omit<PolicyRow, "roles"> & { roles: unknown }>(
        `SELECT t.schema, t.name AS "table", t.tenant_type AS "tenantType", p.polname::text AS policy,
                p.polpermissive AS permissive,
                (SELECT coalesce(jsonb_agg(CASE WHEN r = 0 THEN 'public' ELSE pg_get_userbyid(r)::text END), '[]'::jsonb)
                   FROM unnest(p.polroles) AS r) AS roles,
                pg_get_expr(p.polqual, p.polrelid) AS using, pg_get_expr(p.polwithcheck, p.polrelid) AS "check"
           FROM tenant_tables t JOIN pg_policy p ON p.polrelid = t.oid ORDER BY 1, 2, 4`
      ),
      (rows): ReadonlyArray<PolicyRow> => rows.map((r) => ({ ...r, roles: list(r.roles) }))
    ),
    /** Those of `names` that exist, with their attributes. */
    roles: (names: ReadonlyArray<string>) =>
      names.length === 0
        ? Effect.succeed<ReadonlyArray<{ role: string; superuser: boolean; bypass: boolean }>>([])
        : query<{ role: string; superuser: boolean; bypass: boolean }>(
          `SELECT rolname::text AS role, rolsuper AS superuser, rolbypassrls AS bypass FROM pg_roles
            WHERE rolname IN (SELECT jsonb_array_elements_text($1::jsonb)) ORDER BY 1`,
          [JSON.stringify(names)]
        ),
    /** Tenant tables each role owns, directly or as a member of the owner. */
    ownership: (roles: ReadonlyArray<string>) =>
      forRoles<{ role: string; owner: string; schema: string; name: string; forced: boolean }>(
        roles,
        `SELECT r.role, pg_get_userbyid(t.relowner)::text AS owner, t.schema, t.name, t.forced
           FROM tenant_tables t CROSS JOIN jsonb_array_elements_text($3::jsonb) AS r(role)
          WHERE pg_has_role(r.role, t.relowner, 'USAGE') ORDER BY 3, 4, 1`
      ),
    /** Commands a role is granted on an RLS tenant table that no permissive policy of its covers. */
    uncoveredCommands: (roles: ReadonlyArray<string>) =>
      forRoles<{ role: string; schema: string; name: string; command: string }>(
        roles,
        `SELECT r.role, t.schema, t.name, cmd.name AS command
           FROM tenant_tables t CROSS JOIN jsonb_array_elements_text($3::jsonb) AS r(role) CROSS JOIN ${COMMANDS}
          WHERE t.enabled AND has_table_privilege(r.role, t.oid, cmd.name)
            AND NOT EXISTS (
              SELECT 1 FROM pg_policy p
               WHERE p.polrelid = t.oid AND p.polpermissive AND p.polcmd::text IN ('*', cmd.code)
                 AND (0 = ANY (p.polroles)
                      OR EXISTS (SELECT 1 FROM unnest(p.polroles) AS pr WHERE pg_has_role(r.role, pr, 'MEMBER'))))
          ORDER BY 2, 3, 1`
      ),
    /** Keys between tenant tables without the tenant column on both sides (not onto shared rows). */
    foreignKeys: scoped<
      { constraint: string; schema: string; table: string; refSchema: string; refTable: string; columns: string }
    >(
      `SELECT con.conname::text AS "constraint", src.schema, src.name AS "table", dst.schema AS "refSchema",
              dst.name AS "refTable",
              (SELECT string_agg(a.attname::text, ', ' ORDER BY k.i)
                 FROM unnest(con.conkey) WITH ORDINALITY AS k(n, i)
                 JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.n) AS columns
         FROM pg_constraint con
         JOIN tenant_tables src ON src.oid = con.conrelid
         JOIN tenant_tables dst ON dst.oid = con.confrelid
        WHERE con.contype = 'f' AND NOT dst.tenant_nullable
          AND NOT EXISTS (SELECT 1 FROM unnest(con.conkey, con.confkey) AS k(a, b)
                           WHERE k.a = src.tenant_attnum AND k.b = dst.tenant_attnum)
        ORDER BY 2, 3, 1`
    ),
    /** Sequences of tenant tables (serial, identity, OWNED BY) a role holds a privilege on. */
    sequences: (roles: ReadonlyArray<string>) =>
      forRoles<
        {
          schema: string
          name: string
          tableSchema: string
          table: string
          role: string
          privileges: string
          identity: boolean
        }
      >(
        roles,
        `SELECT * FROM (
           SELECT sn.nspname::text AS schema, s.relname::text AS name, t.schema AS "tableSchema", t.name AS "table",
                  r.role, d.deptype = 'i' AS identity,
                  concat_ws(', ',
                    CASE WHEN has_sequence_privilege(r.role, s.oid, 'USAGE') THEN 'USAGE' END,
                    CASE WHEN has_sequence_privilege(r.role, s.oid, 'SELECT') THEN 'SELECT' END,
                    CASE WHEN has_sequence_privilege(r.role, s.oid, 'UPDATE') THEN 'UPDATE' END) AS privileges
             FROM tenant_tables t
             JOIN pg_depend d ON d.refclassid = 'pg_class'::regclass AND d.refobjid = t.oid
                             AND d.classid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
             JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S'
             JOIN pg_namespace sn ON sn.oid = s.relnamespace
             CROSS JOIN jsonb_array_elements_text($3::jsonb) AS r(role)) x
          WHERE privileges <> '' ORDER BY 1, 2, 5`
      ),
    securityDefiners: scoped<{ schema: string; name: string; args: string }>(
      `SELECT s.nspname::text AS schema, p.proname::text AS name, pg_get_function_identity_arguments(p.oid) AS args
         FROM pg_proc p JOIN scanned s ON s.oid = p.pronamespace
        WHERE p.prosecdef
          AND NOT EXISTS (SELECT 1 FROM unnest(coalesce(p.proconfig, '{}'::text[])) AS c(setting)
                           WHERE c.setting LIKE 'search\\_path=%')
          AND NOT EXISTS (SELECT 1 FROM pg_depend d
                           WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')
        ORDER BY 1, 2, 3`
    )
  } satisfies Record<string, Effect.Effect<unknown, SqlError> | ((roles: ReadonlyArray<string>) => unknown)>
}
