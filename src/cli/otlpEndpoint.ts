/**
 * The OTLP traces endpoint the environment names, or undefined when tracing is off: the full
 * OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, else OTEL_EXPORTER_OTLP_ENDPOINT + `/v1/traces` (what
 * `--otlp URL` sets). Apart from tracing.ts so that starting a command without one loads nothing.
 */
export const endpointOf = (env: NodeJS.ProcessEnv): string | undefined => {
  const full = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?.trim()
  if (full) return full
  const base = env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim()
  return base ? `${base.replace(/\/+$/, "")}/v1/traces` : undefined
}
