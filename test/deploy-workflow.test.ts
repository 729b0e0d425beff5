/**
 * The GitHub Actions workflow (.github/workflows/db.yml) parses as YAML and has the gate a
 * release relies on: a PostgreSQL service, a frozen pnpm install, the migration checks, the
 * deploy gate and the tests, in that order.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as fs from "node:fs"
import * as path from "node:path"
import * as YAML from "yaml"

const file = path.resolve(import.meta.dirname, "../.github/workflows/db.yml")

describe(".github/workflows/db.yml", () => {
  it.effect("is valid YAML with a postgres service, pnpm 10.34.9, migrate verify, plan --strict, the deploy gate and npm test", () =>
    Effect.sync(() => {
      const workflow = YAML.parse(fs.readFileSync(file, "utf8"))
      expect(Object.keys(workflow.on)).toEqual(expect.arrayContaining(["push", "pull_request"]))
      const job = workflow.jobs.check
      expect(job["runs-on"]).toBe("ubuntu-latest")
      expect(job.services.postgres.image).toMatch(/^postgres:15/)
      expect(job.services.postgres.ports).toContain("5432:5432")
      expect(job.services.postgres.options).toContain("--health-cmd")
      expect(job.env.DATABASE_URL).toMatch(/^postgres:\/\/[^@]+@127\.0\.0\.1:5432\//)
      const steps: Array<{ name?: string; uses?: string; run?: string }> = job.steps
      for (const step of steps) expect(step.uses !== undefined || typeof step.run === "string").toBe(true)
      const runs = steps.map((s) => s.run ?? "")
      const at = (text: string) => runs.findIndex((r) => r.includes(text))
      expect(steps[0]!.uses).toMatch(/^actions\/checkout@v\d/)
      const order = [
        "npm i -g pnpm@10.34.9",
        "pnpm install --frozen-lockfile",
        "dbkit env check",
        "dbkit migrate plan --strict",
        "dbkit deploy --env test",
        "dbkit migrate verify",
        "npm test"
      ].map(at)
      expect(order.every((i) => i >= 0), JSON.stringify(order)).toBe(true)
      expect([...order].sort((a, b) => a - b)).toEqual(order)
    }))
})
