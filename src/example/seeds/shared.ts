/**
 * What the reference and development seeds share: exact money in integer cents, UTC dates by
 * arithmetic, the organizations a run targets (all, or the `--tenant` one), and the sizes a
 * scale gives.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"

/** `--tenant SLUG` names no organization. */
export class OrganizationNotFound extends Data.TaggedError("OrganizationNotFound")<{ readonly slug: string }> {
  override get message() {
    return `no organization with slug ${this.slug} (run the development seeds with --tenant ${this.slug} to create it)`
  }
}

/** Data a seed builds on is missing (a seed it depends on was not run). */
export class MissingPrerequisite
  extends Data.TaggedError("MissingPrerequisite")<{ readonly what: string; readonly hint: string }>
{
  override get message() {
    return `${this.what} missing: ${this.hint}`
  }
}

export const DAY_MS = 86_400_000

/** Generated data lives around fixed dates, never the clock: organizations in 2024, invoices in 2025. */
export const BASE_2024 = Date.UTC(2024, 0, 1)
export const BASE_2025 = Date.UTC(2025, 0, 1)

/** Integer cents as numeric text: 123456 → "1234.56" (non-negative amounts only). */
export const money = (cents: number): string => {
  if (!Number.isSafeInteger(cents) || cents < 0) {
    throw new RangeError(`not a non-negative whole number of cents: ${cents}`)
  }
  const rest = cents % 100
  return `${(cents - rest) / 100}.${rest < 10 ? "0" : ""}${rest}`
}

/** A UTC instant's calendar date, `YYYY-MM-DD`. */
export const dateText = (ms: number): string => new Date(ms).toISOString().slice(0, 10)

/** `base × scale` rounded, at least one. */
export const scaled = (base: number, scale: number): number => Math.max(1, Math.round(base * scale))

/**
 * How much the development seeds generate at a scale: rows grow linearly with it. A full run
 * makes 5 × scale organizations sharing 100 × scale customers and 250 × scale invoices (about 20
 * and 50 each: more organizations, not fatter ones); a `--tenant` run makes one organization, so
 * the scale multiplies its own 20 customers and 50 invoices.
 */
export const sizes = {
  organizations: (scale: number) => scaled(5, scale),
  customers: (scale: number) => scaled(100, scale),
  invoices: (scale: number) => scaled(250, scale),
  /** Customers of each organization a run generates for: its share of the total, or the `--tenant` one's own. */
  customersPerOrganization: (scale: number, tenant = false) =>
    tenant ? scaled(20, scale) : shareOf(sizes.customers(scale), scale),
  /** Invoices of each organization a run generates for, likewise. */
  invoicesPerOrganization: (scale: number, tenant = false) =>
    tenant ? scaled(50, scale) : shareOf(sizes.invoices(scale), scale),
  usersPerOrganization: { min: 3, max: 8 }
} as const

/** Each of the scale's organizations' equal share of `total` (at least one). */
const shareOf = (total: number, scale: number): number => Math.max(1, Math.round(total / sizes.organizations(scale)))

/** An organization a seed adds data to. */
export interface TargetOrganization {
  readonly id: string
  readonly slug: string
  readonly createdMs: number
  /** Whether it already holds rows in the table asked about (then generated data skips it). */
  readonly populated: boolean
}

/**
 * The organizations a seed works on: the `--tenant` one (failing when it does not exist), else
 * all of them, by slug in byte order. With `table`, each says whether it already has rows there.
 */
export const targetOrganizations = (tenant: Option.Option<string>, table?: string) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const populated = table === undefined ? "false" : `EXISTS (SELECT 1 FROM ${table} x WHERE x.tenant_id = o.id)`
    const rows = yield* sql.unsafe<{ id: string; slug: string; createdMs: string; populated: boolean }>(
      `SELECT o.id::text AS id, o.slug,
              (extract(epoch FROM o.created_at) * 1000)::bigint::text AS "createdMs",
              ${populated} AS populated
         FROM organizations o
        ${Option.isSome(tenant) ? "WHERE o.slug = $1" : ""}
        ORDER BY o.slug COLLATE "C"`,
      Option.isSome(tenant) ? [tenant.value] : []
    )
    if (Option.isSome(tenant) && rows.length === 0) return yield* new OrganizationNotFound({ slug: tenant.value })
    return rows.map((row): TargetOrganization => ({
      id: row.id,
      slug: row.slug,
      createdMs: Number(row.createdMs),
      populated: row.populated === true || (row.populated as unknown) === "t"
    }))
  })

/** Lazily maps each item of `items` to many rows. */
export function* flatMapRows<A, B>(items: Iterable<A>, f: (item: A) => Iterable<B>): Generator<B> {
  for (const item of items) yield* f(item)
}
