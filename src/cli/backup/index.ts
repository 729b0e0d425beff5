/**
 * `dbkit backup`: write a compressed, checksummed (and with DB_BACKUP_KEY, encrypted) backup
 * and its manifest; `dbkit backups list`, `prune` and `verify FILE`. The definitions; the
 * handlers (handlers.ts) load when one runs.
 */
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import { lazy } from "../lazy.js"
import { jsonOption, yesOption } from "../options.js"

const handlers = () => import("./handlers.js")

export const backupConfig = {
  format: Options.choice("format", ["plain", "custom"]).pipe(
    Options.withDefault("plain" as const),
    Options.withDescription("plain SQL (gzip) or pg_dump's custom format")
  ),
  compress: Options.integer("compress").pipe(Options.withDefault(6), Options.withDescription("Compression level 0-9")),
  schemaOnly: Options.boolean("schema-only").pipe(Options.withDescription("Only the schema, no data")),
  dataOnly: Options.boolean("data-only").pipe(Options.withDescription("Only the data, no schema")),
  excludeTable: Options.text("exclude-table").pipe(
    Options.repeated,
    Options.withDescription("Leave this table out (repeatable; pg_dump patterns)")
  ),
  // Text, not Options.directory: the service says why a path cannot hold backups (exit 2) where
  // @effect/cli's check turned "a file is in the way" into an unexpected error.
  out: Options.text("out").pipe(
    Options.optional,
    Options.withDescription("Directory to write to (default DBKIT_BACKUP_DIR, ./backups)")
  ),
  physical: Options.boolean("physical").pipe(
    Options.withDescription(
      "A physical backup through pgBackRest (stanza DBKIT_PGBACKREST_STANZA; `dbkit pitr setup` first) instead of pg_dump"
    )
  ),
  type: Options.choice("type", ["full", "diff", "incr"]).pipe(
    Options.withDefault("incr" as const),
    Options.withDescription("With --physical: full, differential or incremental (pgBackRest makes the first one full)")
  ),
  json: jsonOption
}

/** `dbkit backup`. */
export const backup = Command.make("backup", backupConfig, (options) => lazy(handlers, (m) => m.backup(options))).pipe(
  Command.withDescription(
    "Back up the database: pg_dump → gzip → AES-256-GCM (with DB_BACKUP_KEY) → file (0600) + manifest"
  )
)

export const listConfig = {
  dir: Options.directory("dir").pipe(Options.optional, Options.withDescription("Directory (default DBKIT_BACKUP_DIR)")),
  json: jsonOption
}

const list = Command.make("list", listConfig, (options) => lazy(handlers, (m) => m.list(options))).pipe(
  Command.withDescription(
    "List backups, newest first, with kind (logical, or physical full/diff/incr when a pgBackRest stanza is configured), size, age and when each was last verified; then leftovers of killed backups and restores (.partial files; staging databases when DATABASE_URL reaches the server)"
  )
)

export const verifyConfig = {
  file: Args.file({ name: "file", exists: "yes" }).pipe(
    Args.withDescription("The backup file (its manifest is FILE.json); none with --physical"),
    Args.optional
  ),
  restoreTest: Options.boolean("restore-test").pipe(
    Options.withDescription("Also restore into a scratch database and compare row counts with the manifest")
  ),
  physical: Options.boolean("physical").pipe(
    Options.withDescription("Run `pgbackrest verify` on the stanza's repository (DBKIT_PGBACKREST_STANZA) instead")
  ),
  json: jsonOption
}

const verify = Command.make("verify", verifyConfig, (options) => lazy(handlers, (m) => m.verify(options))).pipe(
  Command.withDescription(
    "Check a backup: its origin (signed manifest, or unverified), checksum, key, authenticated decryption, full decompression; --restore-test restores it into a scratch database"
  )
)

export const pruneConfig = {
  keepLast: Options.integer("keep-last").pipe(
    Options.optional,
    Options.withDescription("Keep the newest N backups (physical: the newest N full backups and what builds on them)")
  ),
  keepDays: Options.integer("keep-days").pipe(
    Options.optional,
    Options.withDescription("Keep backups younger than D days")
  ),
  dryRun: Options.boolean("dry-run").pipe(Options.withDescription("Show what would be deleted, delete nothing")),
  dir: Options.directory("dir").pipe(Options.optional, Options.withDescription("Directory (default DBKIT_BACKUP_DIR)")),
  yes: yesOption,
  json: jsonOption
}

const prune = Command.make("prune", pruneConfig, (options) => lazy(handlers, (m) => m.prune(options))).pipe(
  Command.withDescription(
    "Delete backups outside --keep-last N (at least 1) / --keep-days D; never the newest one nor the newest verified one; also removes leftovers of killed backups and restores (.partial files, staging databases); in production guarded (DB_PRUNE_CONFIRM=1 or --yes, and DB_PRUNE_ALLOW_PRODUCTION=1); --dry-run first. With a pgBackRest stanza configured, the same rules run `pgbackrest expire` (--keep-last: full backups; --keep-days: days) and the manifests of expired backups go too"
  )
)

/** `dbkit backups`. */
export const backups = Command.make("backups").pipe(
  Command.withDescription("Inspect and check backups"),
  Command.withSubcommands([list, verify, prune])
)
