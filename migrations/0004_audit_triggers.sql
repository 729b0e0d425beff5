-- Audit trail: statement-level triggers record every insert, update and delete on the tenant tables
-- into audit_log (who, tenant, when, table, row key, changed columns — never the values). The actor
-- is the `app.actor` setting (set it with set_config('app.actor', …, true) per transaction), else
-- the session user. Roles that bypass RLS anyway (superusers, BYPASSRLS) may skip auditing for a
-- transaction with set_config('dbkit.audit', 'off', true), as the development seeds do; the
-- application role cannot. The application role may append to audit_log but not change it.
-- To audit another table: CREATE TRIGGER … EXECUTE FUNCTION dbkit_audit('<key columns>') three
-- times, as below, in a new migration. (OFFSET 0 keeps each row's to_jsonb from being computed once per use.)
CREATE OR REPLACE FUNCTION public.dbkit_audit_key(data jsonb, keys text[]) RETURNS text
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  AS $key$ SELECT string_agg(data ->> k, ',' ORDER BY i) FROM unnest(keys) WITH ORDINALITY AS u(k, i) $key$;
--> statement-breakpoint
CREATE OR REPLACE FUNCTION public.dbkit_audit() RETURNS trigger
  LANGUAGE plpgsql SET search_path = pg_catalog, public AS $audit$
DECLARE
  keys text[] := string_to_array(TG_ARGV[0], ',');
  who text := coalesce(nullif(current_setting('app.actor', true), ''), session_user::text);
BEGIN
  IF current_setting('dbkit.audit', true) = 'off'
     AND (SELECT r.rolsuper OR r.rolbypassrls FROM pg_roles r WHERE r.rolname = current_user) THEN
    RETURN NULL;
  END IF;
  IF TG_OP = 'INSERT' THEN
    INSERT INTO public.audit_log (tenant_id, actor, action, table_name, row_key, changed_columns)
    SELECT (n ->> 'tenant_id')::uuid, who, 'insert', TG_TABLE_NAME, dbkit_audit_key(n, keys),
           ARRAY(SELECT e.key FROM jsonb_each(n) e WHERE e.value <> 'null'::jsonb ORDER BY e.key)
      FROM (SELECT to_jsonb(t) AS n FROM audit_new t OFFSET 0) s;
  ELSIF TG_OP = 'UPDATE' THEN
    INSERT INTO public.audit_log (tenant_id, actor, action, table_name, row_key, changed_columns)
    SELECT (a.n ->> 'tenant_id')::uuid, who, 'update', TG_TABLE_NAME, a.k,
           ARRAY(SELECT e.key FROM jsonb_each(a.n) e WHERE e.value IS DISTINCT FROM b.o -> e.key ORDER BY e.key)
      FROM (SELECT n, dbkit_audit_key(n, keys) AS k FROM (SELECT to_jsonb(t) AS n FROM audit_new t OFFSET 0) r) a
      JOIN (SELECT o, dbkit_audit_key(o, keys) AS k FROM (SELECT to_jsonb(t) AS o FROM audit_old t OFFSET 0) r) b ON a.k = b.k
     WHERE a.n IS DISTINCT FROM b.o;
  ELSE
    -- Rows deleted because their tenant was deleted (ON DELETE CASCADE) are not recorded: the
    -- tenant's audit entries go with it.
    INSERT INTO public.audit_log (tenant_id, actor, action, table_name, row_key, changed_columns)
    SELECT (o ->> 'tenant_id')::uuid, who, 'delete', TG_TABLE_NAME, dbkit_audit_key(o, keys), '{}'
      FROM (SELECT to_jsonb(t) AS o FROM audit_old t OFFSET 0) s
     WHERE EXISTS (SELECT 1 FROM public.organizations org WHERE org.id = (o ->> 'tenant_id')::uuid);
  END IF;
  RETURN NULL;
END
$audit$;
--> statement-breakpoint
DO $triggers$
DECLARE
  audited text[][] := ARRAY[
    ARRAY['users', 'id'], ARRAY['user_roles', 'user_id,role_id'], ARRAY['customers', 'id'], ARRAY['accounts', 'id'],
    ARRAY['invoices', 'id'], ARRAY['invoice_lines', 'id'], ARRAY['payments', 'id']];
  i int;
BEGIN
  FOR i IN 1 .. array_length(audited, 1) LOOP
    EXECUTE format('CREATE TRIGGER audit_insert AFTER INSERT ON public.%I REFERENCING NEW TABLE AS audit_new FOR EACH STATEMENT EXECUTE FUNCTION public.dbkit_audit(%L)', audited[i][1], audited[i][2]);
    EXECUTE format('CREATE TRIGGER audit_update AFTER UPDATE ON public.%I REFERENCING OLD TABLE AS audit_old NEW TABLE AS audit_new FOR EACH STATEMENT EXECUTE FUNCTION public.dbkit_audit(%L)', audited[i][1], audited[i][2]);
    EXECUTE format('CREATE TRIGGER audit_delete AFTER DELETE ON public.%I REFERENCING OLD TABLE AS audit_old FOR EACH STATEMENT EXECUTE FUNCTION public.dbkit_audit(%L)', audited[i][1], audited[i][2]);
  END LOOP;
END
$triggers$;
--> statement-breakpoint
REVOKE UPDATE, DELETE ON TABLE public.audit_log FROM dbkit_app;
