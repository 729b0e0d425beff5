/**
 * `dbkit tenancy …`: checks of how tenants are isolated. `tenancy audit` reads the configured
 * database's row-level security set-up. The definitions; the handler (audit.ts) loads when it runs.
 */
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import { lazy } from "../lazy.js"
import { jsonOption } from "../options.js"

export const auditConfig = {
  json: jsonOption,
  schema: Options.text("schema").pipe(
    Options.repeated,
    Options.withDescription("Scan only this schema (repeatable; default: every schema but the system ones and dbkit)")
  ),
  tenantColumn: Options.text("tenant-column").pipe(
    Options.withDefault("tenant_id"),
    Options.withDescription("The column that marks a tenant table")
  )
}

const audit = Command.make("audit", auditConfig, (options) => lazy(() => import("./audit.js"), (m) => m.audit(options)))
  .pipe(
    Command.withDescription(
      "Audit row-level security (read-only): tenant tables without RLS enabled and forced, policies that fail " +
        "open when the tenant setting is unset or empty, granted commands no policy covers, application roles " +
        "that are superusers, bypass RLS or own tenant tables, foreign keys without the tenant column, sequences " +
        "shared across tenants, SECURITY DEFINER functions without a fixed search_path. One line per finding " +
        "with its fix; exit 15 when there are findings, 0 when none"
    )
  )

export const tenancy = Command.make("tenancy").pipe(
  Command.withDescription("Check how tenants are isolated (see also `dbkit tenant` to manage them)"),
  Command.withSubcommands([audit])
)
