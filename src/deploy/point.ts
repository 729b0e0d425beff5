/**
 * The deploy's restore point: when a pgBackRest stanza is configured (DBKIT_PGBACKREST_STANZA, or
 * the environment's `pitr` block in dbkit.config.*), `pg_create_restore_point` just before
 * migrating, recorded in the report and in the stanza's restore-point ledger in its one home
 * (backup/physical/home.ts, where physical restores read it), so
 * `dbkit restore --physical --to-name <point>` undoes the release to the second before it. No
 * stanza (or the embedded database): the step is skipped and says so.
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Ref from "effect/Ref"
import * as Backups from "../backup/physical/backup.js"
import { physicalHome } from "../backup/physical/home.js"
import * as PitrSettings from "../backup/physical/settings.js"
import { type Outcome, patch, type Run } from "./pipeline.js"

const stanzaVariable = "DBKIT_PGBACKREST_STANZA"

/** `dbkit_deploy_<id>_<UTC time to the second>`: unique per deploy, and a valid restore point name. */
export const pointName = (id: number | null, millis: number): string =>
  `dbkit_deploy_${id ?? 0}_${new Date(millis).toISOString().replace(/[-:]/g, "").replace(/\.\d+Z$/, "Z")}`

/** The `point` step: creates the restore point, or says why there is none. */
export const restorePoint = (run: Run): Effect.Effect<Outcome, unknown> =>
  Effect.gen(function*() {
    if (run.database.kind === "embedded") {
      return { status: "skipped", detail: "no restore point on the embedded database" } satisfies Outcome
    }
    if (!(yield* PitrSettings.stanzaNamed(run.settings.pitr))) {
      return {
        status: "skipped",
        detail:
          `no restore point: no pgBackRest stanza configured (${stanzaVariable}, or pitr.stanza in the config file)`
      } satisfies Outcome
    }
    const { report } = yield* Ref.get(run.state)
    const made = yield* Backups.point(
      run.sql,
      yield* PitrSettings.withFile(run.settings.pitr),
      physicalHome(run.settings.backupDir, run.settings.name),
      pointName(report.id, yield* Clock.currentTimeMillis)
    )
    yield* patch(run, () => ({ restorePoint: { name: made.name, lsn: made.lsn } }))
    return { status: "ok", detail: `${made.name} at ${made.lsn}` } satisfies Outcome
  })
