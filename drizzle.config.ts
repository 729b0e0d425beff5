/**
 * drizzle-kit configuration for the reference application schema
 * (src/example/schema) and its SQL migrations (migrations/).
 *
 * `generate` needs no database; DATABASE_URL is only read by push/pull/studio.
 * Roles: `dbkit_app` is declared `pgRole(...).existing()`, so generate never
 * emits CREATE ROLE for it (migration 0000_app_role creates it idempotently).
 * `entities.roles: false` keeps push/pull from managing cluster-wide roles
 * (otherwise push would try to drop roles absent from the schema). Policies
 * are generated either way.
 */
import { defineConfig } from "drizzle-kit"

export default defineConfig({
  dialect: "postgresql",
  schema: "./src/example/schema/index.ts",
  out: "./migrations",
  breakpoints: true,
  strict: true,
  verbose: true,
  entities: {
    roles: false
  },
  dbCredentials: {
    url: process.env.DATABASE_URL ?? "postgres://localhost:5432/postgres"
  }
})
