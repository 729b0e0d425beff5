/**
 * The deploy's restore point: when a pgBackRest stanza is configured (DBKIT_PGBACKREST_STANZA),
 * `pg_create_restore_point` just before migrating, recorded in the report and in the stanza's
 * restore-point ledger in the project's backup folder (where physical restores read it), so
 * `dbkit restore --physical --to-name <point>` undoes the release to the second before it. No
 * stanza (or the embedded database): the step is skipped and says so.
 */
import * as Clock from "effect/Clock"
import * as Config from "effect/Config"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import * as path from "node:path"
import * as Backups from "../backup/physical/backup.js"
import * as PitrSettings from "../backup/physical/settings.js"
import { type Outcome, patch, type Run } from "./pipeline.js"

const stanzaVariable = "DBKIT_PGBACKREST_STANZA"

/** Whether a stanza is named at all; a named one that is not usable fails the step (Backup's check). */
const stanzaSet = Effect.map(
  Effect.orElseSucceed(Config.option(Config.string(stanzaVariable)), () => Option.none<string>()),
  Option.exists((s) => s.trim() !== "")
)

/** `dbkit_deploy_<id>_<UTC time to the second>`: unique per deploy, and a valid restore point name. */
export const pointName = (id: number | null, millis: number): string =>
  `dbkit_deploy_${id ?? 0}_${new Date(millis).toISOString().replace(/[-:]/g, "").replace(/\.\d+Z$/, "Z")}`

/** The `point` step: creates the restore point, or says why there is none. */
export const restorePoint = (run: Run): Effect.Effect<Outcome, unknown> =>
  Effect.gen(function*() {
    if (run.database.kind === "embedded") {
      return { status: "skipped", detail: "no restore point on the embedded database" } satisfies Outcome
    }
    if (!(yield* stanzaSet)) {
      return {
        status: "skipped",
        detail: `no restore point: no pgBackRest stanza configured (${stanzaVariable})`
      } satisfies Outcome
    }
    const { report } = yield* Ref.get(run.state)
    // Backup.physical.point would keep the ledger in this environment's safety-backup folder
    // (`<backupDir>/<env>`); `dbkit restore --physical` reads it from the project's backup folder.
    const made = yield* Backups.point(
      run.sql,
      yield* PitrSettings.fromEnvironment,
      path.dirname(run.settings.backupDir),
      pointName(report.id, yield* Clock.currentTimeMillis)
    )
    yield* patch(run, () => ({ restorePoint: { name: made.name, lsn: made.lsn } }))
    return { status: "ok", detail: `${made.name} at ${made.lsn}` } satisfies Outcome
  })
