-- Schema-per-tenant reference tables (DBKIT_TENANCY=schema): each tenant_<slug> schema gets its own ledger.
-- Applied by `dbkit tenant provision` and `dbkit tenant migrate-all`, with the history in tenant_<slug>.dbkit_migrations.
CREATE TABLE customers (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  name text NOT NULL,
  email text,
  created_at timestamptz NOT NULL DEFAULT now()
);
--> statement-breakpoint
CREATE TABLE invoices (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  customer_id uuid NOT NULL REFERENCES customers (id) ON DELETE RESTRICT,
  number text NOT NULL UNIQUE,
  issued_on date NOT NULL DEFAULT current_date,
  total_cents bigint NOT NULL DEFAULT 0 CHECK (total_cents >= 0)
);
--> statement-breakpoint
CREATE INDEX invoices_customer_id_idx ON invoices (customer_id);
