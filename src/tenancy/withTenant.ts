/**
 * `withTenant`: runs an effect as one tenant, in one transaction whose first statement looks the
 * tenant up and sets it (see `enterStatement`) with `set_config(…, true)`, so nothing of the
 * tenant stays on the pooled connection afterwards. A `FiberRef` refuses nesting another tenant.
 */
import type { SqlError } from "@effect/sql/SqlError"
import * as Effect from "effect/Effect"
import * as FiberRef from "effect/FiberRef"
import * as Option from "effect/Option"
import { ensureRegistry, type TenancyContext } from "./context.js"
import { TenantNestingRefused, TenantNotFound, TenantUnavailable } from "./errors.js"
import type * as Registry from "./registry.js"
import { isUuid, validateSlug } from "./validate.js"

export type TenantError = TenantNotFound | TenantUnavailable | TenantNestingRefused | SqlError

/** The tenant the current fiber is inside `withTenant` for. */
const currentTenant = FiberRef.unsafeMake(Option.none<{ readonly id: string; readonly slug: string }>())

/**
 * Runs `effect` as `tenant` (its id or slug): in one transaction, seeing only that tenant's
 * rows (rls) or schema (schema). A failure rolls back; nothing stays on the connection.
 */
export const withTenant = <A, E, R>(
  context: TenancyContext,
  tenant: string,
  effect: Effect.Effect<A, E, R>
): Effect.Effect<A, E | TenantError, R> =>
  Effect.flatMap(FiberRef.get(currentTenant), (outer): Effect.Effect<A, E | TenantError, R> => {
    // Inside withTenant already: the same tenant just runs; another tenant is refused —
    // a nested transaction is a savepoint, and the inner tenant's settings would outlive it.
    if (Option.isSome(outer)) {
      return outer.value.id === tenant.toLowerCase() || outer.value.slug === tenant
        ? effect
        : Effect.fail(new TenantNestingRefused({ outer: outer.value.slug, inner: tenant }))
    }
    const { enter, sql, strategy } = context
    return Effect.gen(function*() {
      if (!isUuid(tenant)) {
        yield* validateSlug(tenant).pipe(Effect.mapError(() => new TenantNotFound({ tenant })))
      }
      yield* ensureRegistry(context)
      return yield* sql.withTransaction(
        Effect.gen(function*() {
          const rows = yield* sql.unsafe<
            { slug: string; status: Registry.TenantStatus; strategy: Registry.Strategy; id: string }
          >(
            enter.text,
            [tenant, ...enter.params]
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
