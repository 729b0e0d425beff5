/**
 * What the registry accepts from outside: slugs (and the schema name derived from one), domains,
 * plans and metadata. Pure checks, each refusing with a typed error that says what to use instead.
 */
import * as Effect from "effect/Effect"
import { InvalidTenantAttribute, InvalidTenantSlug } from "./errors.js"

/** Names a tenant may not take: they would shadow PostgreSQL's or dbkit's own. */
const RESERVED = new Set([
  "public",
  "dbkit",
  "default",
  "information_schema",
  "postgres",
  "template0",
  "template1",
  "admin",
  "root",
  "system",
  "shared",
  "tenant",
  "tenants",
  "all",
  "none"
])

const SLUG = /^[a-z][a-z0-9_-]*$/
export const MAX_SLUG = 40

/**
 * A slug is lower-case ASCII letters, digits, `_` and `-`, starts with a letter, at most 40
 * characters (so `tenant_<slug>` stays well under PostgreSQL's 63), with no `--`, no `-` at the
 * end or beside an `_`, not a uuid (an id is looked up as an id) and not a reserved name.
 * Slugs only ever reach SQL as bound parameters or as the identifier `schemaFor` derives.
 */
export const validateSlug = (slug: string): Effect.Effect<string, InvalidTenantSlug> => {
  const refuse = (reason: string) => Effect.fail(new InvalidTenantSlug({ slug, reason }))
  if (slug.length === 0) return refuse("it is empty")
  if (slug.length > MAX_SLUG) return refuse(`it is longer than ${MAX_SLUG} characters`)
  if (!SLUG.test(slug)) {
    return refuse("use lower-case letters (a-z), digits, _ and -, starting with a letter")
  }
  if (slug.includes("--")) return refuse("it contains -- (a SQL comment marker); use a single -")
  if (slug.endsWith("-")) return refuse("it ends with -")
  if (slug.includes("-_") || slug.includes("_-")) return refuse("a - may not stand beside an _")
  if (isUuid(slug)) return refuse("it is a uuid; a tenant's id is given with --id")
  const base = slug.replaceAll("-", "_")
  if (RESERVED.has(slug) || RESERVED.has(base) || base.startsWith("pg_")) return refuse("it is a reserved name")
  return Effect.succeed(slug)
}

/**
 * The schema of a schema-strategy tenant: `tenant_` and the slug with each `-` an `_` (a plain
 * identifier, no quoting surprises). `fortium-demo` and `fortium_demo` would share it, so the
 * registry refuses the second (see `schemaOwner`).
 */
export const schemaFor = (slug: string): string => `tenant_${slug.replaceAll("-", "_")}`

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
export const isUuid = (text: string): boolean => UUID.test(text)

const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/
/** The largest `metadata` the registry keeps, as JSON text. */
export const MAX_METADATA_BYTES = 16 * 1024
export const MAX_PLAN = 40
const PLAN = /^[A-Za-z0-9][A-Za-z0-9 _.+-]*$/

/** A host name as the registry keeps it (lower-case, at least two labels, no trailing dot), or why not. */
export const validateDomain = (domain: string): Effect.Effect<string, InvalidTenantAttribute> => {
  const refuse = (reason: string) => Effect.fail(new InvalidTenantAttribute({ field: "domain", value: domain, reason }))
  const host = domain.toLowerCase()
  if (host.length === 0) return refuse("it is empty")
  if (host.length > 253) return refuse("it is longer than 253 characters")
  const labels = host.split(".")
  if (labels.length < 2) return refuse("use a full host name such as acme.example.com")
  if (!labels.every((label) => LABEL.test(label))) {
    return refuse("each dot-separated part is ASCII letters, digits and inner -, 1 to 63 characters")
  }
  if (/^[0-9]+$/.test(labels[labels.length - 1]!)) return refuse("an IP address is not a domain")
  return Effect.succeed(host)
}

/** A plan name: short text (letters, digits, space, `_ . + -`, at most 40), or why not. */
export const validatePlan = (plan: string): Effect.Effect<string, InvalidTenantAttribute> =>
  plan.length === 0 || plan.length > MAX_PLAN || !PLAN.test(plan)
    ? Effect.fail(
      new InvalidTenantAttribute({
        field: "plan",
        value: plan,
        reason: `use 1 to ${MAX_PLAN} letters, digits, spaces or _ . + -, starting with a letter or digit`
      })
    )
    : Effect.succeed(plan)

/** Metadata: a JSON object (given as one, or as its text) of at most 16 KB, or why not. */
export const validateMetadata = (
  metadata: unknown
): Effect.Effect<Readonly<Record<string, unknown>>, InvalidTenantAttribute> =>
  Effect.suspend(() => {
    const refuse = (reason: string) =>
      Effect.fail(
        new InvalidTenantAttribute({
          field: "metadata",
          value: typeof metadata === "string" ? metadata : "(value)",
          reason
        })
      )
    let value = metadata
    if (typeof metadata === "string") {
      try {
        value = JSON.parse(metadata)
      } catch {
        return refuse("it is not valid JSON")
      }
    }
    if (value === null || typeof value !== "object" || Array.isArray(value)) return refuse("it must be a JSON object")
    let text: string
    try {
      text = JSON.stringify(value)
    } catch {
      return refuse("it cannot be written as JSON")
    }
    if (Buffer.byteLength(text, "utf8") > MAX_METADATA_BYTES) {
      return refuse(`it is larger than ${MAX_METADATA_BYTES / 1024} KB as JSON`)
    }
    // A NUL cannot be stored in jsonb text; refusing it here keeps the failure typed.
    if (text.includes("\\u0000")) return refuse("it contains a NUL character")
    return Effect.succeed(JSON.parse(text) as Record<string, unknown>)
  })

/** What a registry row says beyond its slug, validated. */
export interface TenantAttributes {
  readonly domain: string | null
  readonly plan: string | null
  readonly metadata: Readonly<Record<string, unknown>>
}

/** Checks the optional domain, plan and metadata of a new tenant; nothing given is null / `{}`. */
export const validateAttributes = (input: {
  readonly domain?: string | undefined
  readonly plan?: string | undefined
  readonly metadata?: unknown
}): Effect.Effect<TenantAttributes, InvalidTenantAttribute> =>
  Effect.all({
    domain: input.domain === undefined ? Effect.succeed(null) : validateDomain(input.domain),
    plan: input.plan === undefined ? Effect.succeed(null) : validatePlan(input.plan),
    metadata: input.metadata === undefined ? Effect.succeed({}) : validateMetadata(input.metadata)
  })
