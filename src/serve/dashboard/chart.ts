/**
 * Small inline SVG line charts: no script, no external asset, so the page renders the same in a
 * browser, a text dump or a screenshot. One series per chart, time on x over a fixed window.
 */
import { type Content, Html, html } from "./html.js"

/** One sample: when (epoch ms) and its value. */
export interface Point {
  readonly at: number
  readonly value: number
}

export interface ChartOptions {
  readonly title: string
  /** Formats a value for the axis labels and the latest figure. */
  readonly format: (value: number) => string
  /** The window shown: [from, to] in epoch ms. */
  readonly from: number
  readonly to: number
  readonly width?: number
  readonly height?: number
}

const PAD_LEFT = 4
const PAD_RIGHT = 4
const PAD_TOP = 16
const PAD_BOTTOM = 16

/** `12-07 05:29`: a day's window spans two dates. */
const stamp = (at: number) => new Date(at).toISOString().slice(5, 16).replace("T", " ")

/** The path's `d`: one move, then a line to each point, in chart coordinates (one decimal). */
export const linePath = (
  points: ReadonlyArray<Point>,
  box: { readonly from: number; readonly to: number; readonly width: number; readonly height: number }
): string => {
  if (points.length === 0) return ""
  const values = points.map((p) => p.value)
  const min = Math.min(0, ...values)
  const max = Math.max(...values)
  const span = max - min || 1
  const plotWidth = box.width - PAD_LEFT - PAD_RIGHT
  const plotHeight = box.height - PAD_TOP - PAD_BOTTOM
  const x = (at: number) => PAD_LEFT + ((at - box.from) / Math.max(1, box.to - box.from)) * plotWidth
  const y = (value: number) => PAD_TOP + plotHeight - ((value - min) / span) * plotHeight
  return points
    .map((p, i) => `${i === 0 ? "M" : "L"}${x(p.at).toFixed(1)} ${y(p.value).toFixed(1)}`)
    .join(" ")
}

/** A titled chart of `points` (sorted by time), or a note when there are none yet. */
export const lineChart = (points: ReadonlyArray<Point>, options: ChartOptions): Html => {
  const width = options.width ?? 320
  const height = options.height ?? 110
  const inWindow = points.filter((p) => p.at >= options.from && p.at <= options.to && Number.isFinite(p.value))
  const latest = inWindow.at(-1)
  const body: Content = inWindow.length === 0
    ? html`<text x="${width / 2}" y="${
      height / 2
    }" text-anchor="middle" font-size="11" fill="#7b8794">no samples yet</text>`
    : [
      html`<text x="${PAD_LEFT}" y="11" font-size="10" fill="#52606d">max ${
        options.format(Math.max(...inWindow.map((p) => p.value)))
      }</text>`,
      html`<path class="series" d="${
        linePath(inWindow, { from: options.from, to: options.to, width, height })
      }" fill="none" stroke="#2680c2" stroke-width="1.5"/>`
    ]
  return html`<div class="chart"><h3>${options.title}${
    latest === undefined ? "" : html` <span class="note">now ${options.format(latest.value)}</span>`
  }</h3><svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img" aria-label="${options.title}, last ${
    Math.round((options.to - options.from) / 3_600_000)
  } h">
<line x1="${PAD_LEFT}" y1="${height - PAD_BOTTOM}" x2="${width - PAD_RIGHT}" y2="${
    height - PAD_BOTTOM
  }" stroke="#cbd2d9"/>${body}
<text x="${PAD_LEFT}" y="${height - 3}" font-size="10" fill="#7b8794">${stamp(options.from)}</text>
<text x="${width - PAD_RIGHT}" y="${height - 3}" font-size="10" fill="#7b8794" text-anchor="end">${
    stamp(options.to)
  } UTC</text></svg></div>`
}
