-- The tenant is what this transaction set, never what a session left behind (issue 19). Behind a
-- transaction pooler (PgBouncer's pool_mode=transaction), a client's session-level
-- `SET app.tenant_id` stays on the server connection and would reach the next client's queries.
-- withTenant sets the tenant with set_config(..., true) and stamps it, in the same statement,
-- with the transaction's start (`app.tenant_id_xact` = EXTRACT(epoch FROM now())); the policies
-- read the tenant through app_current_tenant(), which is NULL unless the stamp is this
-- transaction's. An unset, empty or leaked setting therefore sees and writes nothing.
-- ALTER POLICY takes a brief ACCESS EXCLUSIVE lock on each table; nothing is rewritten.
CREATE OR REPLACE FUNCTION "public"."app_current_tenant"() RETURNS uuid
  LANGUAGE sql STABLE PARALLEL SAFE
  AS $$ SELECT CASE WHEN pg_catalog.current_setting('app.tenant_id_xact', true) = (EXTRACT(epoch FROM pg_catalog.now()))::text
                    THEN nullif(pg_catalog.current_setting('app.tenant_id', true), '')::uuid END $$;--> statement-breakpoint
ALTER POLICY "tenant_isolation" ON "accounts" TO dbkit_app USING (tenant_id = app_current_tenant()) WITH CHECK (tenant_id = app_current_tenant());--> statement-breakpoint
ALTER POLICY "tenant_isolation" ON "customers" TO dbkit_app USING (tenant_id = app_current_tenant()) WITH CHECK (tenant_id = app_current_tenant());--> statement-breakpoint
ALTER POLICY "tenant_isolation" ON "invoice_lines" TO dbkit_app USING (tenant_id = app_current_tenant()) WITH CHECK (tenant_id = app_current_tenant());--> statement-breakpoint
ALTER POLICY "tenant_isolation" ON "invoices" TO dbkit_app USING (tenant_id = app_current_tenant()) WITH CHECK (tenant_id = app_current_tenant());--> statement-breakpoint
ALTER POLICY "tenant_isolation" ON "payments" TO dbkit_app USING (tenant_id = app_current_tenant()) WITH CHECK (tenant_id = app_current_tenant());--> statement-breakpoint
ALTER POLICY "tenant_isolation" ON "audit_log" TO dbkit_app USING (tenant_id = app_current_tenant()) WITH CHECK (tenant_id = app_current_tenant());--> statement-breakpoint
ALTER POLICY "tenant_isolation" ON "role_permissions" TO dbkit_app USING (exists (select 1 from roles r where r.id = role_id and r.tenant_id = app_current_tenant())) WITH CHECK (exists (select 1 from roles r where r.id = role_id and r.tenant_id = app_current_tenant()));--> statement-breakpoint
ALTER POLICY "roles_visible" ON "roles" TO dbkit_app USING (tenant_id is null or tenant_id = app_current_tenant());--> statement-breakpoint
ALTER POLICY "tenant_isolation" ON "roles" TO dbkit_app USING (tenant_id = app_current_tenant()) WITH CHECK (tenant_id = app_current_tenant());--> statement-breakpoint
ALTER POLICY "tenant_isolation" ON "user_roles" TO dbkit_app USING (tenant_id = app_current_tenant()) WITH CHECK (tenant_id = app_current_tenant());--> statement-breakpoint
ALTER POLICY "tenant_isolation" ON "users" TO dbkit_app USING (tenant_id = app_current_tenant()) WITH CHECK (tenant_id = app_current_tenant());--> statement-breakpoint
ALTER POLICY "tenant_self" ON "organizations" TO dbkit_app USING (id = app_current_tenant());--> statement-breakpoint
-- The one sequence of a tenant table (audit_log's identity) is shared by every tenant: the app
-- role needs no grant on it to insert (an identity column draws its own values), and with USAGE it
-- could call nextval() to learn how busy other tenants are. 0002 granted it with ALL SEQUENCES.
REVOKE ALL ON SEQUENCE "public"."audit_log_id_seq" FROM dbkit_app;
