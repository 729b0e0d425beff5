/**
 * Handler of `dbkit tenancy audit` (definition in index.ts): one line per finding — severity,
 * object, what is wrong, the fix — or `--json`; exit 15 when there are findings.
 */
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import { Tenancy } from "../../tenancy/Tenancy.js"
import type { Parsed } from "../options.js"
import { json } from "../render.js"
import { TenancyLive } from "../tenant/live.js"
import { TenancyAuditFindings } from "./findings.js"
import type { auditConfig } from "./index.js"

export const audit = (options: Parsed<typeof auditConfig>) =>
  Effect.gen(function*() {
    const tenancy = yield* Tenancy
    const report = yield* tenancy.audit({ schemas: options.schema, tenantColumn: options.tenantColumn })
    const critical = report.findings.filter((f) => f.severity === "critical").length
    const warnings = report.findings.length - critical
    if (options.json) {
      yield* json({ ok: report.findings.length === 0, critical, warnings, ...report })
    } else {
      for (const f of report.findings) {
        yield* Console.log(
          `${f.severity === "critical" ? "CRITICAL" : "warning "} ${f.object}: ${f.problem}\n  fix: ${f.fix}`
        )
      }
      const scope = report.schemas === null ? "all schemas" : `schema ${report.schemas.join(", ")}`
      yield* Console.log(
        `${report.tenantTables} tenant table(s) with ${report.tenantColumn} in ${scope}; setting ${report.setting}; ` +
          `application roles: ${report.appRoles.join(", ") || "none found"}; ` +
          (report.findings.length === 0 ? "no findings" : `${critical} critical, ${warnings} warning(s)`)
      )
    }
    if (report.findings.length > 0) return yield* new TenancyAuditFindings({ critical, warnings })
  }).pipe(Effect.provide(TenancyLive))
