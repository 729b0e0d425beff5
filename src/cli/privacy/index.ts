/**
 * `dbkit privacy …` (personal data: map, export, erase, anonymize; field encryption keys) and
 * `dbkit audit report`. The personal-data map is the module dbkit.config.ts names (`privacy`), or the file
 * DBKIT_PRIVACY_MAP names; field keys come from DBKIT_FIELD_KEYS or DBKIT_FIELD_KEYS_FILE.
 * Definitions only; the handlers load when a command runs.
 */
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import { lazy } from "../lazy.js"
import { jsonOption, yesOption } from "../options.js"

const handlers = () => import("./handlers.js")

const email = Options.text("email").pipe(
  Options.withDescription("The person's email address (matched case-insensitively)")
)
const tenant = Options.text("tenant").pipe(
  Options.withDescription("Only this tenant's data (slug or id from the tenant registry); all tenants when omitted"),
  Options.optional
)

export const mapConfig = {
  strict: Options.boolean("strict").pipe(
    Options.withDescription("Fail (exit 19) when columns that look personal are declared nowhere")
  ),
  json: jsonOption
}

const map = Command.make("map", mapConfig, (options) => lazy(handlers, (m) => m.map(options))).pipe(
  Command.withDescription(
    "Print the personal-data map beside the database, and warn about columns that look personal but are undeclared"
  )
)

export const exportConfig = {
  email,
  tenant,
  out: Options.text("out").pipe(
    Options.withDescription("Where to write the JSON (written 0600); - for standard output")
  ),
  json: jsonOption
}

const exportCommand = Command.make("export", exportConfig, (options) => lazy(handlers, (m) => m.exportSubject(options)))
  .pipe(
    Command.withDescription("Everything held about a person, following foreign keys, as JSON (right of access)")
  )

export const eraseConfig = {
  email,
  tenant,
  dryRun: Options.boolean("dry-run").pipe(
    Options.withDescription("Show what would be erased, deleted and kept, per table, and change nothing")
  ),
  yes: yesOption,
  json: jsonOption
}

const erase = Command.make("erase", eraseConfig, (options) => lazy(handlers, (m) => m.erase(options))).pipe(
  Command.withDescription(
    "Erase a person's data per the map, in one transaction (guarded: DB_PRIVACY_ERASE_CONFIRM=1 or --yes; production also DB_PRIVACY_ERASE_ALLOW_PRODUCTION=1). Records the law keeps stay, without the person's fields"
  )
)

export const anonymizeConfig = {
  into: Options.text("into").pipe(
    Options.optional,
    Options.withDescription(
      "Make an anonymized copy in this new database on the same server (the configured database is only read)"
    )
  ),
  inPlace: Options.boolean("in-place").pipe(
    Options.withDescription(
      "Overwrite the configured database itself (guarded: DB_ANONYMIZE_CONFIRM=1 or --yes; never in production)"
    )
  ),
  yes: yesOption,
  batchSize: Options.integer("batch-size").pipe(
    Options.withDefault(1000),
    Options.withDescription("Rows per batch (default 1000)")
  ),
  json: jsonOption
}

const anonymize = Command.make(
  "anonymize",
  anonymizeConfig,
  (options) => lazy(() => import("./anonymize.js"), (m) => m.anonymize(options))
).pipe(
  Command.withDescription(
    "Replace every declared personal column (the map dbkit.config.ts names under privacy, or DBKIT_PRIVACY_MAP) with realistic fakes — the same input gives the same fake within a run, " +
      "so joins and unique constraints hold; encrypted columns are decrypted and the fakes encrypted (DBKIT_FIELD_KEYS). " +
      "--into NEWDB: pg_dump | psql into a new database on the server, unreachable until done, dropped on any failure. " +
      "--in-place: the configured database in one transaction; refused in production, otherwise DB_ANONYMIZE_CONFIRM=1 or --yes"
  )
)

const encryption = () => import("./encryption.js")

const KEYS =
  "Keys: DBKIT_FIELD_KEYS=\"k2:<base64 32 bytes>,k1:<base64 32 bytes>\" (the first is the active key, the others only decrypt) " +
  "or DBKIT_FIELD_KEYS_FILE=<path to { \"active\": \"k2\", \"keys\": { \"k2\": \"…\", \"k1\": \"…\" } }>; key material is never printed."

const tableOption = Options.text("table").pipe(
  Options.repeated,
  Options.withDescription(
    "Only this table or column (table, schema.table, table.column; repeatable). Default: every encrypted column of the privacy map"
  )
)

const batchSizeOption = Options.integer("batch-size").pipe(
  Options.withDefault(2000),
  Options.withDescription("Values per batch; each batch is one short transaction (default 2000)")
)

export const rotateKeyConfig = { batchSize: batchSizeOption, table: tableOption, json: jsonOption }

/** `dbkit privacy rotate-key`. */
const rotateKey = Command.make(
  "rotate-key",
  rotateKeyConfig,
  (options) => lazy(encryption, (m) => m.rotateKey(options))
).pipe(
  Command.withDescription(
    "Re-encrypt every value of the privacy map's encrypted columns that is not under the active key (plaintext included), " +
      "online: batches in primary-key order, each its own short transaction, a value changed meanwhile left alone (skipped). " +
      "Interrupted, it carries on where it stopped when run again. Values under an unknown key or failing authentication are " +
      "left untouched and reported (exit 19). Progress on stderr. " + KEYS
  )
)

export const verifyEncryptionConfig = { batchSize: batchSizeOption, table: tableOption, json: jsonOption }

/** `dbkit privacy verify-encryption`. */
const verifyEncryption = Command.make(
  "verify-encryption",
  verifyEncryptionConfig,
  (options) => lazy(encryption, (m) => m.verifyEncryption(options))
).pipe(
  Command.withDescription(
    "Count the values of the privacy map's encrypted columns by key: active, older keys, plaintext, unknown key, undecryptable, " +
      "with sample primary keys (never values). Exits 19 when any value is plaintext, under an unknown key or undecryptable. " +
      KEYS
  )
)

export const privacy = Command.make("privacy").pipe(
  Command.withDescription("Personal data: map, export, erase, anonymize; field encryption key rotation and checks"),
  Command.withSubcommands([map, exportCommand, erase, anonymize, rotateKey, verifyEncryption])
)

export const auditReportConfig = {
  tenant,
  from: Options.date("from").pipe(
    Options.withDescription("From this date/time (inclusive, e.g. 2026-01-01)"),
    Options.optional
  ),
  to: Options.date("to").pipe(Options.withDescription("Up to this date/time (exclusive)"), Options.optional),
  json: jsonOption
}

const report = Command.make("report", auditReportConfig, (options) => lazy(handlers, (m) => m.auditReport(options)))
  .pipe(
    Command.withDescription("Summarise the audit trail: entries per table and action, per actor, per day")
  )

export const audit = Command.make("audit").pipe(
  Command.withDescription("The audit trail the audit triggers record (who, tenant, when, table, key, changed columns)"),
  Command.withSubcommands([report])
)
