/**
 * Handlers of `dbkit tenant …` (definitions in index.ts).
 */
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { TenantMigrationsFailed } from "../../tenancy/errors.js"
import { Tenancy, type Tenant } from "../../tenancy/Tenancy.js"
import { GuardLive } from "../live.js"
import type { Parsed } from "../options.js"
import { banner, duration, json, statusLine, table } from "../render.js"
import type {
  deprovisionConfig,
  listConfig,
  migrateAllConfig,
  provisionConfig,
  resumeConfig,
  suspendConfig
} from "./index.js"
import { TenancyLive } from "./live.js"

const describeTenant = (t: Tenant) =>
  `${t.slug} (${t.id}) · ${t.strategy}${t.schema ? ` ${t.schema}` : ""} · ${t.status} · shard ${t.shard}` +
  `${t.domain ? ` · ${t.domain}` : ""}${t.plan ? ` · plan ${t.plan}` : ""}`

/** `dbkit tenant provision SLUG`. */
export const provision = (options: Parsed<typeof provisionConfig>) =>
  Effect.gen(function*() {
    const tenancy = yield* Tenancy
    if (!options.json) yield* banner("tenant provision")
    const result = yield* tenancy.provision(options.slug, {
      name: Option.getOrUndefined(options.name),
      shard: Option.getOrUndefined(options.shard),
      id: Option.getOrUndefined(options.id),
      domain: Option.getOrUndefined(options.domain),
      plan: Option.getOrUndefined(options.plan),
      metadata: Option.getOrUndefined(options.metadata)
    })
    if (options.json) return yield* json(result)
    yield* Console.log(
      `${result.created ? "provisioned" : "already provisioned"}: ${describeTenant(result.tenant)}` +
        (result.applied > 0 ? ` · ${result.applied} tenant migration${result.applied === 1 ? "" : "s"} applied` : "")
    )
  }).pipe(Effect.provide(TenancyLive))

/** `dbkit tenant list`. */
export const list = (options: Parsed<typeof listConfig>) =>
  Effect.gen(function*() {
    const tenants = yield* (yield* Tenancy).list
    if (options.json) return yield* json(tenants)
    if (tenants.length === 0) return yield* Console.log("no tenants")
    yield* Console.log(table(
      ["slug", "id", "strategy", "schema", "status", "shard", "domain", "plan", "last migrate-all"],
      tenants.map((t) => [
        t.slug,
        t.id,
        t.strategy,
        t.schema ?? "",
        t.status,
        t.shard,
        t.domain ?? "",
        t.plan ?? "",
        t.migration
          ? `${t.migration.state}${t.migration.at ? ` ${t.migration.at.slice(0, 19).replace("T", " ")}` : ""}`
          : ""
      ])
    ))
  }).pipe(Effect.provide(TenancyLive))

/** `dbkit tenant suspend SLUG`. */
export const suspend = (options: Parsed<typeof suspendConfig>) =>
  Effect.gen(function*() {
    const tenant = yield* (yield* Tenancy).suspend(options.slug)
    if (options.json) return yield* json(tenant)
    yield* Console.log(`suspended: ${describeTenant(tenant)} (withTenant refuses it; its data stays)`)
  }).pipe(Effect.provide(TenancyLive))

/** `dbkit tenant resume SLUG`. */
export const resume = (options: Parsed<typeof resumeConfig>) =>
  Effect.gen(function*() {
    const tenant = yield* (yield* Tenancy).resume(options.slug)
    if (options.json) return yield* json(tenant)
    yield* Console.log(`active: ${describeTenant(tenant)}`)
  }).pipe(Effect.provide(TenancyLive))

/** `dbkit tenant deprovision SLUG`. */
export const deprovision = (options: Parsed<typeof deprovisionConfig>) =>
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
  }).pipe(Effect.provide(GuardLive), Effect.provide(TenancyLive))

/** `dbkit tenant migrate-all`. */
export const migrateAll = (options: Parsed<typeof migrateAllConfig>) =>
  Effect.gen(function*() {
    const tenancy = yield* Tenancy
    if (!options.json) yield* banner("tenant migrate-all")
    const width = (n: number) => String(n).length
    // A line per finished target; on a terminal, a live line below them names the ones running.
    const live = statusLine()
    const running = new Set<string>()
    let finished = 0
    const showRunning = (total: number, now = false) =>
      live.show(`  … ${finished}/${total} done · migrating ${[...running].join(", ")}`, now)
    const report = yield* tenancy.migrateAll({
      concurrency: options.concurrency,
      resume: options.resume,
      onStart: options.json ? undefined : (target, total) =>
        Effect.suspend(() => {
          running.add(target)
          return showRunning(total, finished === 0 && running.size === 1)
        }),
      onResult: options.json ? undefined : (r, done, total) =>
        Effect.suspend(() => {
          running.delete(r.target)
          finished = done
          return live.clear.pipe(
            Effect.zipRight(Console.log(
              `[${String(done).padStart(width(total))}/${total}] ${r.target}${
                r.shard === "default" ? "" : ` @${r.shard}`
              }  ` +
                (r.state === "failed"
                  ? `FAILED: ${r.error}`
                  : r.state === "applied"
                  ? `applied ${r.applied}`
                  : "up to date") +
                `  ${duration(r.durationMs)}`
            )),
            Effect.zipRight(running.size > 0 ? showRunning(total, true) : Effect.void)
          )
        })
    }).pipe(Effect.ensuring(live.clear))
    if (options.json) yield* json(report)
    else {
      const rate = report.results.length / Math.max(report.durationMs / 1000, 0.001)
      yield* Console.log(
        `${report.results.length} target(s): ${report.applied} applied, ${report.upToDate} up to date, ${report.failed} failed · ` +
          `${duration(report.durationMs)} (${rate.toFixed(1)}/s, concurrency ${options.concurrency})`
      )
    }
    if (report.failed > 0) {
      return yield* new TenantMigrationsFailed({ failed: report.failed, total: report.results.length })
    }
  }).pipe(Effect.provide(TenancyLive))
