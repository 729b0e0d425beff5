/**
 * The Prometheus text exposition format (version 0.0.4): families with HELP and TYPE lines,
 * samples with escaped label values. Pure; the collectors build families, the route renders them.
 */

/** A sample's labels, in the order they are written. */
export type Labels = Readonly<Record<string, string>>

/** One time series of a family. */
export interface Sample {
  readonly labels?: Labels | undefined
  readonly value: number
}

/** A metric family: one name, one type, its samples (none: the family is left out). */
export interface Family {
  readonly name: string
  readonly help: string
  readonly type: "gauge" | "counter"
  readonly samples: ReadonlyArray<Sample>
}

/** The Content-Type Prometheus expects for this format. */
export const contentType = "text/plain; version=0.0.4; charset=utf-8"

/** A gauge family. */
export const gauge = (name: string, help: string, samples: ReadonlyArray<Sample>): Family => ({
  name,
  help,
  type: "gauge",
  samples
})

/** A counter family (by convention its name ends in `_total`). */
export const counter = (name: string, help: string, samples: ReadonlyArray<Sample>): Family => ({
  name,
  help,
  type: "counter",
  samples
})

/** HELP text: backslash and newline escaped. */
export const escapeHelp = (text: string): string => text.replace(/\\/g, "\\\\").replace(/\n/g, "\\n")

/** A label value: backslash, double quote and newline escaped. */
export const escapeLabelValue = (value: string): string =>
  value.replace(/\\/g, "\\\\").replace(/"/g, "\\\"").replace(/\n/g, "\\n")

/** A sample value as Prometheus parses it (Go's float syntax plus NaN and ±Inf). */
export const formatValue = (value: number): string =>
  Number.isNaN(value)
    ? "NaN"
    : value === Number.POSITIVE_INFINITY
    ? "+Inf"
    : value === Number.NEGATIVE_INFINITY
    ? "-Inf"
    : String(value)

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/

const formatLabels = (labels: Labels | undefined): string => {
  const entries = Object.entries(labels ?? {})
  if (entries.length === 0) return ""
  return `{${entries.map(([name, value]) => `${name}="${escapeLabelValue(value)}"`).join(",")}}`
}

/**
 * Renders families in order; a family without samples is left out entirely (no HELP or TYPE
 * line for a figure that does not exist here). A name that is not a valid metric or label name
 * is a bug in a collector, so it throws rather than writing a line Prometheus would reject whole.
 */
export const render = (families: ReadonlyArray<Family>): string => {
  const lines: Array<string> = []
  for (const family of families) {
    if (family.samples.length === 0) continue
    if (!METRIC_NAME.test(family.name)) throw new Error(`invalid metric name: ${family.name}`)
    lines.push(`# HELP ${family.name} ${escapeHelp(family.help)}`, `# TYPE ${family.name} ${family.type}`)
    for (const sample of family.samples) {
      for (const name of Object.keys(sample.labels ?? {})) {
        if (!LABEL_NAME.test(name) || name.startsWith("__")) throw new Error(`invalid label name: ${name}`)
      }
      lines.push(`${family.name}${formatLabels(sample.labels)} ${formatValue(sample.value)}`)
    }
  }
  return lines.length === 0 ? "" : lines.join("\n") + "\n"
}
