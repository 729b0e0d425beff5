// Shared by the seed bench row (rows/04-seed.mjs) and its dbkit side (dbkit-seed.mjs): the wide table, its
// columns and the deterministic row generator. The psql floor reads a CSV written from this same generator with
// the same Random (seed number 1, label SEED_NAME: what the Seeder hands the seed), so both load the same values
// (the row file compares the loaded tables' fingerprints). The CSV text need not match dbkit's COPY stream byte
// for byte (e.g. timestamps as ISO 8601 here); it is written untimed, once.

export const TABLE = "wide"
export const SEED_NAME = "bench-wide"

export const COLUMNS = [
  "id",
  "tenant_id",
  "name",
  "email",
  "amount",
  "quantity",
  "status",
  "created_at",
  "updated_at",
  "active",
  "score",
  "notes"
]

// No index besides the primary key.
export const CREATE_TABLE = `CREATE TABLE ${TABLE} (
  id uuid PRIMARY KEY,
  tenant_id uuid NOT NULL,
  name text,
  email text,
  amount numeric(12,2),
  quantity integer,
  status text,
  created_at timestamptz,
  updated_at timestamptz,
  active boolean,
  score double precision,
  notes text
)`

const STATUSES = ["active", "pending", "suspended", "closed"]
const BASE = new Date("2024-01-01T00:00:00Z")
const MONTH_MS = 30 * 86_400_000

/**
 * n rows of the wide table, lazily: `random` is the seed's ctx.random, `Random` dbkit's Random module (for
 * personName, emailOf, lineItems). 50 tenants; ~30% of rows carry a note (with a comma, so CSV quoting is exercised).
 */
export function* wideRows(random, Random, n) {
  const t = random.fork("tenants")
  const tenants = Array.from({ length: 50 }, () => t.uuid())
  for (let i = 1; i <= n; i++) {
    const name = Random.personName(random)
    const created = random.date(BASE, 365)
    yield [
      random.uuid(),
      random.pick(tenants),
      name,
      Random.emailOf(name, "acme", i),
      random.decimal(0, 99_999.99),
      random.int(1, 500),
      random.pick(STATUSES),
      created,
      new Date(created.getTime() + random.int(0, MONTH_MS)),
      random.bool(0.85),
      random.next() * 100,
      random.bool(0.3) ? `${random.pick(Random.lineItems)[0]}, ref ${i}` : null
    ]
  }
}

// CSV for COPY (FORMAT csv): NULL as an empty field, an empty string quoted, booleans t/f, instants ISO 8601.
export const csvField = (value) => {
  if (value === null || value === undefined) return ""
  if (typeof value === "number" || typeof value === "bigint") return String(value)
  if (typeof value === "boolean") return value ? "t" : "f"
  const text = value instanceof Date ? value.toISOString() : value
  return text === "" || /[",\n\r]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text
}

export const csvLine = (row) => {
  let line = csvField(row[0])
  for (let c = 1; c < row.length; c++) line += "," + csvField(row[c])
  return line
}
