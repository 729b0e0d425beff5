/**
 * The jobs an environment declares for `dbkit serve`, checked: a name, a `run` dbkit knows, a
 * cron expression effect's `Cron` parses (five fields, or six with seconds first) in an optional
 * IANA time zone. The file's loader checks only their shape (ProjectConfigSchema.ts), so a
 * mistake here stops `serve` and `jobs`, never an unrelated command.
 */
import * as Cron from "effect/Cron"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as path from "node:path"
import { type Environment, InvalidConfig } from "../../Config.js"
import type { JobInput } from "../../ProjectConfigSchema.js"

/** What a job can run, each as its command does. */
export const jobKinds = ["backup", "backup-restore-test", "prune", "maintain", "cleanup", "health"] as const
export type JobKind = (typeof jobKinds)[number]

/** What each kind runs, for `--help` and the README. */
export const kindDescriptions: Readonly<Record<JobKind, string>> = {
  backup: "`dbkit backup` (with `verify: true`, then `dbkit backups verify` of the new file)",
  "backup-restore-test": "`dbkit backups verify NEWEST --restore-test`",
  prune: "`dbkit backups prune` by the environment's backupRetention",
  maintain: "`dbkit db maintain --run`",
  cleanup: "`dbkit db cleanup --run`",
  health: "`dbkit health` (critical fails the run)"
}

/** One job, checked and parsed. */
export interface JobDefinition {
  readonly name: string
  readonly kind: JobKind
  /** As written, for listings. */
  readonly schedule: string
  readonly cron: Cron.Cron
  /** `backup` only: verify the new file after writing it. */
  readonly verify: boolean
  /** The IANA zone the cron reads in; undefined: the process's local time. */
  readonly timeZone: string | undefined
}

/** Job names become lock keys, log fields and CLI arguments: keep them plain. */
const namePattern = /^[A-Za-z][A-Za-z0-9_-]{0,62}$/

/** The next time `job` runs strictly after `after` (epoch milliseconds). */
export const nextRun = (job: JobDefinition, after: number): number => Cron.next(job.cron, new Date(after)).getTime()

/** Checks one job; `field` is its place in the file (`environments.production.jobs.nightly`). */
export const checkJob = (
  name: string,
  input: typeof JobInput.Type,
  fail: (field: string, reason: string) => InvalidConfig,
  field: string
): Either.Either<JobDefinition, InvalidConfig> => {
  if (!namePattern.test(name)) {
    return Either.left(fail(field, "a job name is a letter, then letters, digits, _ or - (at most 63)"))
  }
  if (!(jobKinds as ReadonlyArray<string>).includes(input.run)) {
    return Either.left(fail(`${field}.run`, `unknown job "${input.run}"; expected one of ${jobKinds.join(", ")}`))
  }
  if (input.verify !== undefined && input.run !== "backup") {
    return Either.left(fail(`${field}.verify`, `only a backup job takes verify (this one runs ${input.run})`))
  }
  if (input.timeZone !== undefined) {
    const zone = Cron.parse("* * * * *", input.timeZone)
    if (Either.isLeft(zone)) {
      return Either.left(fail(`${field}.timeZone`, `"${input.timeZone}" is not a time zone (e.g. "Europe/Berlin")`))
    }
  }
  const cron = Cron.parse(input.cron.trim(), input.timeZone)
  if (Either.isLeft(cron)) {
    return Either.left(
      fail(
        `${field}.cron`,
        `"${input.cron}" is not a cron expression (${cron.left.message}); expected five fields ` +
          `(minute hour day month weekday, e.g. "0 3 * * *") or six with seconds first`
      )
    )
  }
  // effect's Cron parses what can never match (30 February) and throws when asked for the next time.
  try {
    Cron.next(cron.right, new Date())
  } catch {
    return Either.left(
      fail(`${field}.cron`, `"${input.cron}" never matches a date (e.g. a day that month does not have)`)
    )
  }
  return Either.right({
    name,
    kind: input.run as JobKind,
    schedule: input.cron.trim(),
    cron: cron.right,
    verify: input.verify ?? false,
    timeZone: input.timeZone
  })
}

/** Checks an environment's jobs, naming the field of the first mistake. */
export const resolveJobs = (
  jobs: Readonly<Record<string, typeof JobInput.Type>>,
  where: { readonly file: string | null; readonly environment: Environment }
): Effect.Effect<ReadonlyArray<JobDefinition>, InvalidConfig> => {
  const fileName = where.file === null ? "jobs" : path.basename(where.file)
  const fail = (field: string, reason: string) => new InvalidConfig({ variable: `${fileName}: ${field}`, reason })
  return Effect.forEach(
    Object.entries(jobs),
    ([name, input]) => checkJob(name, input, fail, `environments.${where.environment}.jobs.${name}`)
  )
}
