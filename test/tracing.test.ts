// Spans: every service method runs in one (src/Tracing.ts), recorded here by an in-memory tracer
// on the server and the embedded database; and a command's trace as a collector receives it over
// OTLP/HTTP (`--otlp URL`), with no secret in any attribute.
import * as NodeContext from "@effect/platform-node/NodeContext"
import { describe, expect, it, layer } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Tracer from "effect/Tracer"
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import * as Backup from "../src/backup/Backup.js"
import { scrubbing } from "../src/cli/tracing.js"
import * as Config from "../src/Config.js"
import * as Health from "../src/health/Health.js"
import * as Migrator from "../src/migrator/Migrator.js"
import { fromDirectory } from "../src/migrator/source.js"
import * as Redact from "../src/Redact.js"
import { runCli } from "./support/cli.js"
import {
  createScratchDatabase,
  dropScratchDatabase,
  EmbeddedLive,
  serverAvailable,
  ServerLive,
  tempDir
} from "./support/databases.js"
import { writeFolder } from "./support/migrations.js"

const server = await serverAvailable()

interface Recorded {
  readonly name: string
  readonly spanId: string
  readonly parentId: string | undefined
  readonly attributes: Map<string, unknown>
  ended: boolean
  failure?: string
}

/** An in-memory exporter: a tracer that keeps every span it makes. */
const recorder = () => {
  const spans: Array<Recorded> = []
  let next = 0
  const tracer = Tracer.make({
    context: (f) => f(),
    span: (name, parent, context, links, startTime, kind) => {
      const record: Recorded = {
        name,
        spanId: `s${++next}`,
        parentId: Option.getOrUndefined(Option.map(parent, (p) => p.spanId)),
        attributes: new Map(),
        ended: false
      }
      spans.push(record)
      const span: Tracer.Span = {
        _tag: "Span",
        name,
        spanId: record.spanId,
        traceId: "t1",
        parent,
        context,
        status: { _tag: "Started", startTime },
        attributes: record.attributes,
        links,
        sampled: true,
        kind,
        end: (_endTime: bigint, exit: Exit.Exit<unknown, unknown>) => {
          record.ended = true
          if (exit._tag === "Failure") record.failure = Cause.pretty(exit.cause)
        },
        attribute: (key, value) => void record.attributes.set(key, value),
        event: () => undefined,
        addLinks: () => undefined
      }
      return span
    }
  })
  return { spans, tracer }
}

const migrations = writeFolder({ "001_items.sql": "CREATE TABLE traced_items (id int PRIMARY KEY);" })

const services = Layer.mergeAll(
  Migrator.layer({ source: fromDirectory(migrations) }),
  Health.layer().pipe(
    Layer.provide(Migrator.layer({ source: fromDirectory(migrations) })),
    Layer.provide(Backup.layer)
  ),
  Backup.layer
).pipe(
  Layer.provideMerge(Config.layerFrom({ backupDir: tempDir("dbkit-trace-") })),
  Layer.provide(NodeContext.layer)
)

/** Runs a migration, a health report and a backup listing under a recorder; returns what it kept. */
const traceServices = Effect.gen(function*() {
  const { spans, tracer } = recorder()
  yield* Effect.gen(function*() {
    yield* (yield* Migrator.Migrator).migrate()
    yield* (yield* Health.Health).report({ only: ["connectivity", "migrations"] })
    yield* (yield* Backup.Backup).list()
  }).pipe(Effect.withSpan("test root"), Effect.provide(services), Effect.withTracer(tracer))
  return spans
})

const byName = (spans: ReadonlyArray<Recorded>, name: string) => {
  const found = spans.find((s) => s.name === name)
  expect(found, `a span named ${name} among ${[...new Set(spans.map((s) => s.name))].join(", ")}`).toBeDefined()
  return found!
}

const checkServiceSpans = (spans: ReadonlyArray<Recorded>, kind: "server" | "embedded") => {
  const root = byName(spans, "test root")
  const migrate = byName(spans, "dbkit.Migrator.migrate")
  expect(migrate.parentId).toBe(root.spanId)
  expect(Object.fromEntries(migrate.attributes)).toMatchObject({
    "db.system.name": "postgresql",
    "dbkit.database.kind": kind,
    "dbkit.service": "Migrator",
    "dbkit.operation": "migrate"
  })
  expect(migrate.attributes.get("db.namespace")).toEqual(expect.any(String))
  expect(byName(spans, "dbkit.Health.report").parentId).toBe(root.spanId)
  expect(byName(spans, "dbkit.Backup.list").parentId).toBe(root.spanId)
  // The statements a service runs are its children (directly or through its own inner spans).
  const ids = new Map(spans.map((s) => [s.spanId, s]))
  const underMigrate = spans.filter((s) => {
    for (let at = s.parentId; at !== undefined; at = ids.get(at)?.parentId) if (at === migrate.spanId) return true
    return false
  })
  expect(underMigrate.length).toBeGreaterThan(0)
  expect(spans.every((s) => s.ended)).toBe(true)
}

describe.skipIf(!server)("service spans on the server", () => {
  layer(ServerLive, { excludeTestServices: true })((it) => {
    it.effect("each operation is a span under the caller's, with the database, environment and operation", () =>
      Effect.map(traceServices, (spans) => {
        checkServiceSpans(spans, "server")
        expect(byName(spans, "dbkit.Migrator.migrate").attributes.get("dbkit.environment")).toBe("development")
      }))
  })
})

layer(EmbeddedLive, { excludeTestServices: true })("service spans on the embedded database", (it) => {
  it.effect("the same spans", () => Effect.map(traceServices, (spans) => checkServiceSpans(spans, "embedded")))
})

describe("the scrubbing tracer", () => {
  it("masks secrets in attribute and event values and reduces statements to their first keyword", () => {
    const { spans, tracer } = recorder()
    const scrubbed = scrubbing(tracer, Redact.scrubber(["hunter22"]))
    const span = scrubbed.span("x", Option.none(), Context.empty(), [], 0n, "internal")
    span.attribute("url", "postgres://app:hunter22@db/prod")
    span.attribute("db.query.text", "UPDATE users SET email = 'a@b.c' WHERE id = 7")
    span.attribute("count", 3)
    span.end(1n, Exit.fail(new Error("connect to postgres://app:hunter22@db/prod failed")))
    expect(spans[0]!.failure).toContain("postgres://app:***@db/prod failed")
    expect(spans[0]!.failure).not.toContain("hunter22")
    expect(Object.fromEntries(spans[0]!.attributes)).toEqual({
      url: "postgres://app:***@db/prod",
      "db.query.text": "UPDATE",
      count: 3
    })
  })
})

/** A collector: an HTTP server that keeps every OTLP/JSON body posted to it. */
const collector = () =>
  new Promise<
    { url: string; bodies: Array<{ path: string; headers: http.IncomingHttpHeaders; body: string }>; close: () => void }
  >(
    (resolve) => {
      const bodies: Array<{ path: string; headers: http.IncomingHttpHeaders; body: string }> = []
      const httpServer = http.createServer((req, res) => {
        let body = ""
        req.on("data", (d) => (body += d))
        req.on("end", () => {
          bodies.push({ path: req.url ?? "", headers: req.headers, body })
          res.writeHead(200, { "content-type": "application/json" }).end("{}")
        })
      })
      httpServer.listen(0, "127.0.0.1", () =>
        resolve({
          url: `http://127.0.0.1:${(httpServer.address() as AddressInfo).port}`,
          bodies,
          close: () => httpServer.close()
        }))
    }
  )

interface OtlpSpan {
  readonly name: string
  readonly spanId: string
  readonly parentSpanId?: string
  readonly attributes: ReadonlyArray<{ key: string; value: Record<string, unknown> }>
}

const spansOf = (bodies: ReadonlyArray<{ body: string }>): Array<OtlpSpan> =>
  bodies.flatMap((b) =>
    (JSON.parse(b.body).resourceSpans as Array<{ scopeSpans: Array<{ spans: Array<OtlpSpan> }> }>).flatMap((r) =>
      r.scopeSpans.flatMap((s) => s.spans)
    )
  )

describe.skipIf(!server)("dbkit COMMAND --otlp URL", () => {
  it("exports the command's trace to the collector: root, service and statement spans, no secret anywhere", async () => {
    const database = await createScratchDatabase("dbkit_otlp")
    const received = await collector()
    try {
      // trust auth ignores the password: it is there to be kept out of the trace.
      const url = database.url.replace("://root@", "://root:pw-never-exported@")
      const result = await runCli(["migrate", "--otlp", received.url, "--json"], {
        DATABASE_URL: url,
        DBKIT_MIGRATIONS_DIR: migrations,
        DB_BACKUP_KEY: "backup-key-never-exported",
        OTEL_EXPORTER_OTLP_HEADERS: "x-api-key=collector-token"
      })
      expect(result.code, result.stderr).toBe(0)
      expect(received.bodies.length).toBeGreaterThan(0)
      expect(received.bodies[0]!.path).toBe("/v1/traces")
      expect(received.bodies[0]!.headers["x-api-key"]).toBe("collector-token")
      const spans = spansOf(received.bodies)
      const root = spans.find((s) => s.name === "dbkit migrate")!
      const migrate = spans.find((s) => s.name === "dbkit.Migrator.migrate")!
      expect(root).toBeDefined()
      expect(migrate.parentSpanId).toBe(root.spanId)
      const attributes = Object.fromEntries(migrate.attributes.map((a) => [a.key, Object.values(a.value)[0]]))
      expect(attributes).toMatchObject({ "db.namespace": database.name, "dbkit.environment": "development" })
      const statements = spans.filter((s) => s.name === "sql.execute")
      for (const statement of statements) {
        const text = statement.attributes.find((a) => a.key === "db.query.text")?.value["stringValue"]
        expect(text).toMatch(/^[A-Z]+$|^\(not visible\)$/)
      }
      const everything = received.bodies.map((b) => b.body).join("\n")
      for (const secret of ["pw-never-exported", "backup-key-never-exported", "collector-token"]) {
        expect(everything).not.toContain(secret)
      }
      expect(result.stdout + result.stderr).not.toContain("pw-never-exported")
    } finally {
      received.close()
      await dropScratchDatabase(database.name)
    }
  })

  it("a URL that is not http(s) is refused, exit 2", async () => {
    const result = await runCli(["migrate", "--otlp", "ftp://collector"], {
      DBKIT_MIGRATIONS_DIR: migrations,
      DATABASE_URL: "postgres://root@127.0.0.1:5432/postgres"
    })
    expect(result.code).toBe(2)
    expect(result.stderr).toContain("--otlp")
  })
})
