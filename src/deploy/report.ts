/**
 * What a deploy reports and records: one entry per step, the migrations it applied, how a
 * failure was recovered. Pure types and helpers; the SQL that stores them is in record.ts.
 */

/** The steps, in the order they run. */
export type StepName =
  | "connect"
  | "history"
  | "lint"
  | "drift"
  | "backup"
  | "point"
  | "migrate"
  | "health"
  | "recovery"
  | "retention"

export interface Step {
  readonly name: StepName
  readonly status: "ok" | "warn" | "failed" | "skipped"
  readonly durationMs: number
  /** One line: what happened (never a secret). */
  readonly detail: string
}

export type Recovery = "rollback" | "restore" | "not needed" | "failed"

export interface DeployReport {
  /** The row in dbkit.deployments (null for a dry run, which records nothing). */
  readonly id: number | null
  readonly environment: string
  readonly target: string
  readonly who: string
  readonly startedAt: string
  readonly finishedAt: string | null
  readonly dryRun: boolean
  readonly result: "succeeded" | "failed" | "dry run"
  readonly recovery: Recovery | null
  /** The newest applied migration before the deploy and after it. */
  readonly headBefore: string | null
  readonly headAfter: string | null
  /** What the deploy set out to apply. */
  readonly pending: ReadonlyArray<string>
  /** What it applied (a recovery undoes these; see `recovery`). */
  readonly applied: ReadonlyArray<string>
  readonly backup: string | null
  /** The restore point made just before migrating (a pgBackRest stanza is configured): `restore --to-name` undoes the deploy. */
  readonly restorePoint: { readonly name: string; readonly lsn: string } | null
  /** Earlier deploys found still `running` (their process died): now marked abandoned. */
  readonly abandoned: ReadonlyArray<{ readonly id: number; readonly startedAt: string; readonly who: string }>
  /** Set when this deploy promotes another environment's migrations. */
  readonly promotedFrom: string | null
  readonly steps: ReadonlyArray<Step>
  readonly error: string | null
}

/** Who is deploying: the CI actor when there is one, else the OS user (and host). */
export const deployer = (env: NodeJS.ProcessEnv, osUser: string): string => {
  if (env.GITHUB_ACTOR) {
    return `${env.GITHUB_ACTOR} (GitHub Actions${env.GITHUB_RUN_ID ? ` run ${env.GITHUB_RUN_ID}` : ""})`
  }
  if (env.GITLAB_USER_LOGIN) return `${env.GITLAB_USER_LOGIN} (GitLab CI)`
  if (env.BUILDKITE_BUILD_CREATOR) return `${env.BUILDKITE_BUILD_CREATOR} (Buildkite)`
  return env.USER && env.USER !== osUser.split("@")[0] ? `${env.USER} (${osUser})` : osUser
}
