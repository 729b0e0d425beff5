/**
 * `dbkit tenant …`: provision, list, suspend, resume, deprovision and migrate-all, over the
 * strategy the environment selects (see live.ts for the variables). The definitions; the
 * handlers (handlers.ts) load when one runs.
 */
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import { lazy } from "../lazy.js"
import { jsonOption, yesOption } from "../options.js"

const handlers = () => import("./handlers.js")

const slugArg = Args.text({ name: "slug" }).pipe(
  Args.withDescription(
    "The tenant's slug: lower-case letters, digits, _ and - (no --, no - at the end), starting with a letter, at most 40"
  )
)

export const provisionConfig = {
  slug: slugArg,
  name: Options.text("name").pipe(Options.optional, Options.withDescription("Display name (default: the slug)")),
  shard: Options.text("shard").pipe(
    Options.optional,
    Options.withDescription("Shard from DBKIT_TENANT_SHARDS (default: the configured database)")
  ),
  id: Options.text("id").pipe(Options.optional, Options.withDescription("Use this uuid as the tenant id")),
  domain: Options.text("domain").pipe(
    Options.optional,
    Options.withDescription("The tenant's host name (e.g. acme.example.com; unique, stored lower-case)")
  ),
  plan: Options.text("plan").pipe(Options.optional, Options.withDescription("The tenant's plan (short text)")),
  metadata: Options.text("metadata").pipe(
    Options.optional,
    Options.withDescription("A JSON object kept with the tenant (at most 16 KB), e.g. '{\"region\":\"eu\"}'")
  ),
  json: jsonOption
}

const provision = Command.make("provision", provisionConfig, (options) => lazy(handlers, (m) => m.provision(options)))
  .pipe(
    Command.withDescription(
      "Create a tenant: registry row, the application's tenant row (DBKIT_TENANT_TABLE), and for the schema strategy its schema and migrations. Idempotent; a failure leaves nothing"
    )
  )

export const listConfig = { json: jsonOption }

const list = Command.make("list", listConfig, (options) => lazy(handlers, (m) => m.list(options))).pipe(
  Command.withDescription("The tenants in the registry (provisioned or seeded), with their domain and plan")
)

export const suspendConfig = { slug: slugArg, json: jsonOption }

const suspend = Command.make("suspend", suspendConfig, (options) => lazy(handlers, (m) => m.suspend(options))).pipe(
  Command.withDescription("Stop a tenant: withTenant refuses it until `tenant resume`; nothing is deleted")
)

export const resumeConfig = { slug: slugArg, json: jsonOption }

const resume = Command.make("resume", resumeConfig, (options) => lazy(handlers, (m) => m.resume(options))).pipe(
  Command.withDescription("Make a suspended tenant usable again")
)

export const deprovisionConfig = {
  slug: slugArg,
  yes: yesOption,
  noBackup: Options.boolean("no-backup").pipe(Options.withDescription("Do not back the tenant's data up first")),
  out: Options.directory("out").pipe(
    Options.optional,
    Options.withDescription("Directory for the backup (default DBKIT_BACKUP_DIR)")
  ),
  json: jsonOption
}

const deprovision = Command.make(
  "deprovision",
  deprovisionConfig,
  (options) => lazy(handlers, (m) => m.deprovision(options))
).pipe(
  Command.withDescription(
    "Delete a tenant and all its data after backing it up. Guarded: DB_TENANT_DEPROVISION_CONFIRM=1, --yes or typing the slug; production also needs DB_TENANT_DEPROVISION_ALLOW_PRODUCTION=1"
  )
)

export const migrateAllConfig = {
  concurrency: Options.integer("concurrency").pipe(
    Options.withDefault(4),
    Options.withDescription("Tenants migrated at once (default 4)")
  ),
  resume: Options.boolean("resume").pipe(
    Options.withDescription("Only the tenants whose last run failed or did not finish")
  ),
  json: jsonOption
}

const migrateAll = Command.make(
  "migrate-all",
  migrateAllConfig,
  (options) => lazy(handlers, (m) => m.migrateAll(options))
).pipe(
  Command.withDescription(
    "Apply the migrations to every tenant (schema: each tenant's schema; rls: each shard's shared tables) with bounded concurrency; carries on past failures, exits 5 if any failed; --resume retries only failed and unfinished tenants"
  )
)

/** `dbkit tenant`. */
export const tenant = Command.make("tenant").pipe(
  Command.withDescription("Tenants: row-level security (DBKIT_TENANCY=rls) or a schema each (DBKIT_TENANCY=schema)"),
  Command.withSubcommands([provision, list, suspend, resume, deprovision, migrateAll])
)
