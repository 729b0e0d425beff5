import { describe, expect, it } from "@effect/vitest"
import { selectForPruning } from "../src/backup/retention.js"

const now = new Date("2026-06-30T12:00:00Z")
const day = (n: number, verified = false) => ({
  file: `b${n}`,
  createdAt: new Date(now.getTime() - n * 86_400_000).toISOString(),
  verified: verified ? { at: "x" } : null
})

describe("backup retention", () => {
  it("keeps the newest N", () => {
    const { keep, prune } = selectForPruning([day(3), day(1), day(2), day(4)], { keepLast: 2 }, now)
    expect(keep.map((b) => b.file)).toEqual(["b1", "b2"])
    expect(prune.map((b) => b.file)).toEqual(["b3", "b4"])
  })

  it("keeps everything younger than D days", () => {
    const { keep } = selectForPruning([day(1), day(5), day(9)], { keepDays: 6 }, now)
    expect(keep.map((b) => b.file)).toEqual(["b1", "b5"])
  })

  it("keeps the union when both rules are given", () => {
    const { keep } = selectForPruning([day(1), day(2), day(30), day(40)], { keepLast: 1, keepDays: 3 }, now)
    expect(keep.map((b) => b.file)).toEqual(["b1", "b2"])
  })

  it("applies the rules to each database separately", () => {
    const prod = (n: number) => ({ ...day(n), file: `prod${n}`, database: "prod" })
    const staging = (n: number) => ({ ...day(n), file: `staging${n}`, database: "staging" })
    const { keep, prune } = selectForPruning([staging(1), staging(2), prod(3), prod(4)], { keepLast: 1 }, now)
    expect(keep.map((b) => b.file)).toEqual(["staging1", "prod3"])
    expect(prune.map((b) => b.file)).toEqual(["staging2", "prod4"])
  })

  it("never prunes the newest verified backup, whatever the rules say", () => {
    const { keep, prune } = selectForPruning([day(1), day(2), day(10, true), day(20, true)], { keepLast: 1 }, now)
    expect(keep.map((b) => b.file)).toEqual(["b1", "b10"])
    expect(prune.map((b) => b.file)).toEqual(["b2", "b20"])
  })
})
