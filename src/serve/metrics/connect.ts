/**
 * Connecting on demand, once: a layer (a database pool and the services over it) built on the
 * first call that needs it and again on each later call until a build succeeds, then shared by
 * every caller for the life of the enclosing scope. A failed build closes what it opened. This is
 * how one `dbkit serve` process starts while its database is down, and how the health routes
 * and the metrics share one pool (and, on the embedded database, the one data directory).
 */
import type * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as ExecutionStrategy from "effect/ExecutionStrategy"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"

/** An effect that builds `layer` once it can and returns the same services ever after. */
export const buildOnce = <A, E, R>(
  layer: Layer.Layer<A, E, R>
): Effect.Effect<Effect.Effect<Context.Context<A>, E>, never, Scope.Scope | R> =>
  Effect.gen(function*() {
    const scope = yield* Effect.scope
    const provided = yield* Effect.context<R>()
    const lock = yield* Effect.makeSemaphore(1)
    let built: Option.Option<Context.Context<A>> = Option.none()
    const attempt = Effect.gen(function*() {
      const child = yield* Scope.fork(scope, ExecutionStrategy.sequential)
      return yield* Layer.buildWithScope(layer, child).pipe(
        Effect.onError((cause) => Scope.close(child, Exit.failCause(cause)))
      )
    }).pipe(Effect.provide(provided))
    return lock.withPermits(1)(
      Effect.suspend(() =>
        Option.isSome(built)
          ? Effect.succeed(built.value)
          : Effect.tap(attempt, (context) => Effect.sync(() => (built = Option.some(context))))
      )
    )
  })

/** `layer` built once on first use and shared: every build of the result hands out the same services. */
export const shared = <A, E, R>(
  layer: Layer.Layer<A, E, R>
): Effect.Effect<Layer.Layer<A, E>, never, Scope.Scope | R> => Effect.map(buildOnce(layer), Layer.effectContext)
