/**
 * `dbkit restore FILE`: replace the configured database with a verified backup (guarded, safety
 * backup first, atomic: a swap on a server, one transaction on the embedded database);
 * `--into NAME`: into a new database; `--validate-only`: open no database at all. The
 * definition; the handler (handlers.ts) loads when it runs.
 */
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import { lazy } from "../lazy.js"
import { jsonOption, yesOption } from "../options.js"

export const restoreConfig = {
  file: Args.file({ name: "file", exists: "yes" }).pipe(
    Args.withDescription("A dbkit backup (its manifest is FILE.json); none with --physical"),
    Args.optional
  ),
  into: Options.text("into").pipe(
    Options.optional,
    Options.withDescription(
      "Restore into this new database on the same server (not on the embedded database, which holds one)"
    )
  ),
  validateOnly: Options.boolean("validate-only").pipe(
    Options.withDescription("Verify the file (checksum, key, decryption, decompression) and touch no database")
  ),
  yes: yesOption,
  noSafetyBackup: Options.boolean("no-safety-backup").pipe(
    Options.withDescription(
      "Skip the backup of the database being replaced (on a server it is then kept under a _previous_ name; on the embedded database it is gone)"
    )
  ),
  terminateConnections: Options.boolean("terminate-connections").pipe(
    Options.withDescription(
      "Disconnect other programs' sessions on the database instead of refusing (whatever their application_name; dbkit's own connections are always ended)"
    )
  ),
  trustUnsigned: Options.boolean("trust-unsigned").pipe(
    Options.withDescription(
      "Restore a file whose origin dbkit cannot verify (no manifest, unsigned, or signed on another machine); required in production, asked for at a terminal otherwise"
    )
  ),
  allowEmpty: Options.boolean("allow-empty").pipe(
    Options.withDescription("Restore a backup with no tables over a database that has some")
  ),
  physical: Options.boolean("physical").pipe(
    Options.withDescription(
      "Point-in-time recovery from pgBackRest into a NEW data directory (--into-cluster) started on --port; the running database is not touched"
    )
  ),
  toTime: Options.text("to-time").pipe(
    Options.optional,
    Options.withDescription("With --physical: recover to this moment, with its zone (\"2026-12-06 14:03:00+00\")")
  ),
  toLsn: Options.text("to-lsn").pipe(
    Options.optional,
    Options.withDescription("With --physical: recover to this WAL position (0/3000138)")
  ),
  toName: Options.text("to-name").pipe(
    Options.optional,
    Options.withDescription("With --physical: recover to this restore point (`dbkit pitr point NAME`)")
  ),
  intoCluster: Options.text("into-cluster").pipe(
    Options.optional,
    Options.withDescription("With --physical: the new data directory (must not exist, or be empty)")
  ),
  port: Options.integer("port").pipe(
    Options.optional,
    Options.withDescription("With --physical: the port the restored cluster listens on")
  ),
  expectSql: Options.text("expect-sql").pipe(
    Options.optional,
    Options.withDescription(
      "With --physical: a query whose one value must be true on the restored data (exit 24 otherwise)"
    )
  ),
  json: jsonOption
}

export const restore = Command.make(
  "restore",
  restoreConfig,
  (options) => lazy(() => import("./handlers.js"), (m) => m.restore(options))
).pipe(
  Command.withDescription(
    "Restore a verified backup over the configured database (guarded: DB_RESTORE_CONFIRM=1 or --yes; production also DB_RESTORE_ALLOW_PRODUCTION=1; a safety backup; atomic: a swap on a server, one transaction on the embedded database), into a new database on the server (--into), or only verify it without opening a database (--validate-only)"
  )
)
