// pg_dump's --exclude-table patterns, as the manifest's row counts must read them.
import { describe, expect, it } from "@effect/vitest"
import { patternMatcher } from "../src/backup/Backup.js"

describe("exclude-table patterns", () => {
  const cases: Array<[string, string, boolean]> = [
    ["customers", "public.customers", true],
    ["customers", "other.customers", true],
    ["customers", "public.customers2", false],
    ["bi*", "public.big", true],
    ["bi*", "public.abig", false],
    ["public.order*", "public.orders", true],
    ["public.order*", "sales.orders", false],
    ["audit_?", "public.audit_1", true],
    ["audit_?", "public.audit_12", false],
    ["Customers", "public.customers", true],
    ["\"Customers\"", "public.customers", false],
    ["\"Customers\"", "public.Customers", true],
    ["*.t", "x.t", true],
    ["a.b", "a.bc", false]
  ]
  for (const [pattern, table, expected] of cases) {
    it(`${pattern} ${expected ? "matches" : "does not match"} ${table}`, () => {
      expect(patternMatcher(pattern)(table)).toBe(expected)
    })
  }
})
