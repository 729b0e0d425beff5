/** Anonymize's failures: each names what to do next (a target that exists, production, RLS, a failed rewrite). */
import type { SqlError } from "@effect/sql/SqlError"
import * as Data from "effect/Data"
import { InvalidDatabaseName } from "../backup/Restore.js"
import { type DatabaseUnavailable, NotSupportedOnEmbedded } from "../Database.js"
import type { GuardError } from "../Guard.js"
import * as PgTools from "../PgTools.js"
import { PrivacyMapMismatch } from "./errors.js"
import { FieldDecryptFailed, FieldKeyMissing, FieldKeysInvalid } from "./fieldCrypto.js"

/** `--into` names a database that already exists (anonymize only creates new ones). */
export class AnonymizeTargetExists extends Data.TaggedError("AnonymizeTargetExists")<{ readonly database: string }> {
  override get message() {
    return `database ${this.database} already exists; --into makes a new database (pick another name, or drop it first)`
  }
}

/** Anonymizing a production database in place is never allowed, whatever the variables say. */
export class AnonymizeRefusedInProduction
  extends Data.TaggedError("AnonymizeRefusedInProduction")<{ readonly database: string }>
{
  override get message() {
    return `refusing to anonymize ${this.database} in place: the environment is production (DB_ANONYMIZE_ALLOW_PRODUCTION does not apply). Make an anonymized copy instead: dbkit privacy anonymize --into NEWDB`
  }
}

/** Row-level security would hide rows of a declared table from the role anonymizing it. */
export class AnonymizeNeedsBypassRls extends Data.TaggedError("AnonymizeNeedsBypassRls")<{
  readonly role: string
  readonly table: string
}> {
  override get message() {
    return `row-level security on ${this.table} would hide rows from ${this.role}, leaving them unanonymized; run as a superuser or a role with BYPASSRLS`
  }
}

/** A statement rewriting a table failed (e.g. a fake breaks a CHECK constraint); nothing was kept. */
export class AnonymizeFailed extends Data.TaggedError("AnonymizeFailed")<{
  readonly database: string
  readonly table: string
  /** The server's message (never the row's values). */
  readonly reason: string
  readonly code: string | null
  /** What became of the work: the new database was dropped, or the transaction rolled back. */
  readonly cleanup: "dropped" | "rolled back"
}> {
  override get message() {
    const what = this.cleanup === "dropped"
      ? `the new database ${this.database} was dropped`
      : `nothing in ${this.database} was changed (rolled back)`
    return `anonymizing ${this.table} failed: ${this.reason}${this.code ? ` [${this.code}]` : ""}; ${what}`
  }
}

export type AnonymizeError =
  | InvalidDatabaseName
  | AnonymizeTargetExists
  | AnonymizeRefusedInProduction
  | PrivacyMapMismatch
  | AnonymizeNeedsBypassRls
  | AnonymizeFailed
  | FieldKeysInvalid
  | FieldKeyMissing
  | FieldDecryptFailed
  | NotSupportedOnEmbedded
  | PgTools.PgToolMissing
  | PgTools.PgToolTooOld
  | PgTools.PgToolFailed
  | DatabaseUnavailable
  | GuardError
  | SqlError
