/**
 * The application's schemas — every schema that is not PostgreSQL's own — which a hard reset
 * and an embedded restore drop before rebuilding.
 */
import { quoteIdent } from "../Identifier.js"

/** `SELECT name …` of the application's schemas, in name order. */
export const applicationSchemas = `SELECT nspname AS name FROM pg_namespace
  WHERE nspname NOT IN ('pg_catalog', 'information_schema') AND nspname NOT LIKE 'pg\\_%' ORDER BY 1`

/** One DROP SCHEMA … CASCADE per schema, as one text. */
export const dropSchemas = (schemas: ReadonlyArray<string>): string =>
  schemas.map((s) => `DROP SCHEMA ${quoteIdent(s)} CASCADE;`).join("\n")
