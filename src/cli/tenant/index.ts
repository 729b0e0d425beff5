/**
 * `dbkit tenant …`: provision, list, suspend, resume, deprovision and migrate-all, over the
 * strategy the environment selects:
 *
 *   DBKIT_TENANCY                 rls (default) or schema
 *   DBKIT_TENANT_MIGRATIONS_DIR   tenant migrations for the schema strategy (default migrations/tenant);
 *                                 the rls strategy's migrate-all applies DBKIT_MIGRATIONS_DIR to each shard
 *   DBKIT_TENANT_TABLE            the application's tenants table kept in step (id, slug, name), e.g. organizations
 *   DBKIT_TENANT_SHARDS           a shard file (see src/tenancy/shards.ts)
 */
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as Config from "effect/Config"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as fs from "node:fs"
import { DbConfig, InvalidConfig } from "../../Config.js"
import { fromDirectory } from "../../migrator/source.js"
import { TenantMigrationsFailed } from "../../tenancy/errors.js"
import * as Shards from "../../tenancy/shards.js"
import { layer as tenancyLayer, Tenancy, type Tenant } from "../../tenancy/Tenancy.js"
import { DatabaseFromEnv, GuardLive } from "../live.js"
import { banner, duration, json, table } from "../render.js"
import { jsonOption, yesOption } from "../shared.js"

const settings = Config.all({
  strategy: Config.literal("rls", "schema")("DBKIT_TENANCY").pipe(Config.withDefault("rls" as const)),
  tenantMigrationsDir: Config.string("DBKIT_TENANT_MIGRATIONS_DIR").pipe(Config.withDefault("migrations/tenant")),
  tenantTable: Config.option(Config.string("DBKIT_TENANT_TABLE")),
  shardFile: Config.option(Config.string("DBKIT_TENANT_SHARDS"))
})

/** Tenancy as the environment configures it, on the configured database. */
export const TenancyLive = Layer.unwrapEffect(
  Effect.gen(function*() {
    const config = yield* DbConfig
    const env = yield* Effect.mapError(settings, (error) => new InvalidConfig({ variable: "DBKIT_TENANCY", reason: String(error) }))
    const directory = env.strategy === "schema" ? env.tenantMigrationsDir : config.migrationsDir
    const shards = Option.isSome(env.shardFile) ? yield* Shards.load(env.shardFile.value) : new Map()
    return tenancyLayer({
      strategy: env.strategy,
      migrations: fs.existsSync(directory) ? fromDirectory(directory) : undefined,
      migrationsDirectory: directory,
      tenantTable: Option.getOrUndefined(env.tenantTable),
      shards
    })
  })
).pipe(Layer.provideMerge(DatabaseFromEnv), Layer.provide(NodeContext.layer))

const slugArg = Args.text({ name: "slug" }).pipe(Args.withDescription("The tenant's slug: lower-case letters, digits and _, starting with a letter, at most 40"))

const describeTenant = (t: Tenant) =>
  `${t.slug} (${t.id}) · ${t.strategy}${t.schema ? ` ${t.schema}` : ""} · ${t.status} · shard ${t.shard}`

const provision = Command.make(
  "provision",
  {
    slug: slugArg,
    name: Options.text("name").pipe(Options.optional, Options.withDescription("Display name (default: the slug)")),
    shard: Options.text("shard").pipe(Options.optional, Options.withDescription("Shard from DBKIT_TENANT_SHARDS (default: the configured database)")),
    id: Options.text("id").pipe(Options.optional, Options.withDescription("Use this uuid as the tenant id")),
    json: jsonOption
  },
  (options) =>
    Effect.gen(function*() {
      const tenancy = yield* Tenancy
      if (!options.json) yield* banner("tenant provision")
      const result = yield* tenancy.provision(options.slug, {
        name: Option.getOrUndefined(options.name),
        shard: Option.getOrUndefined(options.shard),
        id: Option.getOrUndefined(options.id)
      })
      if (options.json) return yield* json(result)
      yield* Console.log(
        `${result.created ? "provisioned" : "already provisioned"}: ${describeTenant(result.tenant)}` +
          (result.applied > 0 ? ` · ${result.applied} tenant migration${result.applied === 1 ? "" : "s"} applied` : "")
      )
    })
).pipe(Command.withDescription("Create a tenant: registry row, the application's tenant row (DBKIT_TENANT_TABLE), and for the schema strategy its schema and migrations. Idempotent; a failure leaves nothing"))

const list = Command.make("list", { json: jsonOption }, (options) =>
  Effect.gen(function*() {
    const tenants = yield* (yield* Tenancy).list
    if (options.json) return yield* json(tenants)
    if (tenants.length === 0) return yield* Console.log("no tenants")
    yield* Console.log(table(
      ["slug", "id", "strategy", "schema", "status", "shard", "last migrate-all"],
      tenants.map((t) => [
        t.slug,
        t.id,
        t.strategy,
        t.schema ?? "",
        t.status,
        t.shard,
        t.migration ? `${t.migration.state}${t.migration.at ? ` ${t.migration.at.slice(0, 19).replace("T", " ")}` : ""}` : ""
      ])
    ))
  })).pipe(Command.withDescription("The tenants in the registry"))

const suspend = Command.make("suspend", { slug: slugArg, json: jsonOption }, (options) =>
  Effect.gen(function*() {
    const tenant = yield* (yield* Tenancy).suspend(options.slug)
    if (options.json) return yield* json(tenant)
    yield* Console.log(`suspended: ${describeTenant(tenant)} (withTenant refuses it; its data stays)`)
  })).pipe(Command.withDescription("Stop a tenant: withTenant refuses it until `tenant resume`; nothing is deleted"))

const resume = Command.make("resume", { slug: slugArg, json: jsonOption }, (options) =>
  Effect.gen(function*() {
    const tenant = yield* (yield* Tenancy).resume(options.slug)
    if (options.json) return yield* json(tenant)
    yield* Console.log(`active: ${describeTenant(tenant)}`)
  })).pipe(Command.withDescription("Make a suspended tenant usable again"))

const deprovision = Command.make(
  "deprovision",
  {
    slug: slugArg,
    yes: yesOption,
    noBackup: Options.boolean("no-backup").pipe(Options.withDescription("Do not back the tenant's data up first")),
    out: Options.directory("out").pipe(Options.optional, Options.withDescription("Directory for the backup (default DBKIT_BACKUP_DIR)")),
    json: jsonOption
  },
  (options) =>
    Effect.gen(function*() {
      const tenancy = yield* Tenancy
      if (!options.json) yield* banner("tenant deprovision")
      const result = yield* tenancy.deprovision(options.slug, {
        yes: options.yes,
        backup: !options.noBackup,
        out: Option.getOrUndefined(options.out)
      })
      if (options.json) return yield* json(result)
      if (result.backup) yield* Console.log(`backed up to ${result.backup}`)
      const removed = "schema" in result.removed
        ? `schema ${result.removed.schema} dropped`
        : `${Object.values(result.removed).reduce((a, b) => a + b, 0).toLocaleString("en-US")} rows deleted`
      yield* Console.log(`deprovisioned ${result.tenant.slug}: ${removed}, registry row removed`)
    })
).pipe(
  Command.withDescription(
    "Delete a tenant and all its data after backing it up. Guarded: DB_TENANT_DEPROVISION_CONFIRM=1, --yes or typing the slug; production also needs DB_TENANT_DEPROVISION_ALLOW_PRODUCTION=1"
  ),
  Command.provide(GuardLive)
)

const migrateAll = Command.make(
  "migrate-all",
  {
    concurrency: Options.integer("concurrency").pipe(Options.withDefault(4), Options.withDescription("Tenants migrated at once (default 4)")),
    resume: Options.boolean("resume").pipe(Options.withDescription("Only the tenants whose last run failed or did not finish")),
    json: jsonOption
  },
  (options) =>
    Effect.gen(function*() {
      const tenancy = yield* Tenancy
      if (!options.json) yield* banner("tenant migrate-all")
      const width = (n: number) => String(n).length
      const report = yield* tenancy.migrateAll({
        concurrency: options.concurrency,
        resume: options.resume,
        onResult: options.json ? undefined : (r, done, total) =>
          Console.log(
            `[${String(done).padStart(width(total))}/${total}] ${r.target}${r.shard === "default" ? "" : ` @${r.shard}`}  ` +
              (r.state === "failed" ? `FAILED: ${r.error}` : r.state === "applied" ? `applied ${r.applied}` : "up to date") +
              `  ${duration(r.durationMs)}`
          )
      })
      if (options.json) yield* json(report)
      else {
        const rate = report.results.length / Math.max(report.durationMs / 1000, 0.001)
        yield* Console.log(
          `${report.results.length} target(s): ${report.applied} applied, ${report.upToDate} up to date, ${report.failed} failed · ` +
            `${duration(report.durationMs)} (${rate.toFixed(1)}/s, concurrency ${options.concurrency})`
        )
      }
      if (report.failed > 0) return yield* new TenantMigrationsFailed({ failed: report.failed, total: report.results.length })
    })
).pipe(
  Command.withDescription(
    "Apply the migrations to every tenant (schema: each tenant's schema; rls: each shard's shared tables) with bounded concurrency; carries on past failures, exits 5 if any failed; --resume retries only failed and unfinished tenants"
  )
)

/** `dbkit tenant`. */
export const tenant = Command.make("tenant").pipe(
  Command.withDescription("Tenants: row-level security (DBKIT_TENANCY=rls) or a schema each (DBKIT_TENANCY=schema)"),
  Command.withSubcommands([
    provision.pipe(Command.provide(TenancyLive)),
    list.pipe(Command.provide(TenancyLive)),
    suspend.pipe(Command.provide(TenancyLive)),
    resume.pipe(Command.provide(TenancyLive)),
    deprovision.pipe(Command.provide(TenancyLive)),
    migrateAll.pipe(Command.provide(TenancyLive))
  ])
)
