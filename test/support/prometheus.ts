/**
 * `dbkit serve` and a real Prometheus for tests. `startServe` runs the CLI bundle as a child
 * process on a free port and resolves when it says where it listens; `startPrometheus` runs
 * Debian's `prometheus` with its own config and storage in a temp folder on a free loopback
 * port, scraping the given targets every second, and queries it with PromQL over its HTTP API.
 * Both are scoped (SIGTERM on release, SIGKILL if they linger). `parseExposition` reads the
 * text format strictly enough to catch what Prometheus would reject. With CI=true a missing
 * prometheus binary fails the file (.ci/run installs it).
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import { type ChildProcess, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { findBinary, stopChild as stopChildPolitely } from "./binaries.js"
import { nodeFlags } from "./cli.js"
import { freePort } from "./cluster.js"

/** Debian's prometheus, or undefined (throws under CI=true). */
export const prometheusBinary = () => findBinary("prometheus", ["/usr/bin/prometheus"], "prometheus")

/** Debian's postgres_exporter, or undefined (throws under CI=true). */
export const exporterBinary = () =>
  findBinary("prometheus-postgres-exporter", ["/usr/bin/prometheus-postgres-exporter"], "prometheus-postgres-exporter")

/** SIGTERM, then SIGKILL if it lingers. */
const stopChild = (child: ChildProcess) => stopChildPolitely(child, "SIGTERM", "10 seconds")

export interface RunningServe {
  /** `http://127.0.0.1:PORT` */
  readonly url: string
  readonly port: number
  /** Sends `signal` and resolves with the exit code. */
  readonly stop: (signal: NodeJS.Signals) => Promise<number | null>
  /** stdout and stderr so far. */
  readonly output: () => string
}

/** `dbkit serve --port 0 ...args` from the bundle (bin/dbkit.mjs), with `env` over a clean environment. */
export const startServe = (env: Record<string, string>, args: ReadonlyArray<string> = []) =>
  Effect.acquireRelease(
    Effect.async<RunningServe, Error>((resume) => {
      const base = { ...process.env }
      for (const name of ["DATABASE_URL", "DB_ENV", "NODE_ENV", "VITEST", "DBKIT_SERVE_TOKEN"]) delete base[name]
      const bin = path.resolve(import.meta.dirname, "../../bin/dbkit.mjs")
      const child = spawn(process.execPath, [...nodeFlags, bin, "serve", "--port", "0", ...args], {
        cwd: path.resolve(import.meta.dirname, "../.."),
        env: { ...base, CI: "true", ...env },
        stdio: ["ignore", "pipe", "pipe"]
      })
      let output = ""
      let settled = false
      const exit = new Promise<number | null>((done) => child.on("exit", (code) => done(code)))
      const fail = (why: string) => {
        if (settled) return
        settled = true
        child.kill("SIGKILL")
        resume(Effect.fail(new Error(`dbkit serve ${why}:\n${output}`)))
      }
      const timer = setTimeout(() => fail("did not say it listens within 60 s"), 60_000)
      const read = (chunk: Buffer) => {
        output += chunk
        const listening = /listening on (http:\/\/[^\s]+:(\d+))/.exec(output)
        if (listening === null || settled) return
        settled = true
        clearTimeout(timer)
        resume(Effect.succeed({
          url: listening[1]!,
          port: Number(listening[2]),
          stop: (signal) => (child.kill(signal), exit),
          output: () => output
        }))
      }
      child.stdout.on("data", read)
      child.stderr.on("data", read)
      void exit.then((code) => fail(`exited with ${code} before listening`))
    }),
    (serve) => Effect.promise(() => serve.stop("SIGKILL"))
  )

/** One sample of the text format. */
export interface ParsedSample {
  readonly name: string
  readonly labels: Readonly<Record<string, string>>
  readonly value: number
}

export interface Exposition {
  readonly types: ReadonlyMap<string, string>
  readonly help: ReadonlyMap<string, string>
  readonly samples: ReadonlyArray<ParsedSample>
}

const unescape = (text: string) => text.replace(/\\(["\\n])/g, (_, c: string) => (c === "n" ? "\n" : c))

/**
 * Parses the text format, throwing on what Prometheus would reject: a sample before its TYPE,
 * a malformed line or label, a family split in two, the same series twice.
 */
export const parseExposition = (text: string): Exposition => {
  const types = new Map<string, string>()
  const help = new Map<string, string>()
  const samples: Array<ParsedSample> = []
  const seen = new Set<string>()
  const finished = new Set<string>()
  let current: string | undefined
  const labelPair = /^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\["\\n])*)"(,|$)/
  for (const line of text.split("\n")) {
    if (line === "") continue
    const meta = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line)
    if (meta) {
      const [, kind, name, rest] = meta
      if (finished.has(name!) && current !== name) throw new Error(`family ${name} appears twice`)
      if (current !== undefined && current !== name) finished.add(current)
      current = name
      if (kind === "HELP") help.set(name!, unescape(rest!))
      else types.set(name!, rest!)
      continue
    }
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$/.exec(line)
    if (sample === null) throw new Error(`not a sample line: ${JSON.stringify(line)}`)
    const [, name, , body, raw] = sample
    if (!types.has(name!) || current !== name) throw new Error(`sample of ${name} outside its family`)
    const labels: Record<string, string> = {}
    let rest = body ?? ""
    while (rest !== "") {
      const pair = labelPair.exec(rest)
      if (pair === null) throw new Error(`bad labels in ${JSON.stringify(line)}`)
      labels[pair[1]!] = unescape(pair[2]!)
      rest = rest.slice(pair[0].length)
    }
    const value = raw === "+Inf" ? Infinity : raw === "-Inf" ? -Infinity : Number(raw)
    if (Number.isNaN(value) && raw !== "NaN") throw new Error(`bad value in ${JSON.stringify(line)}`)
    const key = `${name}${JSON.stringify(Object.entries(labels).sort())}`
    if (seen.has(key)) throw new Error(`series twice: ${line}`)
    seen.add(key)
    samples.push({ name: name!, labels, value })
  }
  return { types, help, samples }
}

/** The samples of `name` whose labels include `labels`. */
export const series = (
  exposition: Exposition,
  name: string,
  labels: Readonly<Record<string, string>> = {}
): ReadonlyArray<ParsedSample> =>
  exposition.samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))

/** GET with an optional bearer token. */
export const fetchText = (url: string, token?: string) =>
  Effect.promise(async () => {
    const response = await fetch(url, token === undefined ? {} : { headers: { authorization: `Bearer ${token}` } })
    return { status: response.status, type: response.headers.get("content-type"), body: await response.text() }
  })

export interface ScrapeTarget {
  readonly job: string
  /** `127.0.0.1:PORT` */
  readonly address: string
  readonly bearerToken?: string
}

/** A PromQL instant-query result: each series' labels and value. */
export type Vector = ReadonlyArray<{ readonly metric: Record<string, string>; readonly value: number }>

export interface RunningPrometheus {
  readonly url: string
  /** An instant query (`/api/v1/query`); fails on an error answer. */
  readonly query: (promql: string) => Effect.Effect<Vector, Error>
  /** Re-runs `promql` every 500 ms until `done` holds (or `timeout`, then fails with the last answer). */
  readonly until: (
    promql: string,
    done: (vector: Vector) => boolean,
    timeout?: Duration.DurationInput
  ) => Effect.Effect<Vector, Error>
  readonly log: () => string
}

/** A private Prometheus scraping `targets` every second, for the scope. */
export const startPrometheus = (binary: string, targets: ReadonlyArray<ScrapeTarget>) =>
  Effect.gen(function*() {
    const dir = yield* Effect.acquireRelease(
      Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "dbkit-prometheus-"))),
      (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
    )
    const config = [
      "global:",
      "  scrape_interval: 1s",
      "  scrape_timeout: 1s",
      "  evaluation_interval: 1s",
      "scrape_configs:",
      ...targets.flatMap((t) => [
        `  - job_name: ${JSON.stringify(t.job)}`,
        ...(t.bearerToken === undefined
          ? []
          : ["    authorization:", "      type: Bearer", `      credentials: ${JSON.stringify(t.bearerToken)}`]),
        "    static_configs:",
        `      - targets: [${JSON.stringify(t.address)}]`
      ]),
      ""
    ].join("\n")
    fs.writeFileSync(path.join(dir, "prometheus.yml"), config)
    const port = yield* Effect.promise(freePort)
    const logfile = path.join(dir, "prometheus.log")
    const out = fs.openSync(logfile, "a")
    const child = yield* Effect.acquireRelease(
      Effect.sync(() =>
        spawn(binary, [
          `--config.file=${path.join(dir, "prometheus.yml")}`,
          `--storage.tsdb.path=${path.join(dir, "data")}`,
          `--web.listen-address=127.0.0.1:${port}`,
          "--storage.tsdb.retention.time=1h",
          "--log.level=warn"
        ], { stdio: ["ignore", out, out] })
      ),
      stopChild
    )
    const log = () => fs.readFileSync(logfile, "utf8")
    const url = `http://127.0.0.1:${port}`
    yield* Effect.tryPromise(async () => {
      const response = await fetch(`${url}/-/ready`)
      if (!response.ok) throw new Error(`not ready: ${response.status}`)
    }).pipe(
      Effect.retry(Schedule.spaced("200 millis").pipe(Schedule.upTo("60 seconds"))),
      Effect.mapError(() => new Error(`prometheus did not become ready (exit ${child.exitCode}); its log:\n${log()}`))
    )
    const query = (promql: string) =>
      Effect.tryPromise({
        try: async () => {
          const response = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(promql)}`)
          const body = await response.json() as {
            status: string
            error?: string
            data?: { resultType: string; result: Array<{ metric: Record<string, string>; value: [number, string] }> }
          }
          if (body.status !== "success") throw new Error(`${promql}: ${body.error}`)
          return (body.data?.result ?? []).map((r) => ({ metric: r.metric, value: Number(r.value[1]) }))
        },
        catch: (error) => error instanceof Error ? error : new Error(String(error))
      })
    const until = (promql: string, done: (vector: Vector) => boolean, timeout: Duration.DurationInput = "60 seconds") =>
      Effect.gen(function*() {
        const deadline = Date.now() + Duration.toMillis(timeout)
        for (;;) {
          const vector = yield* query(promql)
          if (done(vector)) return vector
          if (Date.now() > deadline) {
            return yield* Effect.fail(
              new Error(`${promql} never matched; last answer ${JSON.stringify(vector)}; log:\n${log()}`)
            )
          }
          yield* Effect.sleep("500 millis")
        }
      })
    return { url, query, until, log } satisfies RunningPrometheus
  })

/** postgres_exporter on a free loopback port, exporting `databaseUrl`, for the scope; resolves once it answers. */
export const startExporter = (binary: string, databaseUrl: string) =>
  Effect.gen(function*() {
    const port = yield* Effect.promise(freePort)
    const dsn = new URL(databaseUrl)
    dsn.searchParams.set("sslmode", "disable")
    let log = ""
    const child = yield* Effect.acquireRelease(
      Effect.sync(() => {
        const child = spawn(binary, [`--web.listen-address=127.0.0.1:${port}`, "--log.level=warn"], {
          env: { ...process.env, DATA_SOURCE_NAME: dsn.toString() },
          stdio: ["ignore", "pipe", "pipe"]
        })
        child.stdout.on("data", (d) => (log += d))
        child.stderr.on("data", (d) => (log += d))
        return child
      }),
      stopChild
    )
    const address = `127.0.0.1:${port}`
    yield* Effect.tryPromise(async () => {
      const response = await fetch(`http://${address}/metrics`)
      if (!response.ok) throw new Error(String(response.status))
    }).pipe(
      Effect.retry(Schedule.spaced("200 millis").pipe(Schedule.upTo("30 seconds"))),
      Effect.mapError(() => new Error(`postgres_exporter did not answer (exit ${child.exitCode}):\n${log}`))
    )
    return { address, log: () => log }
  })
