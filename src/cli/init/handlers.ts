/**
 * Handler of `dbkit init` (definition in index.ts): runs init.ts and says what it found and did.
 */
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type { Parsed } from "../options.js"
import { json } from "../render.js"
import type { initConfig } from "./index.js"
import { init as runInit, type InitReport } from "./init.js"

const found = (report: InitReport): ReadonlyArray<string> => {
  const m = report.migrations
  const lines: Array<string> = []
  if (m.drizzleConfig !== null) {
    lines.push(
      !m.drizzleConfig.understood
        ? `found ${m.drizzleConfig.file}: its out is not a plain string, so dbkit looked for the folder instead`
        : `found ${m.drizzleConfig.file} → out: ${m.drizzleConfig.out ?? "(none: drizzle-kit's default ./drizzle)"}`
    )
  }
  const contents = m.layout === "drizzle"
    ? `drizzle-kit journal, ${m.migrations} migration(s)`
    : `${m.migrations} SQL migration(s)`
  if (m.layout !== "missing") lines.push(`found ${m.dir}/ (${contents})`)
  else if (m.source === "drizzle-config") lines.push(`${m.dir}/ does not exist yet (drizzle-kit generate creates it)`)
  else lines.push(`no migrations folder found: using ${m.dir}/ (\`dbkit migrate new NAME\` creates the first)`)
  for (const file of m.misnamed) {
    lines.push(`! ${m.dir}/${file} is not named NNNN_name.sql: dbkit migrate will refuse it until it is renamed`)
  }
  lines.push(
    report.backups.exists ? `found ${report.backups.dir}/` : `no ${report.backups.dir}/ folder: backups will go there`
  )
  return lines
}

const done = (report: InitReport): ReadonlyArray<string> => {
  const lines: Array<string> = [
    report.config.status === "written"
      ? `wrote ${report.config.file} (migrationsDir "${report.migrations.dir}", backupDir "${report.backups.dir}")`
      : `kept ${report.config.file}: it exists and is never overwritten (\`npx dbkit env list\` shows what it says)`
  ]
  const pkg = report.packageJson
  if (pkg.status === "missing") lines.push("no package.json here: none created, no scripts added (run dbkit with npx)")
  else {
    if (pkg.added.length > 0) lines.push(`package.json: added ${pkg.added.join(", ")}`)
    if (pkg.present.length > 0) lines.push(`package.json: already there: ${pkg.present.join(", ")}`)
    for (const c of pkg.conflicts) {
      lines.push(`package.json: left ${c.name} alone: it runs "${c.command}", not "${c.wanted}"`)
    }
    if (!pkg.dependsOnDbkit) {
      lines.push("package.json does not list dbkit: the scripts need it installed (npm install --save-dev dbkit)")
    }
  }
  return lines
}

/** `dbkit init`. */
export const init = (options: Parsed<typeof initConfig>) =>
  Effect.gen(function*() {
    const report = yield* runInit(Option.getOrElse(options.dir, () => "."))
    if (options.json) return yield* json(report)
    yield* Console.log(`dbkit init in ${report.dir}`)
    for (const line of [...found(report), ...done(report)]) yield* Console.log(`  ${line}`)
    if (!report.changed) yield* Console.log("nothing to do")
    yield* Console.log(`next: ${report.next.join("   then: ")}`)
  })
