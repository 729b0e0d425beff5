/**
 * Why a privacy operation cannot go on. Messages name tables, columns, row keys and key ids —
 * never personal values or keys.
 */
import * as Data from "effect/Data"

/** The declaration and the database disagree (a declared table or column is missing). */
export class PrivacyMapMismatch
  extends Data.TaggedError("PrivacyMapMismatch")<{ readonly problems: ReadonlyArray<string> }>
{
  override get message() {
    return `the personal-data map does not match the database: ${this.problems.slice(0, 5).join("; ")}${
      this.problems.length > 5 ? ` (+${this.problems.length - 5} more)` : ""
    }`
  }
}

/** `privacy map --strict`: columns that look personal are declared nowhere. */
export class UndeclaredPersonalData
  extends Data.TaggedError("UndeclaredPersonalData")<{ readonly columns: ReadonlyArray<string> }>
{
  override get message() {
    return `${this.columns.length} column${this.columns.length === 1 ? "" : "s"} look${
      this.columns.length === 1 ? "s" : ""
    } personal but ${this.columns.length === 1 ? "is" : "are"} not declared: ${
      this.columns.slice(0, 8).join(", ")
    }; declare them with personalData(…) or list them in notPersonal`
  }
}

/** An email that is not a plausible address (nothing was searched). */
export class InvalidSubject extends Data.TaggedError("InvalidSubject")<{ readonly reason: string }> {
  override get message() {
    return `invalid subject: ${this.reason}`
  }
}

/** Nothing is held about the subject (export and erase find no rows). */
export class SubjectNotFound extends Data.TaggedError("SubjectNotFound")<{ readonly tenant: string | null }> {
  override get message() {
    return `no rows match that email${this.tenant ? ` in tenant ${this.tenant}` : ""}; nothing to do`
  }
}

/** The erasure could not complete (a constraint refused it); it was rolled back whole. */
export class ErasureFailed
  extends Data.TaggedError("ErasureFailed")<{ readonly table: string; readonly reason: string }>
{
  override get message() {
    return `erasure rolled back, nothing changed: ${this.table}: ${this.reason}`
  }
}

/** The export file could not be written. */
export class ExportWriteFailed
  extends Data.TaggedError("ExportWriteFailed")<{ readonly file: string; readonly reason: string }>
{
  override get message() {
    return `cannot write ${this.file}: ${this.reason}`
  }
}
