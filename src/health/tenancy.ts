/**
 * The `tenancy` health check: the row-level security audit (RlsAudit.ts) as one result line —
 * critical when a finding is critical, warn when there are only warnings. Not applicable when
 * the project declares no tenancy or isolates tenants by schema.
 */
import * as Effect from "effect/Effect"
import * as Project from "../Project.js"
import { audit, type AuditTarget, targetFromSettings } from "../RlsAudit.js"
import type { Check } from "./checks.js"
import { listSome, type Outcome } from "./status.js"

const THRESHOLD = "critical finding → critical, other finding → warn"

const notApplicable = (detail: string): Outcome => ({
  status: "not applicable",
  value: null,
  unit: null,
  threshold: THRESHOLD,
  detail
})

/**
 * What to audit: the project's dbkit.config tenancy (the Project in context, else the working
 * directory's), or why there is nothing to audit.
 */
const target: Effect.Effect<AuditTarget | string, unknown> = Effect.map(
  Project.current,
  (project) =>
    !project.tenancy.declared
      ? "the project declares no tenancy (dbkit.config.ts tenancy)"
      : targetFromSettings(project.tenancy) ??
        `tenancy strategy is ${project.tenancy.strategy}: tenants are not isolated by row-level security`
)

export const tenancy: Check = {
  name: "tenancy",
  requires: "answer",
  run: (db) =>
    Effect.gen(function*() {
      const what = yield* target
      if (typeof what === "string") return notApplicable(what)
      const report = yield* audit(db.query, what)
      if (report.tenantTables === 0 && report.findings.length === 0) {
        return notApplicable(`no table has the ${report.tenantColumn} column`)
      }
      const critical = report.findings.filter((f) => f.severity === "critical").length
      const status = critical > 0 ? "critical" : report.findings.length > 0 ? "warn" : "ok"
      return {
        status,
        value: report.findings.length,
        unit: "count",
        threshold: THRESHOLD,
        detail: report.findings.length === 0
          ? `${report.tenantTables} tenant tables isolated (roles: ${report.appRoles.join(", ") || "none named"})`
          : `${listSome(report.findings.map((f) => `${f.object} ${f.problem}`), 2)}; see dbkit tenancy audit`
      } satisfies Outcome
    })
}
