-- Tenant-safe keys, step 2 of 2 (issue 19): validate the composite keys 0005 added NOT VALID, then
-- drop the single-column keys they replace. One transaction: VALIDATE scans under SHARE UPDATE
-- EXCLUSIVE (reads and writes go on); the drops take ACCESS EXCLUSIVE only for the moment before
-- COMMIT. A row that references another tenant's row fails VALIDATE with a foreign-key violation
-- naming the constraint, and the whole migration rolls back: fix or delete those rows, run again.
ALTER TABLE "user_roles" VALIDATE CONSTRAINT "user_roles_tenant_id_user_id_fk";--> statement-breakpoint
ALTER TABLE "accounts" VALIDATE CONSTRAINT "accounts_tenant_id_parent_id_fk";--> statement-breakpoint
ALTER TABLE "invoices" VALIDATE CONSTRAINT "invoices_tenant_id_customer_id_fk";--> statement-breakpoint
ALTER TABLE "invoice_lines" VALIDATE CONSTRAINT "invoice_lines_tenant_id_invoice_id_fk";--> statement-breakpoint
ALTER TABLE "invoice_lines" VALIDATE CONSTRAINT "invoice_lines_tenant_id_account_id_fk";--> statement-breakpoint
ALTER TABLE "payments" VALIDATE CONSTRAINT "payments_tenant_id_invoice_id_fk";--> statement-breakpoint
ALTER TABLE "user_roles" DROP CONSTRAINT "user_roles_user_id_users_id_fk";--> statement-breakpoint
ALTER TABLE "accounts" DROP CONSTRAINT "accounts_parent_id_accounts_id_fk";--> statement-breakpoint
ALTER TABLE "invoices" DROP CONSTRAINT "invoices_customer_id_customers_id_fk";--> statement-breakpoint
ALTER TABLE "invoice_lines" DROP CONSTRAINT "invoice_lines_invoice_id_invoices_id_fk";--> statement-breakpoint
ALTER TABLE "invoice_lines" DROP CONSTRAINT "invoice_lines_account_id_accounts_id_fk";--> statement-breakpoint
ALTER TABLE "payments" DROP CONSTRAINT "payments_invoice_id_invoices_id_fk";
