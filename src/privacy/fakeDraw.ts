/**
 * The byte source fakes draw from (HMAC-SHA256 blocks, as many as a fake needs) and the helpers
 * that shape drawn bits into text: clipped, reshaped like the original, digits that fit.
 */
import { createHmac, createSecretKey, type KeyObject } from "node:crypto"
import type { Category } from "./declare.js"
import { FIRST, LAST } from "./fakeWords.js"

// ---------------------------------------------------------------------------------------------
// the byte source: HMAC-SHA256 blocks, as many as a fake needs

const keys = new WeakMap<Buffer, KeyObject>()
export const keyOf = (runKey: Buffer) => {
  let key = keys.get(runKey)
  if (key === undefined) keys.set(runKey, key = createSecretKey(runKey))
  return key
}

export interface Draw {
  /** A uniform whole number in [0, n), n ≤ 2^32. */
  readonly int: (n: number) => number
  readonly pick: <T>(items: ReadonlyArray<T>) => T
  /** A digit or a letter (one byte each: uneven by at most 1/256, which does not matter for fakes). */
  readonly small: (n: number) => number
  /** `n` lowercase hex digits. */
  readonly hex: (n: number) => string
  readonly bytes: (n: number) => Buffer
}

/**
 * Block 0 of attempt 0 is HMAC(runKey, category ‖ NUL ‖ original); later blocks and attempts
 * append counters. One block (32 bytes) covers most fakes, so most cost one HMAC.
 */
export const draw = (key: KeyObject, category: Category, original: string, attempt: number): Draw => {
  let block = 0
  let buffer: Buffer = Buffer.alloc(0)
  let at = 0
  const refill = () => {
    const message = attempt === 0 && block === 0
      ? `${category}\0${original}`
      : `${category}\0${original}\0${attempt}\0${block}`
    buffer = createHmac("sha256", key).update(message, "utf8").digest()
    block++
    at = 0
  }
  const byte = () => {
    if (at >= buffer.length) refill()
    return buffer[at++]!
  }
  const bytes = (n: number) => {
    const out = Buffer.allocUnsafe(n)
    for (let i = 0; i < n; i++) out[i] = byte()
    return out
  }
  // 16 bits for list picks (bias below 0.2%), 32 bits for larger ranges.
  const int = (n: number) =>
    n <= 256 ? ((byte() << 8) | byte()) % n : (((byte() << 24) | (byte() << 16) | (byte() << 8) | byte()) >>> 0) % n
  return {
    int,
    small: (n) => byte() % n,
    pick: (items) => items[int(items.length)]!,
    hex: (n) => bytes(Math.ceil(n / 2)).toString("hex").slice(0, n),
    bytes
  }
}

// ---------------------------------------------------------------------------------------------
// helpers

/** At most `max` characters (code points, as varchar(n) counts them). */
export const clip = (text: string, max: number | null | undefined): string => {
  if (max === null || max === undefined || max <= 0 || text.length <= max) return text
  const chars = Array.from(text)
  return chars.length <= max ? text : chars.slice(0, max).join("")
}

export const DIGITS = "0123456789"
const UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
const LOWER = "abcdefghijklmnopqrstuvwxyz"

/** Digits by digits, letters by letters (same case), everything else kept; positions before `keep` unchanged. */
export const reshape = (d: Draw, text: string, keep = 0): string =>
  Array.from(text).map((c, i) =>
    i < keep
      ? c
      : c >= "0" && c <= "9"
      ? DIGITS[d.small(10)]!
      : c >= "A" && c <= "Z"
      ? UPPER[d.small(26)]!
      : c >= "a" && c <= "z"
      ? LOWER[d.small(26)]!
      : c
  ).join("")

/** Bits of randomness `reshape` puts into `text` after `keep`. */
export const shapeBits = (text: string, keep = 0): number =>
  Array.from(text).slice(keep).reduce(
    (bits, c) => bits + (/[0-9]/.test(c) ? Math.log2(10) : /[A-Za-z]/.test(c) ? Math.log2(26) : 0),
    0
  )

const ascii = (name: string) =>
  name.normalize("NFKD").replace(/[\u0300-\u036f]/g, "").replace(/ł/g, "l").replace(/Ł/g, "L").replace(/ø/g, "o")
    .replace(/Ø/g, "O")
const localPart = (name: string) => ascii(name).toLowerCase().replace(/[^a-z0-9]+/g, "")
/** The names as they go into an address's local part ("Søren" → "soren"), worked out once. */
export const FIRST_LOCAL = FIRST.map(localPart)
export const LAST_LOCAL = LAST.map(localPart)

/** A whole number of `length` digits that fits the integer type it came from. */
export const digits = (d: Draw, original: string): string => {
  const negative = original.trim().startsWith("-")
  const length = Math.max(1, original.replace(/[^0-9]/g, "").replace(/^0+(?=\d)/, "").length)
  // The first digit keeps smallint (5 digits ≤ 32767), integer (10 ≤ 2147483647) and bigint (19) in range.
  const first = length === 1 ? d.int(10) : length < 5 ? 1 + d.int(9) : length < 10 ? 1 + d.int(2) : 1
  let out = String(first)
  for (let i = 1; i < length; i++) out += DIGITS[d.small(10)]
  return negative ? `-${out}` : out
}
