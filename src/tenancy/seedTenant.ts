/**
 * Seeding one tenant: `--tenant` resolved through the registry (id, slug or domain), then the
 * seeds run for that tenant — with its slug (rls: the seeds pick its rows by it) and, for the
 * schema strategy, in its schema (each seed's search_path). A tenant the registry does not know
 * is seeded only when a slug is given for the rls strategy (the seeds create it and register it);
 * an unknown id or domain, or an unknown schema tenant, is TenantNotFound: nothing is created.
 */
import * as Effect from "effect/Effect"
import { Seeder, type SeedOptions } from "../seeder/Seeder.js"
import { TenantNotFound } from "./errors.js"
import * as Registry from "./registry.js"
import { Tenancy } from "./Tenancy.js"

/** The seed options that aim a run at `tenant` (id, slug or domain), or why it cannot be. */
export const seedTarget = (tenant: string) =>
  Effect.gen(function*() {
    const tenancy = yield* Tenancy
    const t = yield* Effect.catchTag(tenancy.get(tenant), "TenantNotFound", () => Effect.succeed(undefined))
    if (t !== undefined) {
      return {
        tenant: t.slug,
        searchPath: t.strategy === "schema" && t.schema !== null ? t.schema : undefined
      } satisfies Pick<SeedOptions, "tenant" | "searchPath">
    }
    if (tenancy.strategy === "schema" || Registry.isUuid(tenant) || tenant.includes(".")) {
      return yield* new TenantNotFound({ tenant })
    }
    yield* Registry.validateSlug(tenant)
    return { tenant, searchPath: undefined } satisfies Pick<SeedOptions, "tenant" | "searchPath">
  })

/** Runs the seeds for one tenant (see the module comment). */
export const seedTenant = (tenant: string, options: Omit<SeedOptions, "tenant" | "searchPath"> = {}) =>
  Effect.gen(function*() {
    const target = yield* seedTarget(tenant)
    return yield* (yield* Seeder).run({ ...options, ...target })
  })
