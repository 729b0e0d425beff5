/**
 * HTML for the dashboard, built so that escaping cannot be forgotten: `html` is a tagged
 * template whose every interpolated value is escaped unless it is already `Html` (made by `html`
 * itself or by `raw` over a constant). Table names, query texts, application names and error
 * messages all come from the database or its users; none reaches the page unescaped.
 */

/** A fragment of markup that is safe to insert as is. */
export class Html {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value
  }
}

/** What `html` accepts between its parts: text (escaped), markup, or lists of them. */
export type Content = Html | string | number | boolean | null | undefined | ReadonlyArray<Content>

const entities: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", "\"": "&quot;", "'": "&#39;" }

/** Text as HTML text or attribute value (quotes included), so it can never open a tag or leave an attribute. */
export const escape = (text: string): string => text.replace(/[&<>"']/g, (c) => entities[c]!)

const render = (content: Content): string => {
  if (content instanceof Html) return content.value
  if (content === null || content === undefined || content === false) return ""
  if (Array.isArray(content)) return content.map(render).join("")
  return escape(String(content))
}

/** Markup with every interpolated value escaped (see the header). */
export const html = (strings: TemplateStringsArray, ...values: ReadonlyArray<Content>): Html => {
  let out = strings[0]!
  values.forEach((value, i) => {
    out += render(value) + strings[i + 1]!
  })
  return new Html(out)
}

/** Markup written in this module's code (a constant), never text from elsewhere. */
export const raw = (markup: string): Html => new Html(markup)

/** A table: a header row and one row per item; `empty` when there are none. */
export const table = (
  headers: ReadonlyArray<string>,
  rows: ReadonlyArray<ReadonlyArray<Content>>,
  empty: string
): Html =>
  rows.length === 0
    ? html`<p class="empty">${empty}</p>`
    : html`<table><thead><tr>${headers.map((h) => html`<th>${h}</th>`)}</tr></thead><tbody>${
      rows.map((cells) => html`<tr>${cells.map((c) => html`<td>${c}</td>`)}</tr>`)
    }</tbody></table>`

/** Statuses the dashboard colours: health verdicts, job and migration states. */
export type Tone = "ok" | "warn" | "critical" | "unknown" | "muted"

/** A coloured label. */
export const badge = (label: string, tone: Tone): Html => html`<span class="badge ${tone}">${label}</span>`

/** A panel saying a section could not be read, and why. */
export const failure = (what: string, reason: string): Html =>
  html`<div class="failure"><strong>${what} could not be read:</strong> ${reason}</div>`

/** Bytes as kB, MB, GB. */
export const bytes = (n: number | null | undefined): string => {
  if (n === null || n === undefined || !Number.isFinite(n)) return "–"
  const units = ["bytes", "kB", "MB", "GB", "TB"]
  let value = n
  let unit = 0
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024
    unit++
  }
  return unit === 0 ? `${Math.round(value)} bytes` : `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`
}

/** A count with thousands separators. */
export const count = (n: number | null | undefined): string =>
  n === null || n === undefined ? "–" : Math.round(n).toLocaleString("en-US")

/** A timestamp as `2026-12-07 05:14:26 UTC`, or a dash. */
export const when = (at: string | Date | null | undefined): string => {
  if (at === null || at === undefined) return "–"
  const date = at instanceof Date ? at : new Date(at)
  return Number.isNaN(date.getTime()) ? String(at) : `${date.toISOString().slice(0, 19).replace("T", " ")} UTC`
}

const style = `
*{box-sizing:border-box}body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:#1f2933;background:#f5f7fa}
header{background:#243b53;color:#fff;padding:10px 24px;display:flex;gap:24px;align-items:center;flex-wrap:wrap}
header .brand{font-weight:700;font-size:16px}header nav a{color:#d9e2ec;text-decoration:none;margin-right:14px}
header nav a.active{color:#fff;font-weight:700;border-bottom:2px solid #fff}header .target{margin-left:auto;color:#9fb3c8;font-size:12px}
main{padding:16px 24px;max-width:1280px}h1{font-size:20px;margin:8px 0 16px}h2{font-size:16px;margin:24px 0 8px}
section{background:#fff;border:1px solid #d9e2ec;border-radius:6px;padding:12px 16px;margin-bottom:16px;overflow-x:auto}
section h2:first-child{margin-top:0}h3{font-size:14px;margin:12px 0 6px}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:5px 8px;border-bottom:1px solid #e4e7eb;vertical-align:top}
th{font-size:12px;color:#52606d;text-transform:uppercase;letter-spacing:.03em}td:has(>span.num){text-align:right}.num{font-variant-numeric:tabular-nums}
code{font:12px ui-monospace,SFMono-Regular,Menlo,monospace;white-space:pre-wrap;word-break:break-word}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;font-weight:600;white-space:nowrap}
.badge.ok{background:#e3f9e5;color:#207227}.badge.warn{background:#fff3c4;color:#8d2b0b}.badge.critical{background:#ffe3e3;color:#a61b1b}
.badge.unknown{background:#e4e7eb;color:#3e4c59}.badge.muted{background:#f0f4f8;color:#7b8794}
.failure{background:#ffe3e3;color:#a61b1b;padding:8px 12px;border-radius:4px}.empty{color:#7b8794;margin:4px 0}
.figures{display:flex;gap:16px;flex-wrap:wrap}.figure{min-width:160px}.figure .value{font-size:22px;font-weight:600}
.figure .label{color:#52606d;font-size:12px}.charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(300px,1fr));gap:12px}
.chart h3{font-size:13px;margin:0 0 4px;color:#334e68}.chart svg{width:100%;height:auto;background:#fbfcfd;border:1px solid #e4e7eb}
.note{color:#52606d;font-size:12px}.tone-ok{color:#207227}.tone-warn{color:#b44d12}.tone-critical{color:#a61b1b}
.tone-unknown,.tone-muted{color:#52606d}
`

/** The pages, in navigation order: path and label. */
export const pages = [
  ["/", "Overview"],
  ["/queries", "Queries"],
  ["/space", "Space"],
  ["/indexes", "Indexes"],
  ["/maintenance", "Maintenance"],
  ["/backups", "Backups"],
  ["/jobs", "Jobs"],
  ["/migrations", "Migrations"]
] as const

/** A page path, as listed in `pages`. */
export type PagePath = typeof pages[number][0]

/** The whole document: inline style, navigation (links under `base`), the page's title and body. */
export const document = (options: {
  readonly base: string
  readonly path: PagePath
  readonly title: string
  readonly target: string
  readonly body: Content
}): Html => {
  const link = (path: string) => (options.base === "" ? path : path === "/" ? `${options.base}/` : options.base + path)
  return html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${options.title} · dbkit</title><style>${raw(style)}</style></head>
<body><header><span class="brand">dbkit</span><nav>${
    pages.map(([path, label]) =>
      html`<a href="${link(path)}"${
        raw(path === options.path ? " class=\"active\" aria-current=\"page\"" : "")
      }>${label}</a>`
    )
  }</nav><span class="target">${options.target}</span></header>
<main><h1>${options.title}</h1>${options.body}</main></body></html>`
}
