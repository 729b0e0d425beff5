import { describe, expect, it } from "@effect/vitest"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Config from "../src/Config.js"
import * as Guard from "../src/Guard.js"
import { scriptedTerminal } from "./support/terminal.js"

const confirm = (
  options: {
    environment?: Config.Environment
    env?: Record<string, string>
    tty?: boolean
    answers?: ReadonlyArray<string>
    yes?: boolean
  }
) => {
  const terminal = scriptedTerminal(options.tty ?? false, options.answers ?? [])
  const effect = Effect.flatMap(
    Guard.Guard,
    (guard) => guard.confirm({ action: "reset the database", variable: "DB_RESET", target: "shop", yes: options.yes })
  ).pipe(
    Effect.provide(
      Guard.layer.pipe(
        Layer.provide(terminal.layer),
        Layer.provide(Config.layerFrom({ environment: options.environment ?? "development" }))
      )
    ),
    Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(options.env ?? {}))))
  )
  return { effect, shown: terminal.shown }
}

describe("Guard", () => {
  it.effect("refuses without a confirmation and without a terminal, telling how to confirm", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(confirm({}).effect)
      expect(error._tag).toBe("ConfirmationRequired")
      expect(error.message).toContain("DB_RESET_CONFIRM=1")
      expect(error.message).toContain("--yes")
    }))

  it.effect("proceeds when the confirm variable is set", () =>
    Effect.gen(function*() {
      expect(yield* confirm({ env: { DB_RESET_CONFIRM: "1" } }).effect).toBe("variable")
      expect(yield* confirm({ env: { DB_RESET_CONFIRM: "true" } }).effect).toBe("variable")
    }))

  it.effect("a confirm variable set to 0 is not a confirmation", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(confirm({ env: { DB_RESET_CONFIRM: "0" } }).effect)
      expect(error._tag).toBe("ConfirmationRequired")
    }))

  it.effect("proceeds with --yes", () =>
    Effect.gen(function*() {
      expect(yield* confirm({ yes: true }).effect).toBe("flag")
    }))

  it.effect("asks a terminal user to type the database name, and proceeds when it matches", () =>
    Effect.gen(function*() {
      const { effect, shown } = confirm({ tty: true, answers: ["shop"] })
      expect(yield* effect).toBe("prompt")
      expect(shown.join("")).toContain("Type the database name (shop)")
    }))

  it.effect("refuses when the name typed at the prompt does not match", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(confirm({ tty: true, answers: ["shop2"] }).effect)
      expect(error._tag).toBe("ConfirmationRequired")
      expect(error.message).toContain("did not match")
    }))

  it.effect("never prompts under CI, even on a terminal", () =>
    Effect.gen(function*() {
      const { effect, shown } = confirm({ tty: true, answers: ["shop"], env: { CI: "true" } })
      const error = yield* Effect.flip(effect)
      expect(error._tag).toBe("ConfirmationRequired")
      expect(shown).toEqual([])
    }))

  it.effect("in production, a confirmation alone is refused", () =>
    Effect.gen(function*() {
      for (const attempt of [{ env: { DB_RESET_CONFIRM: "1" } }, { yes: true }, { tty: true, answers: ["shop"] }]) {
        const error = yield* Effect.flip(confirm({ environment: "production", ...attempt }).effect)
        expect(error._tag).toBe("ProductionRefused")
        expect(error.message).toContain("DB_RESET_ALLOW_PRODUCTION=1")
      }
    }))

  it.effect("in production, the allow variable alone is not a confirmation", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(
        confirm({ environment: "production", env: { DB_RESET_ALLOW_PRODUCTION: "1" } }).effect
      )
      expect(error._tag).toBe("ConfirmationRequired")
    }))

  it.effect("in production, the allow variable plus a confirmation proceeds", () =>
    Effect.gen(function*() {
      const env = { DB_RESET_ALLOW_PRODUCTION: "1", DB_RESET_CONFIRM: "1" }
      expect(yield* confirm({ environment: "production", env }).effect).toBe("variable")
    }))

  it.effect("another action's variables do not confirm this one", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(confirm({ env: { DB_RESTORE_CONFIRM: "1" } }).effect)
      expect(error._tag).toBe("ConfirmationRequired")
    }))
})
