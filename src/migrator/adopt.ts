/** History without running migrations: `baseline`, `adopt` (drizzle, @effect/sql) and `repair`. */
import * as Effect from "effect/Effect"
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import { ensureNotBlocked, indexOf } from "./checks.js"
import { locked, type MigratorContext } from "./context.js"
import { UnknownMigration } from "./errors.js"
import * as History from "./history.js"
import type { Migration } from "./source.js"

/** Records migrations up to `to` as applied without running them. */
export const baseline = (ctx: MigratorContext, opts: { readonly to: string }) =>
  locked(ctx, () => Effect.void, (state) =>
    Effect.gen(function*() {
      yield* ensureNotBlocked(state.status)
      const last = yield* indexOf(state.migrations, opts.to)
      const pending = new Set(state.status.pending)
      const marked = state.migrations.filter((m, index) => index <= last && pending.has(m.name))
      for (const m of marked) {
        yield* History.recordAssumed(state.run, ctx.table, m.name, m.checksum, `baseline by ${History.appliedBy()}`)
      }
      return { marked: marked.map((m) => m.name) }
    }))

/** Imports drizzle-orm's and @effect/sql's history, so nothing re-runs. */
export const adopt = (ctx: MigratorContext) =>
  locked(ctx, () => Effect.void, (state) =>
    Effect.gen(function*() {
      const known = new Set(state.history.map((row) => row.name))
      const drizzle = yield* History.drizzleHistory(state.run)
      const effectSql = yield* History.effectSqlHistory(state.run)
      const rawHash = (m: Migration) =>
        m.file === "code" || !fs.existsSync(m.file)
          ? undefined
          : createHash("sha256").update(fs.readFileSync(m.file, "utf8")).digest("hex")
      const byHash = new Map(state.migrations.flatMap((m) => {
        const hash = rawHash(m)
        return hash ? [[hash, m] as const] : []
      }))
      const byNumber = new Map(state.migrations.flatMap((m) => {
        const match = /^(\d+)_/.exec(m.name)
        return match ? [[Number(match[1]), m] as const] : []
      }))
      const found = new Map<string, { from: "drizzle" | "@effect/sql"; at: Date }>()
      const unmatched: Array<string> = []
      for (const row of drizzle) {
        const m = byHash.get(row.hash)
        if (m) found.set(m.name, { from: "drizzle", at: new Date(row.createdAt) })
        else {unmatched.push(
            `drizzle migration with hash ${row.hash.slice(0, 12)}… (created ${new Date(row.createdAt).toISOString()})`
          )}
      }
      for (const row of effectSql) {
        const m = byNumber.get(row.id)
        if (m && !found.has(m.name)) found.set(m.name, { from: "@effect/sql", at: new Date(row.createdAt) })
        else if (!m) unmatched.push(`@effect/sql migration ${row.id}_${row.name}`)
      }
      const adopted: Array<{ name: string; from: "drizzle" | "@effect/sql" }> = []
      for (const m of state.migrations) {
        const hit = found.get(m.name)
        if (!hit || known.has(m.name)) continue
        yield* History.recordAssumed(state.run, ctx.table, m.name, m.checksum, `adopted from ${hit.from}`, hit.at)
        adopted.push({ name: m.name, from: hit.from })
      }
      return { adopted, unmatched }
    }))

/** Accepts changed checksums and clears failed records (or marks them applied). */
export const repair = (ctx: MigratorContext, opts: { readonly markApplied?: ReadonlyArray<string> | undefined } = {}) =>
  locked(ctx, () => Effect.void, (state) =>
    Effect.gen(function*() {
      const failed = new Set(state.status.failed.map((f) => f.name))
      for (const name of opts.markApplied ?? []) {
        if (!failed.has(name)) {
          return yield* new UnknownMigration({ name, known: [...failed] })
        }
      }
      const byName = new Map(state.migrations.map((m) => [m.name, m]))
      const markApplied = new Set(opts.markApplied ?? [])
      const result = {
        checksumsAccepted: [] as Array<string>,
        cleared: [] as Array<string>,
        markedApplied: [] as Array<string>
      }
      for (const changed of state.status.changed) {
        yield* History.acceptChecksum(state.run, ctx.table, changed.name, changed.current)
        result.checksumsAccepted.push(changed.name)
      }
      for (const name of failed) {
        const migration = byName.get(name)
        if (markApplied.has(name) && migration) {
          yield* History.recordApplied(state.run, ctx.table, name, migration.checksum, 0)
          result.markedApplied.push(name)
        } else {
          yield* History.deleteRecord(state.run, ctx.table, name)
          result.cleared.push(name)
        }
      }
      return result
    }))
