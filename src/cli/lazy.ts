/**
 * Command handlers that load their implementation on first use. The command definitions
 * (names, options, descriptions) are all built at start — `--help` and parsing need them — but
 * a handler's module, and the services, drivers and Node built-ins it imports, load only when
 * that command runs: `dbkit backup` does not evaluate the health checks, `--help` evaluates
 * none of them. The bundle lowers `import()` to a lazily initialised `require()`.
 */
import * as Effect from "effect/Effect"

/**
 * Whether a command's handler has started: until then, what reaches stderr is @effect/cli's
 * own report of a command line it could not parse (main.ts prefixes it with `error:`).
 */
export const handlerStarted = { value: false }

/** Loads a module (once; later calls reuse it), then runs the effect `run` makes with it. */
export const lazy = <M, A, E, R>(
  load: () => Promise<M>,
  run: (module: M) => Effect.Effect<A, E, R>
): Effect.Effect<A, E, R> =>
  Effect.flatMap(
    Effect.sync(() => (handlerStarted.value = true)),
    () => Effect.flatMap(Effect.promise(load), run)
  )
