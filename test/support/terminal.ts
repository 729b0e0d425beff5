/**
 * A terminal with scripted answers that records what it was shown: the user side of the
 * Guard's prompt (the database side of every test is real).
 */
import * as Terminal from "@effect/platform/Terminal"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Config from "../../src/Config.js"
import * as Guard from "../../src/Guard.js"

export const scriptedTerminal = (tty: boolean, answers: ReadonlyArray<string> = []) => {
  const shown: Array<string> = []
  const queue = [...answers]
  const layer = Layer.succeed(Terminal.Terminal, {
    columns: Effect.succeed(80),
    rows: Effect.succeed(24),
    isTTY: Effect.succeed(tty),
    readInput: Effect.die("not used"),
    readLine: Effect.sync(() => queue.shift() ?? ""),
    display: (text: string) => Effect.sync(() => void shown.push(text))
  })
  return { layer, shown }
}

/** A Guard with no terminal to ask, in the given environment. */
export const NonInteractiveGuard = (environment: Config.Environment = "development") =>
  Guard.layer.pipe(
    Layer.provide(scriptedTerminal(false).layer),
    Layer.provide(Config.layerFrom({ environment }))
  )
