/**
 * The registry as the service reads it (every tenant, one tenant) and the two status changes,
 * suspend and resume. Each makes sure the registry exists first (once per service).
 */
import * as Effect from "effect/Effect"
import { ensureRegistry, type TenancyContext } from "./context.js"
import { TenantNotFound, TenantUnavailable } from "./errors.js"
import * as Registry from "./registry.js"

/** Every tenant, by slug. */
export const all = (context: TenancyContext) => Effect.zipRight(ensureRegistry(context), Registry.all)

/** One tenant by id, slug or domain. */
export const get = (context: TenancyContext, tenant: string) =>
  Effect.zipRight(ensureRegistry(context), Registry.find(tenant)).pipe(
    Effect.flatMap((found) => (found ? Effect.succeed(found) : Effect.fail(new TenantNotFound({ tenant }))))
  )

/** A row this call just wrote (its absence would be a bug, not an outcome). */
export const reread = (context: TenancyContext, id: string) =>
  Effect.catchTag(get(context, id), "TenantNotFound", (error) => Effect.die(error))

/** Moves a tenant from status `from` to `to`; already `to` is done, any other status is refused. */
export const setStatus = (
  context: TenancyContext,
  slug: string,
  from: Registry.TenantStatus,
  to: Registry.TenantStatus
) =>
  Effect.gen(function*() {
    const tenant = yield* get(context, slug)
    if (tenant.status === to) return tenant
    if (tenant.status !== from) return yield* new TenantUnavailable({ slug: tenant.slug, status: tenant.status })
    yield* context.sql`UPDATE dbkit.tenants SET status = ${to}, updated_at = now() WHERE id = ${tenant.id}::uuid`
    return yield* get(context, tenant.id)
  })
