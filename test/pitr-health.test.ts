// The `archiving` health check on a private cluster that archives into a pgBackRest repository
// (test/support/cluster.ts; the shared server is never reconfigured): ok with the recovery
// point objective while WAL reaches the archive, critical once archive_command fails, ok again
// once it is fixed.
import * as NodeContext from "@effect/platform-node/NodeContext"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as path from "node:path"
import * as Backup from "../src/backup/Backup.js"
import * as Config from "../src/Config.js"
import { PgLive } from "../src/Database.js"
import { waitingSegments } from "../src/health/archiving.js"
import * as Health from "../src/health/Health.js"
import * as Migrator from "../src/migrator/Migrator.js"
import { fromDirectory } from "../src/migrator/source.js"
import { type PitrCluster, pitrTools, startCluster, withClusterEnv } from "./support/cluster.js"
import { queryAt } from "./support/databases.js"
import { writeFolder } from "./support/migrations.js"

const tools = pitrTools()

const sql = <A = Record<string, unknown>>(url: string, text: string) => Effect.promise(() => queryAt<A>(url, text))

/** Backup and Health on the cluster, manifests in `backupDir`, pgBackRest settings from its env. */
const onCluster = (cluster: PitrCluster, backupDir: string) => {
  const base = Layer.mergeAll(Backup.layer, Migrator.layer({ source: fromDirectory(writeFolder({})) })).pipe(
    Layer.provideMerge(PgLive({ url: Redacted.make(cluster.url) })),
    Layer.provide(Config.layerFrom({ backupDir, environment: "test" })),
    Layer.provide(NodeContext.layer)
  )
  return Layer.provideMerge(Health.layer(), base)
}

/** Re-runs `effect` until `done` (the archiver works in the background); returns the last value. */
const until = <A, E, R>(effect: Effect.Effect<A, E, R>, done: (a: A) => boolean, timeoutMs = 60_000) =>
  Effect.gen(function*() {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const value = yield* effect
      if (done(value) || Date.now() > deadline) return value
      yield* Effect.sleep("250 millis")
    }
  })

/** A write and a WAL switch: one completed segment for the archiver. */
const switchWal = (cluster: PitrCluster) =>
  sql(cluster.url, "INSERT INTO events (n) SELECT g FROM generate_series(1, 100) g; SELECT pg_switch_wal()")

interface Archiver {
  readonly archived: number
  readonly failed: number
  readonly failing: boolean
}
const archiver = (cluster: PitrCluster) =>
  Effect.map(
    sql<Archiver>(
      cluster.url,
      `SELECT archived_count::int AS archived, failed_count::int AS failed,
              coalesce(last_failed_time > last_archived_time, false) AS failing FROM pg_stat_archiver`
    ),
    (rows) => rows[0]!
  )

describe("waiting WAL segments", () => {
  it("counts the completed segments between the last archived one and the one being written", () => {
    const mb16 = 16 * 1024 * 1024
    // 0/3000000 is in segment 3: the last archived is 2, nothing waits.
    expect(waitingSegments("000000010000000000000002", "0/3000060", mb16)).toBe(0)
    expect(waitingSegments("000000010000000000000002", "0/5000060", mb16)).toBe(2)
    // Across a log boundary: 0/FF000000 is segment FF of log 0; 1/2000000 is segment 2 of log 1.
    expect(waitingSegments("0000000100000000000000FF", "1/2000000", mb16)).toBe(2)
    expect(waitingSegments("000000010000000000000002.00000028.backup", "0/5000060", mb16)).toBe(2)
    expect(waitingSegments("00000002.history", "0/5000060", mb16)).toBeUndefined()
  })
})

describe.skipIf("skip" in tools)("the archiving check on a private cluster", () => {
  const binDir = "binDir" in tools ? tools.binDir : ""

  it.live(
    "ok with the RPO while archiving works, critical while archive_command fails, ok once fixed",
    () =>
      Effect.scoped(Effect.gen(function*() {
        const cluster = yield* startCluster(binDir)
        const backupDir = path.join(cluster.dir, "manifests")
        const layer = onCluster(cluster, backupDir)
        const onIt = <A, E>(effect: Effect.Effect<A, E, Backup.Backup | Health.Health>) =>
          effect.pipe(Effect.provide(layer), withClusterEnv(cluster))
        const checkWith = (thresholds: Partial<Health.Thresholds>) =>
          onIt(
            Effect.flatMap(Health.Health, (h) => h.report({ only: ["archiving"], thresholds })).pipe(
              Effect.map((r) => r.checks[0]!)
            )
          )
        const check = checkWith({})

        yield* onIt(Effect.flatMap(Backup.Backup, (b) => b.physical.setup()))
        yield* sql(cluster.url, "CREATE TABLE events (n int)")
        const before = yield* archiver(cluster)
        yield* switchWal(cluster)
        yield* until(archiver(cluster), (a) => a.archived > before.archived)

        // Archiving works but no physical backup exists yet: a warning that says what to run.
        const noBackup = yield* check
        expect(noBackup.status).toBe("warn")
        expect(noBackup.detail).toContain("dbkit backup --physical")

        const full = yield* onIt(Effect.flatMap(Backup.Backup, (b) => b.physical.backup({ type: "full" })))
        const healthy = yield* check
        expect(healthy).toMatchObject({ name: "archiving", status: "ok", unit: "s" })
        expect(typeof healthy.value).toBe("number")
        expect(healthy.value as number).toBeGreaterThanOrEqual(0)
        expect(healthy.detail).toMatch(/RPO .*: data written since \S+Z would be lost/)
        expect(healthy.detail).toContain(`newest physical backup ${full.manifest.label} (full)`)
        // No completed segment waits: an old last archived WAL is not graded (the server is idle).
        expect((yield* checkWith({ archiveAgeSeconds: 0, archiveAgeCriticalSeconds: 0 })).status).toBe("ok")

        // archive_command fails: the next completed segment cannot be archived.
        yield* sql(cluster.url, "ALTER SYSTEM SET archive_command = 'false'")
        yield* sql(cluster.url, "SELECT pg_reload_conf()")
        const ok = yield* archiver(cluster)
        yield* switchWal(cluster)
        const failing = yield* until(archiver(cluster), (a) => a.failed > ok.failed && a.failing)
        expect(failing.failing).toBe(true)
        const broken = yield* check
        expect(broken.status).toBe("critical")
        expect(broken.detail).toMatch(/archiving is failing: \d+ failures?, the last on [0-9A-F]{24}/)
        expect(broken.detail).toContain("check archive_command")
        const report = yield* onIt(Effect.flatMap(Health.Health, (h) => h.report({ only: ["archiving"] })))
        expect(report.status).toBe("critical")

        // Fixed: the waiting segment goes out and the check is ok again.
        yield* sql(cluster.url, "ALTER SYSTEM RESET archive_command")
        yield* sql(cluster.url, "SELECT pg_reload_conf()")
        yield* switchWal(cluster)
        const recovered = yield* until(archiver(cluster), (a) => !a.failing && a.archived > ok.archived)
        expect(recovered.failing).toBe(false)
        const fixed = yield* check
        expect(fixed.status).toBe("ok")
        expect(fixed.detail).toContain("would be lost")
      })),
    240_000
  )
})
