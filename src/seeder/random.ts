/**
 * Deterministic randomness for generated data: the same seed number and label give the same
 * sequence on every machine and every run (xoshiro128** seeded through splitmix32 from an FNV-1a
 * hash), plus small built-in vocabularies for realistic names, companies and line items. No
 * clock, no Math.random, no locale: byte-identical data is the point.
 */

/** A seeded source of values. */
export interface Random {
  /** A float in [0, 1). */
  readonly next: () => number
  /** An integer in [min, max]. */
  readonly int: (min: number, max: number) => number
  readonly bool: (probability?: number) => boolean
  readonly pick: <A>(items: ReadonlyArray<A>) => A
  /** A version-4-shaped UUID drawn from this sequence. */
  readonly uuid: () => string
  /** A decimal in [min, max] with `digits` decimals, as text (for numeric columns). */
  readonly decimal: (min: number, max: number, digits?: number) => string
  /** An instant in [from, from + days). */
  readonly date: (from: Date, days: number) => Date
  /** An independent sequence for a sub-task, stable whatever else draws from this one. */
  readonly fork: (label: string) => Random
}

const fnv1a = (text: string): number => {
  let hash = 0x811c9dc5
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i)
    hash = Math.imul(hash, 0x01000193)
  }
  return hash >>> 0
}

const splitmix32 = (seed: number) => () => {
  seed = (seed + 0x9e3779b9) | 0
  let z = seed
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b)
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35)
  return (z ^ (z >>> 16)) >>> 0
}

const hex = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"))

/** A Random for a seed number and a label (usually the seed's name). */
export const make = (seed: number, label: string): Random => {
  const init = splitmix32(fnv1a(`${seed}:${label}`))
  let a = init(), b = init(), c = init(), d = init()
  const u32 = () => {
    const result = Math.imul(rotl(Math.imul(b, 5), 7), 9) >>> 0
    const t = b << 9
    c ^= a
    d ^= b
    b ^= c
    a ^= d
    c ^= t
    d = rotl(d, 11)
    return result
  }
  const next = () => u32() / 4294967296
  const int = (min: number, max: number) => min + Math.floor(next() * (max - min + 1))
  const random: Random = {
    next,
    int,
    bool: (probability = 0.5) => next() < probability,
    pick: (items) => items[Math.floor(next() * items.length)]!,
    uuid: () => {
      // 16 bytes from four words, version 4 and RFC 4122 variant set; hex by table lookup (this
      // is on the hot path of every generated row).
      const a = u32(), b = u32(), c = u32(), d = u32()
      return hex[a >>> 24]! + hex[(a >>> 16) & 255]! + hex[(a >>> 8) & 255]! + hex[a & 255]! + "-" +
        hex[b >>> 24]! + hex[(b >>> 16) & 255]! + "-" +
        hex[((b >>> 8) & 0x0f) | 0x40]! + hex[b & 255]! + "-" +
        hex[((c >>> 24) & 0x3f) | 0x80]! + hex[(c >>> 16) & 255]! + "-" +
        hex[(c >>> 8) & 255]! + hex[c & 255]! + hex[d >>> 24]! + hex[(d >>> 16) & 255]! + hex[(d >>> 8) & 255]! +
        hex[d & 255]!
    },
    decimal: (min, max, digits = 2) => {
      const scale = 10 ** digits
      const value = int(Math.round(min * scale), Math.round(max * scale))
      const sign = value < 0 ? "-" : ""
      const abs = Math.abs(value)
      return digits === 0
        ? `${value}`
        : `${sign}${Math.floor(abs / scale)}.${String(abs % scale).padStart(digits, "0")}`
    },
    date: (from, days) => new Date(from.getTime() + Math.floor(next() * days * 86_400_000)),
    fork: (sub) => make(seed, `${label}/${sub}`)
  }
  return random
}

const rotl = (x: number, k: number) => (x << k) | (x >>> (32 - k))

export const firstNames = [
  "Ada",
  "Alan",
  "Amara",
  "Ana",
  "Arjun",
  "Bea",
  "Boris",
  "Carla",
  "Chen",
  "Dara",
  "David",
  "Elena",
  "Emil",
  "Fatima",
  "Felix",
  "Grace",
  "Hana",
  "Hugo",
  "Ines",
  "Ivan",
  "Jade",
  "Jonas",
  "Kai",
  "Kenji",
  "Lara",
  "Leo",
  "Lina",
  "Lucas",
  "Maya",
  "Mateo",
  "Nadia",
  "Noah",
  "Olga",
  "Omar",
  "Priya",
  "Rafael",
  "Rosa",
  "Sami",
  "Sofia",
  "Tariq",
  "Uma",
  "Victor",
  "Wen",
  "Yara",
  "Yusuf",
  "Zoe"
] as const

export const lastNames = [
  "Abara",
  "Berg",
  "Costa",
  "Dubois",
  "Eriksen",
  "Fischer",
  "Garcia",
  "Haddad",
  "Ibrahim",
  "Jensen",
  "Kowalski",
  "Larsen",
  "Moreau",
  "Nakamura",
  "Okafor",
  "Petrov",
  "Quinn",
  "Rossi",
  "Santos",
  "Tanaka",
  "Usman",
  "Varga",
  "Weber",
  "Xu",
  "Yilmaz",
  "Zhang",
  "Novak",
  "Silva",
  "Murphy",
  "Lindqvist"
] as const

const companyStems = [
  "Alder",
  "Beacon",
  "Cedar",
  "Delta",
  "Ember",
  "Fjord",
  "Granite",
  "Harbor",
  "Iris",
  "Juniper",
  "Kestrel",
  "Lumen",
  "Maple",
  "Nimbus",
  "Orchid",
  "Pioneer",
  "Quartz",
  "Ridge",
  "Summit",
  "Tidal",
  "Umber",
  "Vertex",
  "Willow",
  "Zenith"
] as const
const companyKinds = [
  "Labs",
  "Logistics",
  "Studio",
  "Foods",
  "Health",
  "Energy",
  "Systems",
  "Supply",
  "Works",
  "Partners"
] as const
const companySuffixes = ["Ltd", "GmbH", "Inc", "SA", "BV", "LLC", "AB", "Oy"] as const

export const lineItems = [
  ["Consulting hours", 80, 220],
  ["Software licence (monthly)", 19, 499],
  ["Support plan", 49, 899],
  ["Hardware maintenance", 120, 1500],
  ["Training session", 250, 2400],
  ["Cloud hosting", 30, 1200],
  ["Design work", 60, 180],
  ["Travel expenses", 40, 900],
  ["Data migration", 500, 6000],
  ["Security audit", 1500, 9000]
] as const

export const currencies = ["EUR", "USD", "GBP", "SEK", "CHF"] as const

/** "Maya Okafor". */
export const personName = (r: Random) => `${r.pick(firstNames)} ${r.pick(lastNames)}`

/** "Cedar Logistics GmbH". */
export const companyName = (r: Random) => `${r.pick(companyStems)} ${r.pick(companyKinds)} ${r.pick(companySuffixes)}`

/** A URL-safe slug from a name: "cedar-logistics-gmbh". */
export const slugOf = (name: string) => name.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "")

/** "maya.okafor@cedar-logistics.example" — always on the reserved .example TLD. */
export const emailOf = (name: string, domain: string, n?: number) =>
  `${name.toLowerCase().replace(/[^a-z]+/g, ".")}${n === undefined ? "" : n}@${domain}.example`
