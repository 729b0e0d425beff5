/**
 * Deterministic, realistic fake values for `privacy anonymize`: one per personal-data category,
 * derived from HMAC-SHA256(runKey, category ‖ NUL ‖ original). Within a run (one random runKey)
 * the same original always gives the same fake, so `users.email` and `customers.email` holding
 * the same address get the same fake and joins on them still hold; without the runKey (never
 * stored or printed) a fake cannot be traced back by hashing guesses. A fake never equals its
 * original (it is derived again with a counter if it would), emails carry 48 bits of the hash so
 * different inputs give different addresses, and the column's SQL type is honoured (varchar(n)
 * length, date, inet/cidr, uuid, integer).
 *
 * Shape-preserving categories (phone, tax_id, iban, identifier) replace digits by digits and
 * letters by letters and keep separators, so an application's parsing still accepts them.
 */
import type { Category } from "./declare.js"
import {
  clip,
  DIGITS,
  digits,
  type Draw,
  draw,
  FIRST_LOCAL,
  keyOf,
  LAST_LOCAL,
  reshape,
  shapeBits
} from "./fakeDraw.js"
import { CITIES, EMAIL_DOMAINS, FIRST, LAST, STREET_KINDS, STREETS, WORDS } from "./fakeWords.js"

/** What the fake is stored as: the column's type, reduced to what faking needs. */
export interface FakeTarget {
  /**
   * `text` (text, varchar, char, citext: the default), `date` (date, timestamp), `inet`, `cidr`,
   * `uuid`, `integer` (smallint, integer, bigint, numeric: digits only).
   */
  readonly kind?: FakeKind | undefined
  /** varchar(n) / char(n): at most this many characters. */
  readonly maxLength?: number | null | undefined
}

export type FakeKind = "text" | "date" | "inet" | "cidr" | "uuid" | "integer"

/** Which column kinds each category can be written to (text always). */
export const kindsFor: Readonly<Record<Category, ReadonlyArray<FakeKind>>> = {
  email: ["text"],
  name: ["text"],
  phone: ["text", "integer"],
  address: ["text"],
  iban: ["text"],
  tax_id: ["text", "integer"],
  date_of_birth: ["text", "date"],
  ip_address: ["text", "inet", "cidr"],
  identifier: ["text", "integer", "uuid"],
  free_text: ["text"]
}

// ---------------------------------------------------------------------------------------------
// the categories

const email = (d: Draw, max: number | null | undefined): string => {
  const first = d.pick(FIRST_LOCAL)
  const last = d.pick(LAST_LOCAL)
  const tag = d.hex(12) // 48 bits: different inputs keep different addresses
  const domain = d.pick(EMAIL_DOMAINS)
  const candidates = [`${first}.${last}.${tag}@${domain}`, `${first[0]}.${last}.${tag}@${domain}`, `${tag}@${domain}`]
  const fits = candidates.find((c) => max === null || max === undefined || c.length <= max)
  if (fits !== undefined) return fits
  // Shorter than an address with its tag: as much of the tag as fits.
  return clip(`${tag}@${domain}`, max)
}

const personName = (d: Draw) => `${d.pick(FIRST)} ${d.pick(LAST)}`

const phone = (d: Draw, original: string): string => {
  const digitCount = original.replace(/[^0-9]/g, "").length
  if (digitCount < 6) return `+1 555 ${100 + d.int(900)} ${String(d.int(10000)).padStart(4, "0")}`
  // Keep the country code (+CC) and a national trunk 0; the subscriber digits are new.
  const trimmed = original.trim()
  const country = /^\+\d{1,3}/.exec(trimmed)?.[0].length ?? (/^00\d{1,3}/.exec(trimmed)?.[0].length ?? 0)
  const trunk = country === 0 && trimmed.startsWith("0") ? 1 : 0
  return reshape(d, trimmed, country + trunk)
}

export const address = (d: Draw, original: string): string => {
  const street = `${1 + d.int(199)} ${d.pick(STREETS)} ${d.pick(STREET_KINDS)}`
  const city = `${String(10000 + d.int(90000))} ${d.pick(CITIES)}`
  return `${street}${original.includes("\n") ? "\n" : ", "}${city}`
}

/** ISO 13616 check digits for country + BBAN. */
export const ibanCheckDigits = (country: string, bban: string): string => {
  const numeric = `${bban}${country}00`.toUpperCase().replace(/[A-Z]/g, (c) => String(c.charCodeAt(0) - 55))
  let remainder = 0
  for (let i = 0; i < numeric.length; i += 7) remainder = Number(`${remainder}${numeric.slice(i, i + 7)}`) % 97
  return String(98 - remainder).padStart(2, "0")
}

/** Whether an IBAN's check digits are right (mod 97 = 1). */
export const ibanValid = (iban: string): boolean => {
  const compact = iban.replace(/\s+/g, "").toUpperCase()
  if (!/^[A-Z]{2}\d{2}[A-Z0-9]{8,30}$/.test(compact)) return false
  return ibanCheckDigits(compact.slice(0, 2), compact.slice(4)) === compact.slice(2, 4)
}

const iban = (d: Draw, original: string): string => {
  const compact = original.replace(/\s+/g, "").toUpperCase()
  const parsed = /^([A-Z]{2})\d{2}([A-Z0-9]{8,30})$/.exec(compact)
  // Same country and BBAN shape as the original (a German one stays German); else a German one.
  const country = parsed?.[1] ?? "DE"
  const bban = parsed ? reshape(d, parsed[2]!) : Array.from({ length: 18 }, () => DIGITS[d.small(10)]).join("")
  const value = `${country}${ibanCheckDigits(country, bban)}${bban}`
  return /\s/.test(original.trim()) ? value.replace(/(.{4})(?=.)/g, "$1 ") : value
}

const taxId = (d: Draw, original: string): string => {
  const trimmed = original.trim()
  if (!/[A-Za-z0-9]/.test(trimmed)) return `DE${Array.from({ length: 9 }, () => DIGITS[d.small(10)]).join("")}`
  // A VAT-style country prefix (DE123456789) stays; the number is new.
  return reshape(d, trimmed, /^[A-Z]{2}(?=[0-9])/.test(trimmed) ? 2 : 0)
}

const DOB_FROM = Date.UTC(1940, 0, 1)
const DOB_DAYS = Math.round((Date.UTC(2006, 11, 31) - DOB_FROM) / 86_400_000)

const dateOfBirth = (d: Draw, original: string): string => {
  const iso = new Date(DOB_FROM + d.int(DOB_DAYS + 1) * 86_400_000).toISOString().slice(0, 10)
  const dotted = /^\s*\d{1,2}\.\d{1,2}\.\d{4}\s*$/.test(original)
  return dotted ? `${iso.slice(8, 10)}.${iso.slice(5, 7)}.${iso.slice(0, 4)}` : iso
}

/** A private IPv4 address (10/8) or a documentation IPv6 one (2001:db8::/32), keeping a /prefix. */
const ipAddress = (d: Draw, original: string, kind: FakeKind): string => {
  const [address, prefixText] = original.trim().split("/")
  const v6 = address!.includes(":")
  const prefix = prefixText !== undefined && /^\d+$/.test(prefixText) ? Number(prefixText) : undefined
  if (!v6) {
    const octets = [10, d.int(256), d.int(256), 1 + d.int(254)]
    if (kind === "cidr") {
      const bits = Math.min(32, prefix ?? 32)
      const masked = octets.map((o, i) => o & (0xff << Math.max(0, 8 - Math.max(0, bits - i * 8))) & 0xff)
      return `${masked.join(".")}/${bits}`
    }
    return `${octets.join(".")}${prefix !== undefined && prefix <= 32 ? `/${prefix}` : ""}`
  }
  const groups = [0x2001, 0x0db8, ...Array.from({ length: 6 }, () => d.int(0x10000))]
  if (kind === "cidr") {
    const bits = Math.min(128, prefix ?? 128)
    const masked = groups.map((g, i) => g & (0xffff << Math.max(0, 16 - Math.max(0, bits - i * 16))) & 0xffff)
    return `${masked.map((g) => g.toString(16)).join(":")}/${bits}`
  }
  return `${groups.map((g) => g.toString(16)).join(":")}${prefix !== undefined && prefix <= 128 ? `/${prefix}` : ""}`
}

/** Enough bits that different identifiers stay different: the original's shape, topped up to 64 bits. */
const identifier = (d: Draw, original: string, kind: FakeKind, max: number | null | undefined): string => {
  if (kind === "uuid") {
    const b = d.bytes(16)
    b[6] = (b[6]! & 0x0f) | 0x40
    b[8] = (b[8]! & 0x3f) | 0x80
    const h = b.toString("hex")
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`
  }
  if (kind === "integer") return digits(d, original)
  const trimmed = original.trim()
  const shaped = reshape(d, trimmed)
  const missing = 64 - shapeBits(trimmed)
  if (missing <= 0) return shaped
  const tag = d.hex(Math.ceil(missing / 4))
  if (max === null || max === undefined || shaped.length + 1 + tag.length <= max) return `${shaped}-${tag}`
  // Too long for the column: the tag (the uniqueness) wins over the shape.
  const room = max - tag.length - 1
  return room > 0 ? `${shaped.slice(0, room)}-${tag}` : tag.slice(0, max)
}

const freeText = (d: Draw, original: string): string => {
  const target = Math.max(1, Math.min(Array.from(original).length, 2000))
  const words: Array<string> = []
  let length = 0
  while (length < target) {
    const word = d.pick(WORDS)
    words.push(word)
    length += word.length + 1
  }
  const text = words.join(" ")
  return `${text[0]!.toUpperCase()}${text.slice(1)}.`
}

const generate = (
  d: Draw,
  category: Category,
  original: string,
  kind: FakeKind,
  max: number | null | undefined
): string => {
  switch (category) {
    case "email":
      return email(d, max)
    case "name":
      return personName(d)
    case "phone":
      return kind === "integer" ? digits(d, original) : phone(d, original)
    case "address":
      return address(d, original)
    case "iban":
      return iban(d, original)
    case "tax_id":
      return kind === "integer" ? digits(d, original) : taxId(d, original)
    case "date_of_birth":
      return kind === "date" ? dateOfBirth(d, "") : dateOfBirth(d, original)
    case "ip_address":
      return ipAddress(d, original, kind)
    case "identifier":
      return identifier(d, original, kind, max)
    case "free_text":
      return freeText(d, original)
  }
}

/**
 * A fake for `original`: the same for the same (category, original, runKey), different from the
 * original, within `target`'s length and type. Empty and blank values hold nothing personal and
 * come back unchanged.
 */
export const fake = (category: Category, original: string, runKey: Buffer, target: FakeTarget = {}): string => {
  if (original.trim() === "") return original
  const key = keyOf(runKey)
  const kind = target.kind ?? "text"
  const max = kind === "text" ? target.maxLength : null
  for (let attempt = 0; attempt < 1000; attempt++) {
    const value = clip(generate(draw(key, category, original, attempt), category, original, kind, max), max)
    if (value !== original) return value
  }
  // Only a column too narrow to hold anything but the original could get here.
  throw new Error(`no fake ${category} differs from the original within ${max} characters`)
}
