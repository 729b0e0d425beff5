// DumpPolicy: what dbkit's reader lets through from a dump — the statements pg_dump 13–18 writes —
// and what it refuses, statement by statement (the hostile-file corpus runs whole files through
// every command in backup-untrusted.test.ts).
import { describe, expect, it } from "@effect/vitest"
import { refusal } from "../src/DumpPolicy.js"
import { type DumpItem, DumpSplitter } from "../src/embedded/PlainDump.js"

const items = (script: string): Array<DumpItem> => {
  const splitter = new DumpSplitter()
  return [...splitter.push(script), ...splitter.end()].filter((item) =>
    item._tag !== "CopyData" && item._tag !== "CopyEnd"
  )
}

const accepted = [
  "SET statement_timeout = 0;",
  "SET transaction_timeout = 0;",
  "SET standard_conforming_strings = on;",
  "SELECT pg_catalog.set_config('search_path', '', false);",
  "SELECT pg_catalog.setval('public.\"Odd Seq\"', 42, true);",
  "SELECT pg_catalog.lo_create('16384');",
  "SELECT pg_catalog.lo_open('16384', 131072);",
  "SELECT pg_catalog.lowrite(0, '\\x68656c6c6f');",
  "SELECT pg_catalog.lo_close(0);",
  "BEGIN;",
  "COMMIT;",
  "CREATE SCHEMA app;",
  "CREATE EXTENSION IF NOT EXISTS pgcrypto WITH SCHEMA public;",
  "COMMENT ON TABLE public.t IS 'Copy to ''archive'' daily; see \\! nothing';",
  "CREATE TABLE public.t (id integer DEFAULT nextval('public.t_id_seq'::regclass) NOT NULL, note text DEFAULT 'copy to ''x''');",
  "CREATE FUNCTION public.touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.at := now(); RETURN NEW; END $$;",
  "CREATE FUNCTION public.add(a integer, b integer) RETURNS integer LANGUAGE sql IMMUTABLE BEGIN ATOMIC SELECT (a + b); END;",
  "CREATE VIEW public.v AS SELECT t.id FROM public.t;",
  "ALTER TABLE ONLY public.t ADD CONSTRAINT t_pkey PRIMARY KEY (id);",
  "ALTER TABLE public.t OWNER TO app;",
  "ALTER TABLE public.t ENABLE ROW LEVEL SECURITY;",
  "CREATE POLICY p ON public.t USING ((tenant_id = (current_setting('app.tenant_id'::text, true))::uuid));",
  "GRANT SELECT ON TABLE public.t TO app;",
  "REVOKE ALL ON SCHEMA public FROM PUBLIC;",
  "ALTER DEFAULT PRIVILEGES IN SCHEMA app GRANT SELECT ON TABLES TO reader;",
  "CREATE SUBSCRIPTION s CONNECTION 'host=x' PUBLICATION p WITH (connect = false, slot_name = 's');",
  "INSERT INTO public.t VALUES (1, 'a'), (2, 'copy to ''y''');",
  "REFRESH MATERIALIZED VIEW public.mv;",
  "SECURITY LABEL FOR selinux ON TABLE public.t IS 'system_u';",
  // pg_dump 18: planner statistics
  "SELECT * FROM pg_catalog.pg_restore_relation_stats(\n\t'version', '180000'::integer,\n\t'schemaname', 'public',\n\t'relname', 't',\n\t'relpages', '1'::integer,\n\t'reltuples', '3'::real,\n\t'relallvisible', '0'::integer\n);",
  "SELECT * FROM pg_catalog.pg_restore_attribute_stats(\n\t'version', '180000'::integer,\n\t'schemaname', 'public',\n\t'relname', 't',\n\t'attname', 'id',\n\t'inherited', 'f'::boolean,\n\t'null_frac', '0'::real,\n\t'most_common_freqs', '{0.5,0.5}'::real[],\n\t'correlation', NULL\n);",
  "\\restrict 1ZiXvoleUW3ZYMJJhlCvsSM8YfTYfn4Wo",
  "\\unrestrict 1ZiXvoleUW3ZYMJJhlCvsSM8YfTYfn4Wo",
  "COPY public.t (id, note) FROM stdin;\n\\.\n"
]

const refused: ReadonlyArray<readonly [string, RegExp]> = [
  ["\\! touch /tmp/x", /meta-command \\! /],
  ["\\connect postgres", /\\connect switches to another database/],
  ["\\o /tmp/out", /meta-command \\o /],
  ["SELECT 1 \\g |cat", /inside a statement/],
  ["\\restrict $(reboot)", /an argument pg_dump never writes/],
  ["COPY (SELECT 1) TO PROGRAM 'id';", /COPY other than FROM stdin reaches outside the database/],
  ["COPY public.t FROM '/etc/passwd';", /COPY other than FROM stdin/],
  ["COPY public.t FROM stdin WHERE (public.f(id));\n\\.\n", /options or a WHERE clause/],
  [
    "CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $$ BEGIN EXECUTE 'COPY (SELECT 1) TO PROGRAM ''id'''; RETURN 1; END $$;",
    /PROGRAM runs a program/
  ],
  ["CREATE FUNCTION f() RETURNS text LANGUAGE sql AS $$ SELECT pg_read_file('/etc/passwd') $$;", /server's files/],
  ["CREATE VIEW v AS SELECT dblink_exec('dbname=other', 'DROP TABLE t');", /dblink reaches other databases/],
  ["CREATE FOREIGN TABLE ft (l text) SERVER files OPTIONS (program 'id');", /foreign table that reads a program/],
  ["ALTER ROLE app SUPERUSER;", /cluster-wide/],
  ["CREATE ROLE x SUPERUSER;", /cluster-wide/],
  ["DROP DATABASE other;", /cluster-wide/],
  ["ALTER SYSTEM SET shared_preload_libraries = 'x';", /cluster-wide/],
  ["GRANT pg_execute_server_program TO app;", /granting a role is cluster-wide/],
  ["SELECT pg_terminate_backend(42);", /a SELECT other than pg_dump's/],
  ["SELECT pg_catalog.setval('s', (SELECT 1), true);", /a SELECT other than pg_dump's/],
  ["DO $$ BEGIN PERFORM 1; END $$;", /DO is not a statement pg_dump writes/],
  ["CALL p();", /CALL is not a statement pg_dump writes/],
  ["LOAD 'x';", /LOAD is not a statement pg_dump writes/],
  ["ROLLBACK;", /ROLLBACK is not a statement pg_dump writes/],
  ["SET standard_conforming_strings = off;", /always writes standard_conforming_strings = on/],
  ["CREATE SUBSCRIPTION s CONNECTION 'host=x' PUBLICATION p;", /connects to another server/],
  ["INSERT INTO public.t VALUES (1, dblink_exec('x', 'y'));", /dblink/]
]

describe("DumpPolicy", () => {
  it("lets through what pg_dump 13–18 writes, comments and strings that merely mention COPY or \\! included", () => {
    for (const text of accepted) {
      for (const item of items(text)) expect([text, refusal(item)]).toEqual([text, undefined])
    }
  })

  it("refuses meta-commands, programs, server files, other databases, cluster-wide state and statements pg_dump never writes", () => {
    for (const [text, reason] of refused) {
      const reasons = items(text).map(refusal).filter((r): r is string => r !== undefined)
      expect([text, reasons.length > 0]).toEqual([text, true])
      expect(reasons[0]).toMatch(reason)
    }
  })
})
