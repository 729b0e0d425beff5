/**
 * `dbkit db validate [--tenant SLUG]`: data integrity findings with counts and sample keys;
 * exits non-zero when there are any.
 */
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { IntegrityViolations } from "../../maintenance/errors.js"
import { type IntegrityReport, Maintenance } from "../../maintenance/Maintenance.js"
import type { Parsed } from "../options.js"
import { count, json, table } from "../render.js"
import { plural } from "../shared.js"
import type { validateConfig } from "./index.js"
import { MaintenanceLive } from "./live.js"

const print = (report: IntegrityReport) =>
  Effect.gen(function*() {
    if (report.findings.length > 0) {
      yield* Console.log(table(
        ["finding", "table", "name", "rows", "sample keys"],
        report.findings.map((f) => [f.kind, f.table, f.name, count(f.count), f.sample.join(", ")])
      ))
      yield* Console.log("")
      for (const f of report.findings) yield* Console.log(`- ${f.detail}`)
      yield* Console.log("")
    }
    for (const s of report.skipped) yield* Console.log(`skipped ${s}`)
    const c = report.checked
    yield* Console.log(
      `checked ${plural(c.constraints, "NOT VALID constraint")}, ${
        plural(c.relationships, "declared relationship")
      }, ` +
        `${plural(c.tenantLinks, "tenant-to-tenant foreign key")}${
          report.tenant ? ` for tenant ${report.tenant.slug}` : ""
        }: ` +
        (report.findings.length === 0 ? "no findings" : plural(report.findings.length, "finding"))
    )
    if (report.rowLevelSecurity) {
      yield* Console.error(
        "note: row-level security hides rows from this role; run as the owner with BYPASSRLS (or a superuser) for a complete check"
      )
    }
  })

export const validate = (options: Parsed<typeof validateConfig>) =>
  Effect.gen(function*() {
    const maintenance = yield* Maintenance
    const report = yield* maintenance.validate({ tenant: Option.getOrUndefined(options.tenant) })
    if (options.json) yield* json(report)
    else yield* print(report)
    if (report.findings.length > 0) {
      return yield* new IntegrityViolations({
        findings: report.findings.length,
        rows: report.findings.reduce((n, f) => n + f.count, 0)
      })
    }
  }).pipe(Effect.provide(MaintenanceLive))
