/**
 * Tenancy: one application, many tenants, isolated by row-level security or by a schema each.
 *
 * - `rls`: shared tables carry `tenant_id`; their policies compare it with the `app.tenant_id`
 *   setting (see the example project, src/example/schema/tenancy.ts), FORCE ROW LEVEL SECURITY applies them to the owner too,
 *   and the application runs as a role without BYPASSRLS.
 * - `schema`: each tenant has a `tenant_<slug>` schema built by the tenant migrations, with its
 *   own history table in it.
 *
 * `withTenant` opens a transaction and, in one statement, looks the tenant up and sets the
 * tenant (rls) or the search_path (schema) — and the role, when one is configured — with
 * `set_config(…, true)`: transaction-local, so the pooled connection goes back with nothing of
 * the tenant left on it, whether the effect succeeded, failed or was interrupted.
 *
 * The registry (`dbkit.tenants`) lives on the configured database; tenants' data may live on
 * other shards (servers or databases) listed in a shard file, which `migrate-all` fans out over.
 */
import * as CommandExecutor from "@effect/platform/CommandExecutor"
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as FiberRef from "effect/FiberRef"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as fs from "node:fs"
import * as path from "node:path"
import { createGzip } from "node:zlib"
import * as AdvisoryLock from "../AdvisoryLock.js"
import { Backup, type BackupError, durable, layer as backupLayer, stamp } from "../backup/Backup.js"
import { DbConfig, type InvalidConfig } from "../Config.js"
import { type ConnectError, Database, PgLive } from "../Database.js"
import { Guard, type GuardError } from "../Guard.js"
import { quoteIdent, quoteQualified } from "../Identifier.js"
import { layer as migratorLayer, type MigrateResult, Migrator, type MigratorOptions } from "../migrator/Migrator.js"
import { fromDirectory, type MigrationSource } from "../migrator/source.js"
import * as Project from "../Project.js"
import * as ServerError from "../ServerError.js"
import {
  type InvalidShardFile,
  InvalidTenantSlug,
  ProvisionFailed,
  TenantMigrationsMissing,
  TenantNestingRefused,
  TenantNotFound,
  TenantStrategyMismatch,
  TenantUnavailable,
  UnknownShard
} from "./errors.js"
import * as Registry from "./registry.js"
import * as ShardFile from "./shards.js"
import { DEFAULT_SHARD, type Shards } from "./shards.js"
import { makeDirectories } from "../Directories.js"

export type { MigrationState, Strategy, Tenant, TenantStatus } from "./registry.js"

export interface TenancyOptions {
  readonly strategy: Registry.Strategy
  /**
   * What `migrate-all` applies: for `schema`, the tenant migrations (run in each tenant's
   * schema, also at provisioning); for `rls`, the shared migrations (run once per shard).
   */
  readonly migrations?: MigrationSource | undefined
  /** Where `migrations` come from, for messages (e.g. `migrations/tenant`). */
  readonly migrationsDirectory?: string | undefined
  /** The setting the RLS policies read (default `app.tenant_id`). */
  readonly setting?: string | undefined
  /**
   * A role `withTenant` switches to for the transaction (e.g. `dbkit_app`), for applications
   * that connect as a more privileged user. Leave unset when the application logs in as it.
   */
  readonly role?: string | undefined
  /** The application's own tenants table (id uuid, slug, name), kept in step: e.g. `organizations`. */
  readonly tenantTable?: string | undefined
  /** Other shards by name; "default" is always the configured database. */
  readonly shards?: Shards | undefined
  /** Timeouts for tenant migrations. */
  readonly migrator?: Omit<MigratorOptions, "source" | "schema"> | undefined
}

export interface ProvisionResult {
  readonly tenant: Registry.Tenant
  /** False when it already existed (provisioning is idempotent). */
  readonly created: boolean
  /** Tenant migrations applied (schema strategy). */
  readonly applied: number
}

export interface DeprovisionResult {
  readonly tenant: Registry.Tenant
  /** The backup of the tenant's data taken first, unless skipped. */
  readonly backup: string | null
  /** Rows deleted per table (rls) or the schema dropped (schema). */
  readonly removed: Readonly<Record<string, number>> | { readonly schema: string }
}

export interface TenantMigration {
  /** The tenant's slug, or `shard:<name>` for the shared tables of a shard (rls). */
  readonly target: string
  readonly shard: string
  readonly state: "applied" | "up to date" | "failed"
  readonly applied: number
  readonly error: string | null
  readonly durationMs: number
}

export interface MigrateAllReport {
  readonly results: ReadonlyArray<TenantMigration>
  readonly applied: number
  readonly upToDate: number
  readonly failed: number
  readonly durationMs: number
}

export interface ProvisionOptions {
  readonly name?: string | undefined
  readonly shard?: string | undefined
  readonly id?: string | undefined
  /** How long to wait while another process provisions the same slug (default 2 minutes). */
  readonly lockWait?: Duration.DurationInput | undefined
}

export interface MigrateAllOptions {
  /** How many tenants migrate at once (default 4). */
  readonly concurrency?: number | undefined
  /** Only tenants whose last run failed or did not finish. */
  readonly resume?: boolean | undefined
  /** Called as each tenant (schema) or shard (rls) starts, with the number of targets. */
  readonly onStart?: ((target: string, total: number) => Effect.Effect<void>) | undefined
  /** Called as each tenant finishes, in completion order. */
  readonly onResult?: ((result: TenantMigration, done: number, total: number) => Effect.Effect<void>) | undefined
}

export type TenantError = TenantNotFound | TenantUnavailable | TenantNestingRefused | SqlError

/** The Tenancy service. */
export class Tenancy extends Context.Tag("dbkit/Tenancy")<Tenancy, {
  readonly strategy: Registry.Strategy
  /**
   * Runs `effect` as `tenant` (its id or slug): in one transaction, seeing only that tenant's
   * rows (rls) or schema (schema). A failure rolls back; nothing stays on the connection.
   */
  readonly withTenant: <A, E, R>(tenant: string, effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E | TenantError, R>
  /** Creates a tenant (registry row, app row, schema and its migrations); idempotent, all or nothing. */
  readonly provision: (
    slug: string,
    options?: ProvisionOptions
  ) => Effect.Effect<
    ProvisionResult,
    InvalidTenantSlug | UnknownShard | TenantStrategyMismatch | ProvisionFailed | TenantMigrationsMissing | AdvisoryLock.LockTimeout | SqlError
  >
  readonly list: Effect.Effect<ReadonlyArray<Registry.Tenant>, SqlError>
  readonly get: (tenant: string) => Effect.Effect<Registry.Tenant, TenantNotFound | SqlError>
  /** Stops `withTenant` for the tenant (its data stays). */
  readonly suspend: (slug: string) => Effect.Effect<Registry.Tenant, TenantNotFound | TenantUnavailable | SqlError>
  readonly resume: (slug: string) => Effect.Effect<Registry.Tenant, TenantNotFound | TenantUnavailable | SqlError>
  /**
   * Deletes the tenant and all its data, guarded (DB_TENANT_DEPROVISION_CONFIRM / --yes;
   * production also DB_TENANT_DEPROVISION_ALLOW_PRODUCTION), after backing the data up.
   */
  readonly deprovision: (
    slug: string,
    options?: { readonly yes?: boolean | undefined; readonly backup?: boolean | undefined; readonly out?: string | undefined }
  ) => Effect.Effect<DeprovisionResult, TenantNotFound | UnknownShard | GuardError | BackupError | ConnectError | SqlError, Guard>
  /** Applies the migrations to every tenant (schema) or shard (rls), continuing past failures. */
  readonly migrateAll: (options?: MigrateAllOptions) => Effect.Effect<MigrateAllReport, TenantMigrationsMissing | SqlError>
}>() {}

/** The tenant the current fiber is inside `withTenant` for. */
const currentTenant = FiberRef.unsafeMake(Option.none<{ readonly id: string; readonly slug: string }>())

/** The first line of an error, without a password (messages from dbkit never carry one). */
const describe = (cause: Cause.Cause<unknown>): string => ServerError.describe(Cause.squash(cause), { firstLine: true, max: 500 })

const make = (options: TenancyOptions) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const database = yield* Database
    const config = yield* DbConfig
    const executor = yield* CommandExecutor.CommandExecutor
    const strategy = options.strategy
    const setting = options.setting ?? "app.tenant_id"
    const shards = options.shards ?? new Map()
    const home = Context.make(SqlClient.SqlClient, sql).pipe(Context.add(Database, database))

    /** The SqlClient and Database of a shard, for the life of the current scope. */
    const shardContext = (shard: string, poolSize = 2) =>
      Effect.gen(function*() {
        if (shard === DEFAULT_SHARD) return home
        const url = shards.get(shard)
        if (url === undefined) return yield* new UnknownShard({ shard, known: [...shards.keys()] })
        return yield* Layer.build(PgLive({ url, poolSize, applicationName: config.applicationName }))
      })

    const requireMigrations = Effect.suspend(() =>
      options.migrations === undefined
        ? Effect.fail(new TenantMigrationsMissing({ directory: options.migrationsDirectory ?? "(no tenant migrations configured)" }))
        : Effect.succeed(options.migrations)
    )

    // ---- withTenant: one statement looks the tenant up and sets everything, locally.
    const enterParams: Array<string> = []
    const param = (value: string) => {
      enterParams.push(value)
      return `$${enterParams.length + 1}` // $1 is the tenant
    }
    const sets = [
      strategy === "rls"
        ? `set_config(${param(setting)}, t.id::text, true)`
        : `set_config('search_path', quote_ident(t.schema_name) || ', public', true)`,
      ...(options.role ? [`set_config('role', ${param(options.role)}, true)`] : [])
    ].join(", ")
    const enterSql = `SELECT t.slug, t.status, t.strategy, t.id::text AS id, ${sets} FROM dbkit.tenant_lookup($1) t`

    let registryReady = false
    const ensureOnce = Effect.suspend(() =>
      registryReady ? Effect.void : Effect.tap(Registry.ensure, () => Effect.sync(() => void (registryReady = true)))
    ).pipe(Effect.provideService(SqlClient.SqlClient, sql))

    const withTenant = <A, E, R>(tenant: string, effect: Effect.Effect<A, E, R>): Effect.Effect<A, E | TenantError, R> =>
      Effect.flatMap(FiberRef.get(currentTenant), (outer): Effect.Effect<A, E | TenantError, R> => {
        // Inside withTenant already: the same tenant just runs; another tenant is refused —
        // a nested transaction is a savepoint, and the inner tenant's settings would outlive it.
        if (Option.isSome(outer)) {
          return outer.value.id === tenant.toLowerCase() || outer.value.slug === tenant
            ? effect
            : Effect.fail(new TenantNestingRefused({ outer: outer.value.slug, inner: tenant }))
        }
        return Effect.gen(function*() {
          if (!Registry.isUuid(tenant)) yield* Registry.validateSlug(tenant).pipe(Effect.mapError(() => new TenantNotFound({ tenant })))
          yield* ensureOnce
          return yield* sql.withTransaction(
            Effect.gen(function*() {
              const rows = yield* sql.unsafe<{ slug: string; status: Registry.TenantStatus; strategy: Registry.Strategy; id: string }>(
                enterSql,
                [tenant, ...enterParams]
              )
              const row = rows[0]
              if (row === undefined) return yield* new TenantNotFound({ tenant })
              if (row.status !== "active") return yield* new TenantUnavailable({ slug: row.slug, status: row.status })
              if (row.strategy !== strategy) return yield* new TenantNotFound({ tenant })
              return yield* Effect.locally(effect, currentTenant, Option.some({ id: row.id, slug: row.slug }))
            })
          )
        })
      })

    /** The registry, created on first use; checked once per service, not before every read. */
    const all = Effect.zipRight(ensureOnce, Registry.all)
    const get = (tenant: string) =>
      Effect.zipRight(ensureOnce, Registry.find(tenant)).pipe(
        Effect.flatMap((found) => (found ? Effect.succeed(found) : Effect.fail(new TenantNotFound({ tenant }))))
      )

    /** A row this call just wrote (its absence would be a bug, not an outcome). */
    const reread = (id: string) => Effect.catchTag(get(id), "TenantNotFound", (error) => Effect.die(error))

    // ---- provision
    const provision = (slug: string, provisionOptions: ProvisionOptions = {}) =>
      Effect.scoped(
        Effect.gen(function*() {
          yield* Registry.validateSlug(slug)
          const shard = provisionOptions.shard ?? DEFAULT_SHARD
          if (shard !== DEFAULT_SHARD && !shards.has(shard)) return yield* new UnknownShard({ shard, known: [...shards.keys()] })
          if (provisionOptions.id !== undefined && !Registry.isUuid(provisionOptions.id)) {
            return yield* new InvalidTenantSlug({ slug, reason: `id ${provisionOptions.id} is not a uuid` })
          }
          const source = strategy === "schema" ? yield* requireMigrations : undefined
          yield* ensureOnce
          // One provisioner per slug at a time (a second waits, then finds it done).
          if (database.sessionLocks) {
            const conn = yield* sql.reserve
            const wait = provisionOptions.lockWait ?? "2 minutes"
            yield* AdvisoryLock.acquire((text, params = []) => conn.executeUnprepared(text, params, undefined), AdvisoryLock.keyOf(`dbkit:tenant:${slug}`), {
              wait,
              onTimeout: (holder) => new AdvisoryLock.LockTimeout({ what: `provisioning of tenant ${slug}`, waitedMs: Duration.toMillis(wait), holder })
            })
          }
          const existing = yield* Registry.find(slug)
          if (existing && existing.strategy !== strategy) {
            return yield* new TenantStrategyMismatch({ slug, registered: existing.strategy, configured: strategy })
          }
          if (existing && existing.status !== "provisioning") return { tenant: existing, created: false, applied: 0 } satisfies ProvisionResult
          const name = provisionOptions.name ?? existing?.name ?? slug
          const schema = strategy === "schema" ? Registry.schemaFor(slug) : null
          if (strategy === "rls") {
            // All in one transaction: the registry row and the application's row, or neither.
            const tenant = yield* sql.withTransaction(
              Effect.gen(function*() {
                const [row] = yield* sql.unsafe<{ id: string }>(
                  `INSERT INTO dbkit.tenants (id, slug, name, strategy, status, shard)
                   VALUES (coalesce($1::uuid, gen_random_uuid()), $2, $3, 'rls', 'active', $4) RETURNING id::text AS id`,
                  [provisionOptions.id ?? null, slug, name, shard]
                )
                if (options.tenantTable) {
                  yield* sql.unsafe(
                    `INSERT INTO ${quoteQualified(options.tenantTable)} (id, slug, name) VALUES ($1::uuid, $2, $3)`,
                    [row!.id, slug, name]
                  )
                }
                return yield* reread(row!.id)
              })
            ).pipe(Effect.mapError((error) => error._tag === "SqlError" ? new ProvisionFailed({ slug, reason: describe(Cause.fail(error)) }) : error))
            return { tenant, created: true, applied: 0 } satisfies ProvisionResult
          }
          // Schema per tenant: the row says "provisioning" until the schema is complete; a
          // failure removes both (and an interrupted run is finished by the next provision).
          const row = existing ?? (yield* Effect.flatMap(
            sql.unsafe<{ id: string }>(
              `INSERT INTO dbkit.tenants (id, slug, name, strategy, schema_name, status, shard)
               VALUES (coalesce($1::uuid, gen_random_uuid()), $2, $3, 'schema', $4, 'provisioning', $5) RETURNING id::text AS id`,
              [provisionOptions.id ?? null, slug, name, schema, shard]
            ),
            ([inserted]) => reread(inserted!.id)
          ))
          const built = yield* Effect.exit(
            Effect.scoped(
              Effect.gen(function*() {
                const context = yield* shardContext(row.shard)
                const migrator = yield* Layer.build(migratorLayer({ ...options.migrator, source: source!, schema: schema! })).pipe(
                  Effect.provide(context)
                )
                return yield* Context.get(migrator, Migrator).migrate()
              })
            )
          )
          if (Exit.isFailure(built)) {
            yield* Effect.ignore(
              Effect.scoped(
                Effect.flatMap(shardContext(row.shard), (context) =>
                  Effect.provide(Effect.flatMap(SqlClient.SqlClient, (shardSql) =>
                    shardSql.unsafe(`DROP SCHEMA IF EXISTS ${quoteIdent(schema!)} CASCADE`)), context))
              )
            )
            yield* Effect.ignore(sql`DELETE FROM dbkit.tenants WHERE id = ${row.id}::uuid`)
            return yield* new ProvisionFailed({ slug, reason: describe(built.cause) })
          }
          yield* sql`UPDATE dbkit.tenants SET status = 'active', migration_state = 'applied', migrated_at = now(), updated_at = now()
                     WHERE id = ${row.id}::uuid`
          return { tenant: yield* reread(row.id), created: true, applied: built.value.applied.length } satisfies ProvisionResult
        })
      )

    const setStatus = (slug: string, from: Registry.TenantStatus, to: Registry.TenantStatus) =>
      Effect.gen(function*() {
        const tenant = yield* get(slug)
        if (tenant.status === to) return tenant
        if (tenant.status !== from) return yield* new TenantUnavailable({ slug: tenant.slug, status: tenant.status })
        yield* sql`UPDATE dbkit.tenants SET status = ${to}, updated_at = now() WHERE id = ${tenant.id}::uuid`
        return yield* get(tenant.id)
      })

    // ---- deprovision
    /** Tables with a `tenant_id` column, parents before children (by foreign keys among them). */
    const tenantTables = Effect.gen(function*() {
      const tables = yield* sql<{ name: string }>`
        SELECT format('%I.%I', n.nspname, c.relname) AS name
          FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE a.attname = 'tenant_id' AND NOT a.attisdropped AND c.relkind IN ('r', 'p')
           AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'dbkit') ORDER BY 1`
      const edges = yield* sql<{ child: string; parent: string }>`
        SELECT format('%I.%I', cn.nspname, c.relname) AS child, format('%I.%I', pn.nspname, p.relname) AS parent
          FROM pg_constraint k
          JOIN pg_class c ON c.oid = k.conrelid JOIN pg_namespace cn ON cn.oid = c.relnamespace
          JOIN pg_class p ON p.oid = k.confrelid JOIN pg_namespace pn ON pn.oid = p.relnamespace
         WHERE k.contype = 'f' AND k.conrelid <> k.confrelid`
      const names = new Set(tables.map((t) => t.name))
      const ordered: Array<string> = []
      const visiting = new Set<string>()
      const visit = (table: string) => {
        if (ordered.includes(table) || visiting.has(table)) return
        visiting.add(table)
        for (const edge of edges) if (edge.child === table && names.has(edge.parent)) visit(edge.parent)
        ordered.push(table)
      }
      for (const table of names) visit(table)
      return ordered
    })

    /**
     * The rls tenant's rows as a gzipped SQL script that puts them back (INSERT … SELECT from
     * json_populate_recordset, parents first, 500 rows a statement); mode 0600, fsynced, renamed
     * into place only when complete.
     */
    const exportRows = (tenant: Registry.Tenant, tables: ReadonlyArray<string>, out: string) =>
      Effect.gen(function*() {
        makeDirectories(out)
        const file = path.resolve(out, `tenant_${tenant.slug}_backup_${stamp(new Date())}.sql.gz`)
        const temp = `${file}.partial`
        const gzip = createGzip()
        const sink = fs.createWriteStream(temp, { mode: 0o600, flags: "wx" })
        gzip.pipe(sink)
        const write = (text: string) =>
          Effect.async<void>((resume) => {
            if (gzip.write(text)) resume(Effect.void)
            else gzip.once("drain", () => resume(Effect.void))
          })
        const tag = `$dbkit_${Math.random().toString(36).slice(2, 10)}$`
        const counts: Record<string, number> = {}
        // Putting the rows back is not an audit event (they were audited when first written).
        yield* write(`-- dbkit: data of tenant ${tenant.slug} (${tenant.id}), ${new Date().toISOString()}\nBEGIN;\nSELECT set_config('dbkit.audit', 'off', true);\n`)
        const sources = [...(options.tenantTable ? [{ table: quoteQualified(options.tenantTable), column: "id" }] : []), ...tables.map((table) => ({ table, column: "tenant_id" }))]
        for (const { column, table } of sources) {
          let batch: Array<unknown> = []
          counts[table] = 0
          const flush = Effect.suspend(() => {
            if (batch.length === 0) return Effect.void
            const json = JSON.stringify(batch)
            batch = []
            return write(`INSERT INTO ${table} OVERRIDING SYSTEM VALUE SELECT * FROM json_populate_recordset(NULL::${table}, ${tag}${json}${tag});\n`)
          })
          yield* sql.unsafe<{ row: unknown }>(`SELECT to_json(t) AS row FROM ${table} t WHERE ${quoteIdent(column)} = $1::uuid`, [tenant.id]).pipe(
            Effect.flatMap((rows) =>
              Effect.forEach(rows, ({ row }) => {
                batch.push(row)
                counts[table]! += 1
                return batch.length >= 500 ? flush : Effect.void
              }, { discard: true })
            )
          )
          yield* flush
        }
        yield* write("COMMIT;\n")
        yield* Effect.async<void>((resume) => {
          sink.once("close", () => resume(Effect.void))
          gzip.end()
        })
        durable(temp)
        fs.renameSync(temp, file)
        durable(out)
        return { file, counts }
      })

    const deprovision = (
      slug: string,
      deprovisionOptions: { readonly yes?: boolean | undefined; readonly backup?: boolean | undefined; readonly out?: string | undefined } = {}
    ) =>
      Effect.gen(function*() {
        const guard = yield* Guard
        const tenant = yield* get(slug)
        yield* guard.confirm({
          action: "delete this tenant and all its data",
          variable: "DB_TENANT_DEPROVISION",
          target: tenant.slug,
          yes: deprovisionOptions.yes
        })
        const out = deprovisionOptions.out ?? config.backupDir
        const takeBackup = deprovisionOptions.backup !== false
        if (tenant.strategy === "schema") {
          return yield* Effect.scoped(
            Effect.gen(function*() {
              const context = yield* shardContext(tenant.shard)
              let backupFile: string | null = null
              if (takeBackup) {
                const backup = yield* Layer.build(backupLayer).pipe(
                  Effect.provide(context.pipe(Context.add(CommandExecutor.CommandExecutor, executor), Context.add(DbConfig, config)))
                )
                backupFile = (yield* Context.get(backup, Backup).backup({ schemas: [tenant.schema!], label: `tenant_${tenant.slug}`, out })).file
              }
              const shardSql = Context.get(context, SqlClient.SqlClient)
              yield* shardSql.unsafe(`DROP SCHEMA IF EXISTS ${quoteIdent(tenant.schema!)} CASCADE`)
              yield* sql`DELETE FROM dbkit.tenants WHERE id = ${tenant.id}::uuid`
              return { tenant, backup: backupFile, removed: { schema: tenant.schema! } } satisfies DeprovisionResult
            })
          )
        }
        const tables = yield* tenantTables
        const exported = takeBackup ? yield* exportRows(tenant, tables, out) : null
        const removed = yield* sql.withTransaction(
          Effect.gen(function*() {
            // The tenant's rows and its audit trail go together (the export above holds both).
            yield* sql`SELECT set_config(${setting}, ${tenant.id}, true), set_config('dbkit.audit', 'off', true)`
            const counts: Record<string, number> = {}
            for (const table of [...tables].reverse()) {
              const [row] = yield* sql.unsafe<{ n: number }>(
                `WITH gone AS (DELETE FROM ${table} WHERE tenant_id = $1::uuid RETURNING 1) SELECT count(*)::int AS n FROM gone`,
                [tenant.id]
              )
              counts[table] = row!.n
            }
            if (options.tenantTable) {
              yield* sql.unsafe(`DELETE FROM ${quoteQualified(options.tenantTable)} WHERE id = $1::uuid`, [tenant.id])
            }
            yield* sql`DELETE FROM dbkit.tenants WHERE id = ${tenant.id}::uuid`
            return counts
          })
        )
        return { tenant, backup: exported?.file ?? null, removed } satisfies DeprovisionResult
      })

    // ---- migrate-all
    const migrateAll = (migrateOptions: MigrateAllOptions = {}) =>
      Effect.scoped(
        Effect.gen(function*() {
          const started = Date.now()
          const source = yield* requireMigrations
          const migrations = yield* source.pipe(Effect.orDie)
          const fixed: MigrationSource = Effect.succeed(migrations) // read once, not once per tenant
          const concurrency = database.kind === "embedded" ? 1 : Math.max(1, migrateOptions.concurrency ?? 4)
          const tenants = (yield* all).filter((t) => t.strategy === strategy && t.status !== "provisioning")
          type Target = { readonly target: string; readonly shard: string; readonly schema: string | undefined; readonly id: string | undefined }
          let targets: Array<Target>
          if (strategy === "schema") {
            const chosen = migrateOptions.resume
              ? tenants.filter((t) => t.migration === null || t.migration.state === "pending" || t.migration.state === "failed")
              : tenants
            if (!migrateOptions.resume && chosen.length > 0) {
              yield* sql`UPDATE dbkit.tenants SET migration_state = 'pending', migration_error = NULL, updated_at = now()
                         WHERE strategy = 'schema' AND status <> 'provisioning'`
            }
            targets = chosen.map((t) => ({ target: t.slug, shard: t.shard, schema: t.schema!, id: t.id }))
          } else {
            const used = new Set([DEFAULT_SHARD, ...tenants.map((t) => t.shard), ...shards.keys()])
            targets = [...used].map((shard) => ({ target: `shard:${shard}`, shard, schema: undefined, id: undefined }))
          }
          // One pool per shard for the run, sized for the concurrency.
          const contexts = new Map<string, Either.Either<Context.Context<SqlClient.SqlClient | Database>, UnknownShard | ConnectError>>()
          for (const shard of new Set(targets.map((t) => t.shard))) {
            contexts.set(shard, yield* Effect.either(shardContext(shard, concurrency + 1)))
          }
          let done = 0
          const results = yield* Effect.forEach(targets, (target) =>
            Effect.gen(function*() {
              if (migrateOptions.onStart) yield* migrateOptions.onStart(target.target, targets.length)
              const t0 = Date.now()
              const context = contexts.get(target.shard)!
              const run: Effect.Effect<MigrateResult, unknown> = Either.isLeft(context)
                ? Effect.fail(context.left)
                : Effect.scoped(
                  Effect.gen(function*() {
                    const migrator = yield* Layer.build(migratorLayer({ ...options.migrator, source: fixed, schema: target.schema })).pipe(
                      Effect.provide(context.right)
                    )
                    return yield* Context.get(migrator, Migrator).migrate()
                  })
                )
              const outcome = yield* Effect.exit(run)
              const result: TenantMigration = Exit.isSuccess(outcome)
                ? {
                  target: target.target,
                  shard: target.shard,
                  state: outcome.value.applied.length > 0 ? "applied" : "up to date",
                  applied: outcome.value.applied.length,
                  error: null,
                  durationMs: Date.now() - t0
                }
                : { target: target.target, shard: target.shard, state: "failed", applied: 0, error: describe(outcome.cause), durationMs: Date.now() - t0 }
              if (target.id !== undefined) yield* Effect.orDie(Registry.recordMigration(target.id, result.state, result.error))
              done += 1
              if (migrateOptions.onResult) yield* migrateOptions.onResult(result, done, targets.length)
              return result
            }), { concurrency })
          const count = (state: TenantMigration["state"]) => results.filter((r) => r.state === state).length
          return {
            results,
            applied: count("applied"),
            upToDate: count("up to date"),
            failed: count("failed"),
            durationMs: Date.now() - started
          } satisfies MigrateAllReport
        })
      )

    return Tenancy.of({
      strategy,
      withTenant,
      provision: (slug, o) => provision(slug, o).pipe(Effect.provideService(SqlClient.SqlClient, sql)),
      list: all.pipe(Effect.provideService(SqlClient.SqlClient, sql)),
      get: (tenant) => get(tenant).pipe(Effect.provideService(SqlClient.SqlClient, sql)),
      suspend: (slug) => setStatus(slug, "active", "suspended").pipe(Effect.provideService(SqlClient.SqlClient, sql)),
      resume: (slug) => setStatus(slug, "suspended", "active").pipe(Effect.provideService(SqlClient.SqlClient, sql)),
      deprovision: (slug, o) => deprovision(slug, o).pipe(Effect.provideService(SqlClient.SqlClient, sql)),
      migrateAll: (o) => migrateAll(o).pipe(Effect.provideService(SqlClient.SqlClient, sql))
    })
  })

/** The Tenancy service over the configured database (needs a CommandExecutor for backups). */
export const layer = (
  options: TenancyOptions
): Layer.Layer<Tenancy, never, SqlClient.SqlClient | Database | DbConfig | CommandExecutor.CommandExecutor> =>
  Layer.effect(Tenancy, make(options))

/**
 * Tenancy as the project declares it: dbkit.config.ts `tenancy` (strategy, tenant table, tenant
 * migrations, shards, setting, role), overridden by DBKIT_TENANCY, DBKIT_TENANT_MIGRATIONS_DIR,
 * DBKIT_TENANT_TABLE and DBKIT_TENANT_SHARDS. Without either: rls, migrate-all applying the
 * project's migrations to each shard.
 */
export const layerConfig = (
  options: Pick<TenancyOptions, "migrator"> = {}
): Layer.Layer<
  Tenancy,
  InvalidConfig | InvalidShardFile,
  SqlClient.SqlClient | Database | DbConfig | CommandExecutor.CommandExecutor
> =>
  Layer.unwrapEffect(
    Effect.gen(function*() {
      const project = yield* Project.current
      const config = yield* DbConfig
      const settings = project.tenancy
      const directory = settings.strategy === "schema" ? settings.migrationsDir : config.migrationsDir
      const shards = settings.shards === undefined
        ? new Map()
        : typeof settings.shards === "string"
        ? yield* ShardFile.load(settings.shards)
        : yield* ShardFile.fromEntries(project.file ?? "dbkit.config.ts", settings.shards)
      return layer({
        ...options,
        strategy: settings.strategy,
        migrations: fs.existsSync(directory) ? fromDirectory(directory) : undefined,
        migrationsDirectory: directory,
        tenantTable: settings.tenantTable,
        setting: settings.setting,
        role: settings.role,
        shards
      })
    })
  )
