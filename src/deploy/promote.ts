/**
 * Promotion between environments: what `to` lacks of what `from` has applied (names and
 * checksums from each one's history), optionally the catalog differences, and the blockers
 * that make a promotion unsafe. Applying it is a deploy to `to` that stops at the last migration
 * `from` has (see Deploy.run's `to` and `promotion`).
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Effect from "effect/Effect"
import { Database } from "../Database.js"
import * as Catalog from "../migrator/catalog.js"
import type { MigrationSourceError } from "../migrator/errors.js"
import * as History from "../migrator/history.js"
import { Migrator } from "../migrator/Migrator.js"
import type { HistoryRow } from "../migrator/plan.js"
import type { Migration } from "../migrator/source.js"

/** One environment's migration state (and catalog, when asked). */
export interface EnvironmentState {
  readonly target: string
  readonly migrations: ReadonlyArray<Migration>
  readonly history: ReadonlyArray<HistoryRow>
  readonly catalog: Catalog.CatalogSnapshot | null
}

export interface EnvironmentDiff {
  readonly from: { readonly environment: string; readonly target: string; readonly head: string | null }
  readonly to: { readonly environment: string; readonly target: string; readonly head: string | null }
  /** Applied on `from`, not on `to`, in source order: what a promotion applies. */
  readonly toApply: ReadonlyArray<string>
  /** The migration a promotion stops after (the last one applied on `from`). */
  readonly until: string | null
  /** Why a promotion would not apply exactly `toApply` (it is then refused). */
  readonly problems: ReadonlyArray<string>
  /** `--schema`: catalog differences (expected = from, actual = to). */
  readonly schema: ReadonlyArray<Catalog.CatalogDifference> | null
}

/** Reads the state of the environment whose services are in context. */
export const readState = (
  options: { readonly schema?: boolean | undefined } = {}
): Effect.Effect<EnvironmentState, MigrationSourceError | SqlError, Migrator | SqlClient.SqlClient | Database> =>
  Effect.gen(function*() {
    const migrator = yield* Migrator
    const sql = yield* SqlClient.SqlClient
    const database = yield* Database
    const migrations = yield* migrator.migrations
    const history = yield* History.readHistory((text, params = []) => sql.unsafe(text, params as Array<unknown>), {
      schema: "dbkit",
      table: "migrations"
    })
    const catalog = options.schema ? yield* Catalog.snapshot() : null
    return { target: database.target, migrations, history, catalog }
  })

/** Compares two environments' states; pure. */
export const compareStates = (
  names: { readonly from: string; readonly to: string },
  from: EnvironmentState,
  to: EnvironmentState
): EnvironmentDiff => {
  const applied = (state: EnvironmentState) =>
    new Map(state.history.filter((r) => r.status === "applied").map((r) => [r.name, r]))
  const onFrom = applied(from)
  const onTo = applied(to)
  const order = from.migrations.map((m) => m.name)
  const byName = new Map(from.migrations.map((m) => [m.name, m]))
  const head = (rows: Map<string, HistoryRow>) => [...rows.keys()].at(-1) ?? null
  const problems: Array<string> = []
  for (const [name, row] of onTo) {
    if (!onFrom.has(name)) problems.push(`${name} is applied on ${names.to} but not on ${names.from}`)
    else if (onFrom.get(name)!.checksum !== row.checksum) {
      problems.push(`${name} differs between ${names.from} and ${names.to} (checksum)`)
    }
  }
  for (const row of [...from.history, ...to.history]) {
    if (row.status !== "applied") {
      problems.push(`${row.name} is recorded as ${row.status}; run dbkit migrate repair first`)
    }
  }
  const toApply = order.filter((name) => onFrom.has(name) && !onTo.has(name))
  for (const [name, row] of onFrom) {
    const migration = byName.get(name)
    if (migration === undefined) {
      problems.push(`${name} is applied on ${names.from} but missing from the migrations folder`)
    } else if (!onTo.has(name) && migration.checksum !== row.checksum) {
      problems.push(`${name} in the migrations folder differs from what ${names.from} applied`)
    }
  }
  const until = [...order].reverse().find((name) => onFrom.has(name)) ?? null
  if (until !== null) {
    const last = order.indexOf(until)
    const skipped = order.filter((name, i) => i <= last && !onFrom.has(name) && !onTo.has(name))
    if (skipped.length > 0) {
      problems.push(
        `${skipped.join(", ")} would be applied too but ${
          skipped.length === 1 ? "is" : "are"
        } not applied on ${names.from}`
      )
    }
  }
  return {
    from: { environment: names.from, target: from.target, head: head(onFrom) },
    to: { environment: names.to, target: to.target, head: head(onTo) },
    toApply,
    until,
    problems: [...new Set(problems)],
    schema: from.catalog !== null && to.catalog !== null ? Catalog.diff(from.catalog, to.catalog) : null
  }
}
