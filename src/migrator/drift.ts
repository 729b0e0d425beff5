/** `drift`: every migration replayed into a scratch database, its catalog compared with this one. */
import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"
import { Database } from "../Database.js"
import * as Scratch from "../Scratch.js"
import * as Catalog from "./catalog.js"
import type { MigratorContext } from "./context.js"
import type { DriftOptions, DriftReport } from "./types.js"

/** Replays every migration into a scratch database and compares its catalog with this one. */
export const drift = (ctx: MigratorContext, driftOptions: DriftOptions = {}) =>
  Effect.scoped(
    Effect.gen(function*() {
      const onEvent = driftOptions.onEvent ?? (() => Effect.void)
      const scratch = yield* Scratch.make("dbkit_drift")
      const replay = ctx.replay(ctx.options, { allowOutOfOrder: true, onEvent }).pipe(
        Effect.zipRight(Effect.suspend(() => onEvent({ _tag: "Comparing" }))),
        Effect.zipRight(Catalog.snapshot(ctx.catalogScope))
      )
      const expected = yield* replay.pipe(Effect.provide(scratch.layer))
      const actual = yield* Catalog.snapshot(ctx.catalogScope).pipe(Effect.provideService(SqlClient.SqlClient, ctx.sql))
      return { target: ctx.target, differences: Catalog.diff(expected, actual) } satisfies DriftReport
    })
  ).pipe(Effect.provideService(SqlClient.SqlClient, ctx.sql), Effect.provideService(Database, ctx.database))
