/**
 * `dbkit pitr setup` and `dbkit pitr point NAME`: prepare point-in-time recovery through
 * pgBackRest, and mark a moment to recover to. The definitions; the handlers (handlers.ts) load
 * when one runs. Backups and restores are `dbkit backup --physical` and `dbkit restore --physical`.
 */
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import { lazy } from "../lazy.js"
import { jsonOption } from "../options.js"

const handlers = () => import("./handlers.js")

export const setupConfig = { json: jsonOption }

const setup = Command.make("setup", setupConfig, (options) => lazy(handlers, (m) => m.setup(options))).pipe(
  Command.withDescription(
    "Check wal_level, archive_mode and archive_command (set archive_command itself when it can; otherwise print exactly what to change where), create the pgBackRest stanza and run `pgbackrest check`; idempotent. Reads DBKIT_PGBACKREST_STANZA and DBKIT_PGBACKREST_CONFIG, else the environment's `pitr` block in dbkit.config.ts"
  )
)

export const pointConfig = {
  name: Args.text({ name: "name" }).pipe(
    Args.withDescription("The restore point's name (letters, digits, _ . : -)")
  ),
  json: jsonOption
}

const point = Command.make("point", pointConfig, (options) => lazy(handlers, (m) => m.point(options))).pipe(
  Command.withDescription(
    "Create a named restore point (pg_create_restore_point) that `dbkit restore --physical --to-name NAME` recovers to"
  )
)

/** `dbkit pitr`. */
export const pitr = Command.make("pitr").pipe(
  Command.withDescription("Point-in-time recovery through pgBackRest: set up WAL archiving, create restore points"),
  Command.withSubcommands([setup, point])
)
