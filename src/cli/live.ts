/**
 * The application wiring commands run with: configuration from the environment, the database
 * it selects (server or embedded), and the services on top. Built only when a command runs, so
 * `--help` never connects; imported only by the handlers, so `--help` never loads it. Wiring
 * that one command group alone uses lives beside it (seed/live.ts, reset/live.ts, db/live.ts, …).
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeTerminal from "@effect/platform-node/NodeTerminal"
import * as Terminal from "@effect/platform/Terminal"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Backup from "../backup/Backup.js"
import * as Restore from "../backup/Restore.js"
import * as Config from "../Config.js"
import { DatabaseLive } from "../Database.js"
import * as Guard from "../Guard.js"
import * as Migrator from "../migrator/Migrator.js"

/** Configuration from the environment. */
export const ConfigLive = Config.layer

/** Configuration plus the selected database. */
export const DatabaseFromEnv = DatabaseLive.pipe(Layer.provideMerge(ConfigLive))

/** A terminal that counts as interactive only when both stdin and stdout are terminals. */
export const TerminalLive: Layer.Layer<Terminal.Terminal> = Layer.effect(
  Terminal.Terminal,
  Effect.map(Terminal.Terminal, (base) => ({
    ...base,
    isTTY: Effect.map(base.isTTY, (tty) => tty && process.stdin.isTTY === true)
  }))
).pipe(Layer.provide(NodeTerminal.layer))

/** The Migrator over the configured migrations folder. */
export const MigratorLive = Migrator.layerConfig().pipe(Layer.provideMerge(DatabaseFromEnv))

/** The guard, reading confirmations from the environment and asking on the terminal. */
export const GuardLive = Guard.layer.pipe(Layer.provide(TerminalLive), Layer.provideMerge(ConfigLive))

/** Backups of the configured database (pg_dump runs as a child process). */
export const BackupLive = Backup.layer.pipe(Layer.provideMerge(DatabaseFromEnv), Layer.provide(NodeContext.layer))

/** Restores, verified by the Backup service first. */
export const RestoreLive = Restore.layer.pipe(Layer.provideMerge(BackupLive), Layer.provide(NodeContext.layer))
