/**
 * The dashboard's pages as pure functions from what was read to markup. Each section gets its
 * data as a `Read` (the value, or why it could not be read), so one failing read shows its
 * reason where its table would be and the rest of the page still renders.
 */
import * as Either from "effect/Either"
import * as path from "node:path"
import type { BackupListing } from "../../backup/Backup.js"
import type { HealthReport } from "../../health/Health.js"
import { seconds } from "../../health/status.js"
import type { StatsReport } from "../../maintenance/stats.js"
import type { MaintenanceTask } from "../../maintenance/tasks.js"
import type { MigrationStatus } from "../../migrator/Migrator.js"
import type { Thresholds } from "../../Thresholds.js"
import { lineChart } from "./chart.js"
import { badge, bytes, type Content, count, failure, type Html, html, table, type Tone, when } from "./html.js"
import type { Connections, JobRun, Session, TableUpkeep } from "./reads.js"
import type { Metric, Sample } from "./Sampler.js"

/** A section's data, or why it could not be read. */
export type Read<A> = Either.Either<A, string>

const section = <A>(title: string, read: Read<A>, render: (value: A) => Content): Html =>
  html`<section><h2>${title}</h2>${
    Either.match(read, { onLeft: (reason) => failure(title, reason), onRight: render })
  }</section>`

const num = (value: Content) => html`<span class="num">${value}</span>`

/** The colour of a health check's status. */
export const healthTone = (status: string): Tone =>
  status === "ok" || status === "warn" || status === "critical" || status === "unknown" ? status : "muted"

const checkValue = (check: HealthReport["checks"][number]): string =>
  check.value === null
    ? "–"
    : check.unit === "bytes" && typeof check.value === "number"
    ? bytes(check.value)
    : check.unit === "ratio" && typeof check.value === "number"
    ? `${(check.value * 100).toFixed(1)}%`
    : `${check.value}${check.unit === null || check.unit === "count" ? "" : ` ${check.unit}`}`

const checksTable = (checks: HealthReport["checks"]) =>
  table(
    ["Check", "Status", "Value", "Detail", "Threshold"],
    checks.map((c) => [
      c.name,
      badge(c.status, healthTone(c.status)),
      checkValue(c),
      c.detail,
      html`<span class="note">${c.threshold}</span>`
    ]),
    "no check ran"
  )

/** How each sampled metric is charted. */
const chartOf: Record<Metric, { readonly title: string; readonly format: (v: number) => string }> = {
  connections: { title: "Connections", format: (v) => count(v) },
  transactions: { title: "Transactions per second", format: (v) => (v < 10 ? v.toFixed(1) : count(v)) },
  dead_tuples: { title: "Dead tuples", format: (v) => count(v) },
  database_bytes: { title: "Database size", format: bytes }
}

export interface OverviewData {
  readonly health: Read<HealthReport>
  readonly connections: Read<Connections>
  readonly size: Read<number>
  readonly samples: Read<ReadonlyArray<Sample>>
  /** The charts' window, epoch ms. */
  readonly from: number
  readonly to: number
}

const figure = <A>(read: Read<A>, value: (a: A) => string, label: string, tone?: (a: A) => Tone): Html =>
  html`<div class="figure"><div class="value${
    tone === undefined || Either.isLeft(read) ? "" : ` tone-${tone(read.right)}`
  }">${Either.match(read, { onLeft: () => "?", onRight: value })}</div><div class="label">${label}</div></div>`

export const overview = (data: OverviewData): Html =>
  html`<div class="figures">${
    figure(data.connections, (c) => `${count(c.total)} / ${count(c.max)}`, "client connections / max_connections")
  }${figure(data.size, bytes, "database size")}${
    figure(data.health, (r) => r.status, "health", (r) => healthTone(r.status))
  }</div>${
    section("Last 24 hours", data.samples, (samples) =>
      html`<div class="charts">${
        (Object.keys(chartOf) as Array<Metric>).map((metric) =>
          lineChart(
            samples.filter((s) =>
              s.metric === metric
            ),
            { ...chartOf[metric], from: data.from, to: data.to }
          )
        )
      }</div><p class="note">Sampled every minute by dbkit serve into dbkit.samples.</p>`)
  }${
    section("Health", data.health, (report) =>
      html`<p>Overall ${badge(report.status, healthTone(report.status))} <span class="note">checked ${
        when(report.checkedAt)
      } in ${report.durationMs} ms</span></p>${checksTable(report.checks)}`)
  }${
    section("Connections", data.connections, (c) =>
      html`<h3>By state</h3>${
        table(["State", "Connections"], c.byState.map((s) => [s.state, num(count(s.count))]), "no client connection")
      }<h3>By application</h3>${
        table(
          ["Application", "Connections"],
          c.byApplication.map((a) => [a.application, num(count(a.count))]),
          "no client connection"
        )
      }`)
  }${Either.isLeft(data.size) ? section("Database size", data.size, () => "") : ""}`

export interface QueriesData {
  readonly sessions: Read<ReadonlyArray<Session>>
  readonly stats: Read<StatsReport>
  readonly thresholds: Thresholds
}

const durationTone = (s: number | null, warn: number, critical: number): Content =>
  s === null
    ? "–"
    : s > critical
    ? badge(seconds(s), "critical")
    : s > warn
    ? badge(seconds(s), "warn")
    : seconds(s)

export const queries = (data: QueriesData): Html =>
  html`${
    section("Running now", data.sessions, (rows) =>
      html`<p class="note">Sessions that are not idle, longest-running first; long-running past ${
        seconds(data.thresholds.longQuerySeconds)
      }. A statement is shown by its first keyword only (its text may hold personal data).</p>${
        table(
          ["PID", "User", "Application", "State", "Waiting on", "Query running", "Transaction open", "Statement"],
          rows.map((s) => [
            num(s.pid),
            s.user,
            s.application,
            s.state,
            s.wait ?? "–",
            durationTone(s.querySeconds, data.thresholds.longQuerySeconds, data.thresholds.longQueryCriticalSeconds),
            durationTone(
              s.transactionSeconds,
              data.thresholds.idleInTransactionSeconds,
              data.thresholds.idleInTransactionCriticalSeconds
            ),
            html`<code>${s.statement}</code>`
          ]),
          "no session is running a query"
        )
      }`)
  }${
    section("Top statements", data.stats, (stats) =>
      stats.topQueries.status !== "ok"
        ? html`<p>${badge(stats.topQueries.status, "muted")} ${stats.topQueries.detail}</p>`
        : html`<p class="note">${stats.topQueries.detail}${
          stats.statsSince === null ? "" : `, counted since ${when(stats.statsSince)}`
        }.</p>${
          table(
            ["Statement", "Calls", "Total ms", "Mean ms", "Rows"],
            stats.topQueries.queries.map((q) => [
              html`<code>${q.query}</code>`,
              num(count(q.calls)),
              num(q.totalMs.toFixed(1)),
              num(q.meanMs.toFixed(2)),
              num(count(q.rows))
            ]),
            "no statement recorded yet"
          )
        }`)
  }`

export const space = (stats: Read<StatsReport>): Html =>
  html`${
    section("Tables", stats, (s) =>
      table(
        ["Table", "Total", "Table", "Indexes", "Live rows", "Dead rows"],
        s.tables.map((t) => [
          t.table,
          num(bytes(t.totalBytes)),
          num(bytes(t.tableBytes)),
          num(bytes(t.indexBytes)),
          num(count(t.liveRows)),
          num(count(t.deadRows))
        ]),
        "no table"
      ))
  }${
    section("Indexes", stats, (s) =>
      table(
        ["Index", "Table", "Size", "Scans", "Unique"],
        s.indexes.map((i) => [i.index, i.table, num(bytes(i.bytes)), num(count(i.scans)), i.unique ? "yes" : ""]),
        "no index"
      ))
  }`

export interface IndexesData {
  /** The health report's index checks (invalid, unused, duplicate). */
  readonly checks: Read<HealthReport>
  readonly stats: Read<StatsReport>
}

export const indexes = (data: IndexesData): Html =>
  html`${section("Index checks", data.checks, (report) => checksTable(report.checks))}${
    section("Advice", data.stats, (s) =>
      html`<p class="note">Tables read by large sequential scans (a missing index?) and indexes never scanned${
        s.statsSince === null ? "" : ` since ${when(s.statsSince)}`
      } (drop them?), as dbkit db stats reports them.</p>${
        table(
          ["Kind", "Target", "Detail"],
          s.recommendations.map((r) => [
            badge(r.kind, r.kind === "missing-index" ? "warn" : "unknown"),
            r.target,
            r.detail
          ]),
          "nothing to advise"
        )
      }`)
  }${
    section("Usage", data.stats, (s) =>
      table(
        ["Index", "Table", "Scans", "Size", "Unique"],
        s.indexes.map((i) => [
          i.index,
          i.table,
          i.scans === 0 ? badge("never scanned", "warn") : num(count(i.scans)),
          num(bytes(i.bytes)),
          i.unique ? "yes" : ""
        ]),
        "no index"
      ))
  }`

export interface MaintenanceData {
  readonly plan: Read<ReadonlyArray<MaintenanceTask>>
  readonly tables: Read<ReadonlyArray<TableUpkeep>>
}

const latest = (manual: string | null, auto: string | null): string =>
  manual === null && auto === null
    ? "never"
    : auto !== null && (manual === null || auto > manual)
    ? `${when(auto)} (auto)`
    : when(manual)

export const maintenance = (data: MaintenanceData): Html =>
  html`${
    section("What dbkit db maintain would do", data.plan, (tasks) =>
      table(
        ["Action", "Target", "Statement", "Why"],
        tasks.map((t) => [t.action, t.target, html`<code>${t.statement}</code>`, t.reason]),
        "nothing to do"
      ))
  }${
    section("Dead tuples, vacuum and analyze", data.tables, (rows) =>
      table(
        ["Table", "Live rows", "Dead rows", "Dead", "Changed since analyze", "Last vacuum", "Last analyze"],
        rows.map((t) => {
          const ratio = t.dead / Math.max(1, t.live + t.dead)
          return [
            t.table,
            num(count(t.live)),
            num(count(t.dead)),
            ratio > 0.2 ? badge(`${(ratio * 100).toFixed(1)}%`, "warn") : `${(ratio * 100).toFixed(1)}%`,
            num(count(t.modifiedSinceAnalyze)),
            latest(t.lastVacuum, t.lastAutovacuum),
            latest(t.lastAnalyze, t.lastAutoanalyze)
          ]
        }),
        "no table"
      ))
  }`

export const backups = (listing: Read<ReadonlyArray<BackupListing>>): Html =>
  section("Backups, newest first", listing, (rows) =>
    table(
      ["File", "Taken", "Size", "Database", "Environment", "Format", "Encrypted", "Verified"],
      rows.map((b) => [
        html`<code>${path.basename(b.file)}</code>`,
        when(b.createdAt),
        num(bytes(b.bytes)),
        b.database,
        b.environment,
        b.format,
        b.encrypted ? "yes" : "no",
        b.verified === null
          ? badge("not verified", "warn")
          : html`${badge(b.verified.restoreTest ? "restore-tested" : "verified", "ok")} ${when(b.verified.at)}`
      ]),
      "no backup found (run dbkit backup, then dbkit backups verify)"
    ))

/** The colour of a job run's status (dbkit.jobs: running, succeeded, failed, interrupted, skipped). */
export const jobTone = (status: string): Tone =>
  status === "succeeded"
    ? "ok"
    : status === "failed"
    ? "critical"
    : status === "interrupted"
    ? "warn"
    : status === "skipped"
    ? "muted"
    : "unknown"

export const jobs = (runs: Read<ReadonlyArray<JobRun> | undefined>): Html =>
  section("Last runs", runs, (rows) =>
    rows === undefined || rows.length === 0
      ? html`<p class="empty">no jobs recorded</p>`
      : table(
        ["Job", "Kind", "Status", "Started", "Took", "Where", "Error", "Detail"],
        rows.map((j) => [
          j.name,
          j.kind,
          badge(j.status, jobTone(j.status)),
          when(j.startedAt),
          j.startedAt === null || j.finishedAt === null
            ? "–"
            : seconds((Date.parse(j.finishedAt) - Date.parse(j.startedAt)) / 1000),
          j.host === null ? "–" : `${j.host}${j.pid === null ? "" : ` pid ${j.pid}`}`,
          j.error ?? "",
          j.detail === null ? "" : html`<code>${j.detail}</code>`
        ]),
        "no jobs recorded"
      ))

export const migrations = (status: Read<MigrationStatus>): Html =>
  Either.match(status, {
    onLeft: (reason) => section("Status", status, () => reason),
    onRight: (s) => {
      const problems = s.failed.length + s.changed.length + s.missing.length
      const summary = problems > 0
        ? badge("needs attention", "critical")
        : s.pending.length > 0
        ? badge(`${s.pending.length} pending`, "warn")
        : badge("up to date", "ok")
      const list = (title: string, names: ReadonlyArray<string>, tone: Tone) =>
        names.length === 0 ? "" : html`<h3>${title}</h3><ul>${names.map((n) => html`<li>${badge(n, tone)}</li>`)}</ul>`
      return html`<section><h2>Status</h2><p>${summary} ${count(s.applied.length)} applied, ${
        count(s.pending.length)
      } pending</p>${
        s.failed.length === 0 ? "" : html`<h3>Failed</h3>${
          table(
            ["Migration", "Status", "Statement", "Error"],
            s.failed.map((f) => [f.name, badge(f.status, "critical"), f.statement ?? "–", f.error ?? ""]),
            ""
          )
        }`
      }${
        s.changed.length === 0 ? "" : html`<h3>Changed since applied</h3>${
          table(
            ["Migration", "Applied checksum", "Current checksum"],
            s.changed.map((c) => [c.name, html`<code>${c.applied}</code>`, html`<code>${c.current}</code>`]),
            ""
          )
        }`
      }${list("Missing from the source", s.missing, "critical")}${list("Pending", s.pending, "warn")}${
        list("Out of order (older than the newest applied)", s.outOfOrder, "warn")
      }</section><section><h2>Applied, newest first</h2>${
        table(
          ["Migration", "Applied", "Took"],
          [...s.applied].reverse().map((a) => [a.name, when(a.appliedAt), `${count(a.durationMs)} ms`]),
          "no migration applied"
        )
      }</section>`
    }
  })
