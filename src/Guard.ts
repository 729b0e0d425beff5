/**
 * Guard: the one gate in front of everything destructive (reset, restore over a database,
 * rollback, tenant deprovision, erasure).
 *
 * An action named by its variable prefix (e.g. `DB_RESET`) proceeds only when
 * `<PREFIX>_CONFIRM=1` is set, `--yes` was given, or a user at a terminal types the database
 * name. In production it additionally needs `<PREFIX>_ALLOW_PRODUCTION=1`. A refusal is a typed
 * error raised before anything is touched.
 */
import * as Terminal from "@effect/platform/Terminal"
import * as Config from "effect/Config"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { DbConfig, type Environment } from "./Config.js"

/** What a destructive action asks the guard. */
export interface GuardRequest {
  /** What will happen, for messages: "reset the database". */
  readonly action: string
  /** The variable prefix: `DB_RESET` reads DB_RESET_CONFIRM and DB_RESET_ALLOW_PRODUCTION. */
  readonly variable: string
  /** The database (or tenant) the action hits; an interactive user must type it. */
  readonly target: string
  /** `--yes` on the command line. */
  readonly yes?: boolean | undefined
}

/** How the action was allowed, for the log line that precedes it. */
export type Confirmation = "variable" | "flag" | "prompt"

/** What a user at a terminal answered when asked to type a word: it, something else, or nobody was there to ask. */
export type Answer = "typed" | "mismatch" | "no terminal"

/** The action needs an explicit confirmation that was not given. */
export class ConfirmationRequired extends Data.TaggedError("ConfirmationRequired")<{
  readonly action: string
  readonly variable: string
  readonly target: string
  readonly reason: string
}> {
  override get message() {
    return `refusing to ${this.action} on ${this.target}: ${this.reason}. Set ${this.variable}_CONFIRM=1 or pass --yes to proceed`
  }
}

/** The action was refused because the environment is production. */
export class ProductionRefused extends Data.TaggedError("ProductionRefused")<{
  readonly action: string
  readonly variable: string
  readonly target: string
}> {
  override get message() {
    return `refusing to ${this.action} on ${this.target} in production. Set ${this.variable}_ALLOW_PRODUCTION=1 as well as confirming, if you really mean it`
  }
}

export type GuardError = ConfirmationRequired | ProductionRefused

const isSet = (name: string) =>
  Config.string(name).pipe(
    Config.map((value) => ["1", "true", "yes"].includes(value.trim().toLowerCase())),
    Config.withDefault(false),
    Effect.orElseSucceed(() => false)
  )

const make = Effect.gen(function*() {
  const config = yield* DbConfig
  const terminal = yield* Terminal.Terminal

  const ask = (question: string, expected: string): Effect.Effect<Answer> =>
    Effect.gen(function*() {
      const ci = yield* isSet("CI")
      const interactive = !ci && (yield* terminal.isTTY)
      if (!interactive) return "no terminal"
      yield* terminal.display(question).pipe(Effect.orDie)
      const answer = yield* terminal.readLine.pipe(Effect.orElseSucceed(() => ""))
      return answer.trim() === expected ? "typed" : "mismatch"
    })

  const prompt = (request: GuardRequest, environment: Environment) =>
    ask(
      `About to ${request.action} on ${request.target} (${environment}).\n` +
        `Type the database name (${request.target}) to confirm: `,
      request.target
    )

  const confirm = (request: GuardRequest): Effect.Effect<Confirmation, GuardError> =>
    Effect.gen(function*() {
      const fail = (reason: string) =>
        Effect.fail(
          new ConfirmationRequired({
            action: request.action,
            variable: request.variable,
            target: request.target,
            reason
          })
        )
      if (config.environment === "production" && !(yield* isSet(`${request.variable}_ALLOW_PRODUCTION`))) {
        return yield* Effect.fail(
          new ProductionRefused({ action: request.action, variable: request.variable, target: request.target })
        )
      }
      if (yield* isSet(`${request.variable}_CONFIRM`)) return "variable" as const
      if (request.yes === true) return "flag" as const
      const answer = yield* prompt(request, config.environment)
      if (answer === "no terminal") return yield* fail("no confirmation given and no terminal to ask")
      if (answer === "typed") return "prompt" as const
      return yield* fail("the name typed did not match")
    })

  return { confirm, ask } as const
})

/** The guard service. */
export class Guard extends Context.Tag("dbkit/Guard")<Guard, {
  /** Succeeds only when the action is confirmed (and allowed in production); changes nothing. */
  readonly confirm: (request: GuardRequest) => Effect.Effect<Confirmation, GuardError>
  /** Shows `question` to a user at a terminal (never under CI) and reads whether they typed `expected`. */
  readonly ask: (question: string, expected: string) => Effect.Effect<Answer>
}>() {
  /** The guard over DbConfig and the terminal. */
  static get layer(): typeof layer {
    return layer
  }
}

/** The guard, reading the environment through the current ConfigProvider and asking on the Terminal. */
export const layer: Layer.Layer<Guard, never, DbConfig | Terminal.Terminal> = Layer.effect(Guard, make)
