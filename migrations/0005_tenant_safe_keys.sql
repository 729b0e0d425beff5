-- Tenant-safe keys, step 1 of 2 (issue 19). Foreign-key checks ignore row-level security, so with
-- single-column keys an invoice of tenant A could reference tenant B's customer (and then B could
-- no longer delete it). Each referenced tenant table gets UNIQUE (tenant_id, id), and each
-- reference between tenant tables a composite (tenant_id, x_id) key onto it, so a row can only
-- reference a row of its own tenant. Online-safe: the unique indexes are built CONCURRENTLY (which
-- makes dbkit run this file outside a transaction, one statement at a time) and attached with
-- USING INDEX; the new keys are added NOT VALID, so nothing scans existing rows here. Migration
-- 0006 validates them and drops the old single-column keys (ON DELETE behaviour is unchanged).
CREATE UNIQUE INDEX CONCURRENTLY "users_tenant_id_id_unique" ON "users" USING btree ("tenant_id","id");--> statement-breakpoint
ALTER TABLE "users" ADD CONSTRAINT "users_tenant_id_id_unique" UNIQUE USING INDEX "users_tenant_id_id_unique";--> statement-breakpoint
CREATE UNIQUE INDEX CONCURRENTLY "customers_tenant_id_id_unique" ON "customers" USING btree ("tenant_id","id");--> statement-breakpoint
ALTER TABLE "customers" ADD CONSTRAINT "customers_tenant_id_id_unique" UNIQUE USING INDEX "customers_tenant_id_id_unique";--> statement-breakpoint
CREATE UNIQUE INDEX CONCURRENTLY "accounts_tenant_id_id_unique" ON "accounts" USING btree ("tenant_id","id");--> statement-breakpoint
ALTER TABLE "accounts" ADD CONSTRAINT "accounts_tenant_id_id_unique" UNIQUE USING INDEX "accounts_tenant_id_id_unique";--> statement-breakpoint
CREATE UNIQUE INDEX CONCURRENTLY "invoices_tenant_id_id_unique" ON "invoices" USING btree ("tenant_id","id");--> statement-breakpoint
ALTER TABLE "invoices" ADD CONSTRAINT "invoices_tenant_id_id_unique" UNIQUE USING INDEX "invoices_tenant_id_id_unique";--> statement-breakpoint
ALTER TABLE "user_roles" ADD CONSTRAINT "user_roles_tenant_id_user_id_fk" FOREIGN KEY ("tenant_id","user_id") REFERENCES "public"."users"("tenant_id","id") ON DELETE cascade ON UPDATE no action NOT VALID;--> statement-breakpoint
ALTER TABLE "accounts" ADD CONSTRAINT "accounts_tenant_id_parent_id_fk" FOREIGN KEY ("tenant_id","parent_id") REFERENCES "public"."accounts"("tenant_id","id") ON DELETE restrict ON UPDATE no action NOT VALID;--> statement-breakpoint
ALTER TABLE "invoices" ADD CONSTRAINT "invoices_tenant_id_customer_id_fk" FOREIGN KEY ("tenant_id","customer_id") REFERENCES "public"."customers"("tenant_id","id") ON DELETE restrict ON UPDATE no action NOT VALID;--> statement-breakpoint
ALTER TABLE "invoice_lines" ADD CONSTRAINT "invoice_lines_tenant_id_invoice_id_fk" FOREIGN KEY ("tenant_id","invoice_id") REFERENCES "public"."invoices"("tenant_id","id") ON DELETE cascade ON UPDATE no action NOT VALID;--> statement-breakpoint
ALTER TABLE "invoice_lines" ADD CONSTRAINT "invoice_lines_tenant_id_account_id_fk" FOREIGN KEY ("tenant_id","account_id") REFERENCES "public"."accounts"("tenant_id","id") ON DELETE restrict ON UPDATE no action NOT VALID;--> statement-breakpoint
ALTER TABLE "payments" ADD CONSTRAINT "payments_tenant_id_invoice_id_fk" FOREIGN KEY ("tenant_id","invoice_id") REFERENCES "public"."invoices"("tenant_id","id") ON DELETE restrict ON UPDATE no action NOT VALID;
