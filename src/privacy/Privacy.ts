/**
 * Privacy: the data-protection duties of an application that holds personal data, over the
 * personal-data map (declare.ts).
 *
 * - `map`: the declaration beside the database's catalog: declared columns that are missing,
 *   and columns that look personal (email, phone, name, address, iban, tax id, birth date, ip)
 *   but are declared nowhere.
 * - `exportSubject`: everything held about a person (right of access): the rows whose subject
 *   column matches the email, every row that references them (foreign keys, transitively) and
 *   the audit entries about those rows, encrypted columns decrypted.
 * - `erase`: right to erasure, guarded, in one transaction: declared columns erased or
 *   pseudonymised per the map, rows of `onErase: "delete"` tables deleted, rows the law keeps
 *   (`onErase: "keep"`, and everything that references them, e.g. invoices) kept with the
 *   person's fields gone; audit entries whose actor is the email are pseudonymised; each erased
 *   row is recorded in the audit log (table, key, columns — never the values). A check before
 *   commit proves no row still matches the email.
 * - `auditReport`: a tenant's audit trail summarised over a period.
 *
 * Runs as a role that sees every tenant's rows (owner with BYPASSRLS, or superuser). This file
 * holds the service's interface and wiring; the work is in context.ts (a tenant's scope, the map
 * checked against the catalog), reports.ts (`map`, `auditReport`), exportSubject.ts and erase.ts.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type { InvalidConfig } from "../Config.js"
import { Database } from "../Database.js"
import { Guard, type GuardError } from "../Guard.js"
import type { TenantNotFound } from "../tenancy/errors.js"
import { spanTarget, traced } from "../Tracing.js"
import { privacyContext } from "./context.js"
import type { Category, PersonalColumn, PrivacyMap } from "./declare.js"
import { erase } from "./erase.js"
import type { ErasureFailed, InvalidSubject, PrivacyMapMismatch, SubjectNotFound } from "./errors.js"
import { exportSubject } from "./exportSubject.js"
import {
  type FieldDecryptFailed,
  type FieldKeyMissing,
  type FieldKeysInvalid,
  type Keyring,
  optionalKeyring
} from "./fieldCrypto.js"
import { loadPrivacyMap } from "./loadMap.js"
import { auditReport, mapReport } from "./reports.js"
import type { Row } from "./subject.js"

export interface MapReport {
  readonly tables: ReadonlyArray<{
    readonly table: string
    readonly subject: string | null
    readonly onErase: "delete" | "keep"
    readonly reason: string | null
    readonly columns: ReadonlyArray<PersonalColumn & { readonly present: boolean }>
    readonly present: boolean
  }>
  /** Columns that look personal but are declared nowhere (and not listed as notPersonal). */
  readonly undeclared: ReadonlyArray<{ readonly column: string; readonly looksLike: Category }>
  readonly notPersonal: ReadonlyArray<string>
  /** Declared tables or columns the database does not have. */
  readonly missing: ReadonlyArray<string>
}

export interface SubjectExport {
  readonly subject: { readonly email: string; readonly tenant: { readonly id: string; readonly slug: string } | null }
  readonly generatedAt: string
  readonly tables: ReadonlyArray<{
    readonly table: string
    /** How the rows were reached: the subject column, or a foreign key. */
    readonly via: ReadonlyArray<string>
    /** Declared personal columns of this table, and what erasure would do. */
    readonly personal: ReadonlyArray<{ readonly column: string; readonly category: Category; readonly erase: string }>
    /** Why these rows would be kept after an erasure, when the law keeps them. */
    readonly retained: string | null
    readonly rows: ReadonlyArray<Row>
  }>
  /** Audit entries about these rows, or made by the person. */
  readonly audit: ReadonlyArray<Row>
}

export interface ErasureStep {
  readonly table: string
  readonly rows: number
  /** `delete`, `erase` (columns erased in place), `cascade` (deleted with a parent), `keep` (no personal columns). */
  readonly action: "delete" | "erase" | "cascade" | "keep"
  readonly columns: ReadonlyArray<string>
  readonly note: string | null
}

export interface ErasureReport {
  readonly dryRun: boolean
  readonly tenant: string | null
  readonly steps: ReadonlyArray<ErasureStep>
  /** Audit entries whose actor was the email, pseudonymised. */
  readonly auditActors: number
  /** Erasure records written to the audit log. */
  readonly recorded: number
}

export interface AuditReport {
  readonly tenant: { readonly id: string; readonly slug: string } | null
  readonly from: string | null
  readonly to: string | null
  readonly total: number
  readonly rowsTouched: number
  readonly first: string | null
  readonly last: string | null
  readonly byTable: ReadonlyArray<
    {
      readonly table: string
      readonly insert: number
      readonly update: number
      readonly delete: number
      readonly other: number
    }
  >
  readonly byActor: ReadonlyArray<{ readonly actor: string; readonly entries: number }>
  readonly byDay: ReadonlyArray<{ readonly day: string; readonly entries: number }>
}

export interface SubjectRequest {
  readonly email: string
  /** A tenant's slug or id; all tenants when omitted. */
  readonly tenant?: string | undefined
}

/** An erasure: whose, and how it is confirmed and recorded. */
export interface ErasureRequest extends SubjectRequest {
  /** Report what would be erased; change nothing. */
  readonly dryRun?: boolean | undefined
  /** `--yes`: confirm without DB_PRIVACY_ERASE_CONFIRM or a prompt. */
  readonly yes?: boolean | undefined
  /** Who the audit log names as the eraser (default "dbkit privacy erase"). */
  readonly actor?: string | undefined
}

/** The audit report's tenant (slug or id; all when omitted) and period (`from` inclusive, `to` exclusive). */
export interface AuditOptions {
  readonly tenant?: string | undefined
  readonly from?: Date | undefined
  readonly to?: Date | undefined
}

type KeyError = FieldKeysInvalid | FieldKeyMissing | FieldDecryptFailed
export type SubjectError = InvalidSubject | SubjectNotFound | TenantNotFound | PrivacyMapMismatch | SqlError

/** The Privacy service, with its layers. */
export class Privacy extends Context.Tag("dbkit/Privacy")<Privacy, {
  readonly privacyMap: PrivacyMap
  readonly map: Effect.Effect<MapReport, SqlError>
  readonly exportSubject: (request: SubjectRequest) => Effect.Effect<SubjectExport, SubjectError | KeyError>
  readonly erase: (request: ErasureRequest) => Effect.Effect<ErasureReport, SubjectError | ErasureFailed | GuardError>
  readonly auditReport: (
    options: AuditOptions
  ) => Effect.Effect<AuditReport, TenantNotFound | PrivacyMapMismatch | SqlError>
}>() {
  /** The Privacy service over a personal-data map. */
  static get layer(): typeof layer {
    return layer
  }
  /** Privacy over the project's map and the field keys from the environment. */
  static get layerConfig(): typeof layerConfig {
    return layerConfig
  }
}

const make = (options: { readonly map: PrivacyMap; readonly keyring?: Keyring | undefined }) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const context = privacyContext({ sql, database: yield* Database, guard: yield* Guard }, options)
    const local = <A, E>(effect: Effect.Effect<A, E, SqlClient.SqlClient>) =>
      Effect.provideService(effect, SqlClient.SqlClient, sql)
    return Privacy.of(traced("Privacy", yield* spanTarget, {
      privacyMap: options.map,
      map: local(mapReport(context)),
      exportSubject: (request) => local(exportSubject(context, request)),
      erase: (request) => local(erase(context, request)),
      auditReport: (request) => local(auditReport(context, request))
    }))
  })

/** The Privacy service over a personal-data map; `keyring` decrypts encrypted columns for exports. */
export const layer = (options: { readonly map: PrivacyMap; readonly keyring?: Keyring | undefined }): Layer.Layer<
  Privacy,
  never,
  SqlClient.SqlClient | Database | Guard
> => Layer.effect(Privacy, make(options))

/**
 * The Privacy service over the project's map (dbkit.config.ts `privacy`, or DBKIT_PRIVACY_MAP)
 * and the field keys in DBKIT_FIELD_KEYS / DBKIT_FIELD_KEYS_FILE (optional: exports of
 * encrypted columns need them).
 */
export const layerConfig = (): Layer.Layer<
  Privacy,
  InvalidConfig | FieldKeysInvalid,
  SqlClient.SqlClient | Database | Guard
> =>
  Layer.unwrapEffect(
    Effect.gen(function*() {
      const map = yield* loadPrivacyMap()
      const keyring = yield* optionalKeyring()
      return layer({ map, keyring })
    })
  )
