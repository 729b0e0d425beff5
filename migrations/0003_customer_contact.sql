-- Contact and tax details on customers (declared personal data in src/schema/privacy.ts; tax_id is encrypted in the application).
ALTER TABLE "customers" ADD COLUMN "phone" text;--> statement-breakpoint
ALTER TABLE "customers" ADD COLUMN "address" text;--> statement-breakpoint
ALTER TABLE "customers" ADD COLUMN "tax_id" text;