// `pitr setup` on a server archiving elsewhere (a private cluster whose archive_command is not
// pgBackRest's, test/support/cluster.ts): as a superuser dbkit sets archive_command itself with
// ALTER SYSTEM and a reload (no restart); a role that may not is told exactly what to change and
// nothing is changed. Then a restore to an LSN on the same cluster: exactly the rows committed
// before that WAL position are there.
import * as NodeContext from "@effect/platform-node/NodeContext"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as fs from "node:fs"
import * as path from "node:path"
import { Backup, layer as backupLayer } from "../src/backup/Backup.js"
import { archiveCommand } from "../src/backup/physical/settings.js"
import * as Config from "../src/Config.js"
import { PgLive } from "../src/Database.js"
import type { Guard } from "../src/Guard.js"
import { freePort, type PitrCluster, pitrTools, startCluster, withClusterEnv } from "./support/cluster.js"
import { queryAt } from "./support/databases.js"
import { NonInteractiveGuard } from "./support/terminal.js"

const tools = pitrTools()

const sql = <A = Record<string, unknown>>(url: string, text: string) => Effect.promise(() => queryAt<A>(url, text))

/** One of Backup.physical's operations on the cluster, connected as `url`. */
const physicalOn =
  (cluster: PitrCluster, url: string) =>
  <A, E>(f: (physical: Backup["Type"]["physical"]) => Effect.Effect<A, E, Guard>) =>
    Effect.flatMap(Backup, (b) => f(b.physical)).pipe(
      Effect.provide(
        Layer.mergeAll(backupLayer, NonInteractiveGuard("test")).pipe(
          Layer.provide(PgLive({ url: Redacted.make(url) })),
          Layer.provide(Config.layerFrom({ backupDir: path.join(cluster.dir, "manifests"), environment: "test" })),
          Layer.provide(NodeContext.layer)
        )
      ),
      withClusterEnv(cluster)
    )

describe.skipIf("skip" in tools)("pitr setup's ALTER SYSTEM, and a restore to an LSN, on a private cluster", () => {
  const binDir = "binDir" in tools ? tools.binDir : ""

  it.live(
    "a role that may not change archive_command is told what to change; a superuser's setup sets it, reloads, and a restore to an LSN stops there",
    () =>
      Effect.scoped(Effect.gen(function*() {
        const cluster = yield* startCluster(binDir, { archiveCommand: "/bin/true" })
        const run = physicalOn(cluster, cluster.url)
        const wanted = archiveCommand({
          stanza: cluster.stanza,
          configFile: cluster.configFile,
          repoPath: undefined,
          runAs: undefined,
          binDir: undefined,
          cipherPass: undefined
        })

        // A role that is no superuser (and may read the settings): refused, with the exact change; nothing changed.
        yield* sql(cluster.url, "CREATE ROLE app LOGIN; GRANT pg_read_all_settings TO app")
        const refused = yield* Effect.flip(
          physicalOn(cluster, cluster.url.replace("postgres@", "app@"))((p) => p.setup())
        )
        expect(refused).toMatchObject({
          _tag: "PitrServerNotReady",
          changes: [{ setting: "archive_command", current: "/bin/true", wanted }]
        })
        expect(refused.message).toContain("ALTER SYSTEM")
        expect(fs.readFileSync(path.join(cluster.dataDir, "postgresql.auto.conf"), "utf8")).not.toContain(
          "archive_command"
        )

        // The superuser: ALTER SYSTEM and a reload, then stanza-create and check pass (a WAL segment reached the repository).
        const setup = yield* run((p) => p.setup())
        expect(setup).toMatchObject({
          applied: [{ setting: "archive_command", current: "/bin/true", wanted }],
          settings: { archiveCommand: wanted },
          checked: true
        })
        const [live] = yield* sql<{ command: string }>(
          cluster.url,
          "SELECT current_setting('archive_command') AS command"
        )
        expect(live).toEqual({ command: wanted })
        expect(fs.readFileSync(path.join(cluster.dataDir, "postgresql.auto.conf"), "utf8")).toContain(
          `archive_command = '${wanted}'`
        )
        // Idempotent: a second run changes nothing.
        expect(yield* run((p) => p.setup())).toMatchObject({ applied: [], checked: true })

        // A restore to an LSN: the rows committed before it, none after.
        yield* sql(cluster.url, "CREATE TABLE ledger (batch int, n int)")
        yield* run((p) => p.backup({ type: "full" }))
        yield* sql(cluster.url, "INSERT INTO ledger SELECT 1, g FROM generate_series(1, 10) g")
        const [at] = yield* sql<{ lsn: string }>(cluster.url, "SELECT pg_current_wal_insert_lsn()::text AS lsn")
        yield* sql(cluster.url, "INSERT INTO ledger SELECT 2, g FROM generate_series(1, 10) g")
        yield* run((p) => p.setup()) // archives the WAL holding both batches

        const port = yield* Effect.promise(freePort)
        const restored = yield* run((p) =>
          p.restore({ toLsn: at!.lsn, into: path.join(cluster.dir, "at-lsn"), port, yes: true })
        )
        expect(restored).toMatchObject({ recoveryTarget: { type: "lsn", value: at!.lsn.toUpperCase() }, port })
        const copy = yield* sql<{ batch: number; rows: string }>(
          cluster.url.replace(`:${cluster.port}/`, `:${port}/`),
          "SELECT batch, count(*)::text AS rows FROM ledger GROUP BY batch ORDER BY batch"
        )
        expect(copy).toEqual([{ batch: 1, rows: "10" }])
        expect(restored.reached.stop).toMatch(/^recovery stopping after WAL location \(LSN\)/)
      })),
    300_000
  )
})
