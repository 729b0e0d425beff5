/**
 * Handlers of `dbkit privacy map|export|erase` and `dbkit audit report` (definitions in index.ts).
 */
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as fs from "node:fs"
import * as path from "node:path"
import { writeDurably } from "../../backup/durable.js"
import { makeDirectories } from "../../Directories.js"
import { ExportWriteFailed, UndeclaredPersonalData } from "../../privacy/errors.js"
import { layerConfig as privacyLayerConfig, Privacy } from "../../privacy/Privacy.js"
import { DatabaseFromEnv, GuardLive } from "../live.js"
import type { Parsed } from "../options.js"
import { banner, json, table } from "../render.js"
import { plural } from "../shared.js"
import type { auditReportConfig, eraseConfig, exportConfig, mapConfig } from "./index.js"

const entries = (n: number, what = "audit entry") => `${n} ${n === 1 ? what : what.replace(/y$/, "ies")}`

/** The Privacy service over the project's map and the field keys in the environment (keys optional). */
const PrivacyLive = privacyLayerConfig().pipe(Layer.provideMerge(DatabaseFromEnv), Layer.provide(GuardLive))

export const map = (options: Parsed<typeof mapConfig>) =>
  Effect.gen(function*() {
    const privacy = yield* Privacy
    const report = yield* privacy.map
    if (options.json) yield* json(report)
    else {
      for (const t of report.tables) {
        const head = `${t.table}${t.present ? "" : " (missing in the database)"} · ${
          t.subject ? `subject: ${t.subject}` : "no subject column"
        } · on erase: ${t.onErase === "delete" ? "rows deleted" : "rows kept"}`
        yield* Console.log(head)
        if (t.reason) yield* Console.log(`  kept because: ${t.reason}`)
        const columns = table(
          ["column", "category", "erase", "encrypted"],
          t.columns.map((
            c
          ) => [`${c.column}${c.present ? "" : " (missing)"}`, c.category, c.erase, c.encrypted ? "yes" : ""])
        )
        yield* Console.log(columns.split("\n").map((line) => `  ${line}`).join("\n"))
      }
      if (report.notPersonal.length > 0) yield* Console.log(`declared not personal: ${report.notPersonal.join(", ")}`)
      if (report.undeclared.length === 0) yield* Console.log("no undeclared columns look personal")
      else {
        yield* Console.log(
          `warning: ${plural(report.undeclared.length, "column")} look${
            report.undeclared.length === 1 ? "s" : ""
          } personal but ${report.undeclared.length === 1 ? "is" : "are"} not declared:`
        )
        for (const u of report.undeclared) yield* Console.log(`  ${u.column}  (looks like ${u.looksLike})`)
      }
      for (const problem of report.missing) yield* Console.log(`warning: ${problem}`)
    }
    if (options.strict && report.undeclared.length > 0) {
      return yield* Effect.fail(new UndeclaredPersonalData({ columns: report.undeclared.map((u) => u.column) }))
    }
  }).pipe(Effect.provide(PrivacyLive))

const writePrivate = (file: string, text: string) =>
  Effect.try({
    try: () => {
      makeDirectories(path.dirname(path.resolve(file)))
      writeDurably(file, text)
    },
    catch: (error) => new ExportWriteFailed({ file, reason: (error as NodeJS.ErrnoException).code ?? String(error) })
  })

export const exportSubject = (options: Parsed<typeof exportConfig>) =>
  Effect.gen(function*() {
    const privacy = yield* Privacy
    const result = yield* privacy.exportSubject({ email: options.email, tenant: Option.getOrUndefined(options.tenant) })
    const text = JSON.stringify(result, null, 2)
    if (options.out === "-") return yield* Console.log(text)
    yield* writePrivate(options.out, `${text}\n`)
    const summary = {
      file: options.out,
      tables: result.tables.map((t) => ({ table: t.table, rows: t.rows.length })),
      auditEntries: result.audit.length
    }
    if (options.json) return yield* json(summary)
    yield* Console.log(
      `wrote ${options.out} (0600): ${result.tables.map((t) => `${t.table} ${t.rows.length}`).join(", ")}; ${
        entries(result.audit.length)
      }`
    )
  }).pipe(Effect.provide(PrivacyLive))

export const erase = (options: Parsed<typeof eraseConfig>) =>
  Effect.gen(function*() {
    const privacy = yield* Privacy
    if (!options.dryRun) yield* banner("privacy erase")
    const report = yield* privacy.erase({
      email: options.email,
      tenant: Option.getOrUndefined(options.tenant),
      dryRun: options.dryRun,
      yes: options.yes
    })
    if (options.json) return yield* json(report)
    const verb = { delete: "delete", erase: "erase", cascade: "delete (cascade)", keep: "keep" } as const
    yield* Console.log(
      table(
        ["table", "rows", options.dryRun ? "would" : "done", "columns / note"],
        report.steps.map((
          s
        ) => [
          s.table,
          String(s.rows),
          verb[s.action],
          [s.columns.join(", "), s.note ?? ""].filter(Boolean).join(" · ")
        ])
      )
    )
    if (report.auditActors > 0) {
      yield* Console.log(
        `${entries(report.auditActors)} made by this email: actor ${
          options.dryRun ? "would be pseudonymised" : "pseudonymised"
        }`
      )
    }
    yield* Console.log(
      options.dryRun
        ? "dry run: nothing changed"
        : `erased in one transaction; ${plural(report.recorded, "erasure record")} written to the audit log (no values)`
    )
  }).pipe(Effect.provide(PrivacyLive))

export const auditReport = (options: Parsed<typeof auditReportConfig>) =>
  Effect.gen(function*() {
    const privacy = yield* Privacy
    const report = yield* privacy.auditReport({
      tenant: Option.getOrUndefined(options.tenant),
      from: Option.getOrUndefined(options.from),
      to: Option.getOrUndefined(options.to)
    })
    if (options.json) return yield* json(report)
    const period = `${report.from ?? "the beginning"} – ${report.to ?? "now"}`
    yield* Console.log(
      `audit trail${report.tenant ? ` of ${report.tenant.slug}` : ""}, ${period}: ${
        entries(report.total, "entry")
      } over ${plural(report.rowsTouched, "row")}${report.first ? ` (first ${report.first}, last ${report.last})` : ""}`
    )
    if (report.total === 0) return
    yield* Console.log("")
    yield* Console.log(
      table(
        ["table", "insert", "update", "delete", "other"],
        report.byTable.map((t) => [t.table, String(t.insert), String(t.update), String(t.delete), String(t.other)])
      )
    )
    yield* Console.log("")
    yield* Console.log(table(["actor", "entries"], report.byActor.map((a) => [a.actor, String(a.entries)])))
    yield* Console.log("")
    yield* Console.log(table(["day", "entries"], report.byDay.map((d) => [d.day, String(d.entries)])))
  }).pipe(Effect.provide(PrivacyLive))
