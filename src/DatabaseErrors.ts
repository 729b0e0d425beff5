/**
 * Why a database could not be opened or cannot do what was asked: the errors `Database`'s layers
 * and the services on top of them report. On the floor so the server pool and the embedded
 * opener (ServerPool.ts, embedded/open.ts) raise them without importing the Database module.
 */
import * as Data from "effect/Data"
import type { EmbeddedInUse } from "./embedded/EmbeddedLock.js"
import type { EmbeddedExtensionUnavailable } from "./embedded/extensions.js"

/** The database cannot be reached or refused us; says where and why, never the password. */
export class DatabaseUnavailable extends Data.TaggedError("DatabaseUnavailable")<{
  readonly target: string
  readonly reason: string
}> {
  override get message() {
    return `cannot connect to ${this.target}: ${this.reason}`
  }
}

/** The embedded data directory was made by another PostgreSQL major version. */
export class EmbeddedVersionMismatch extends Data.TaggedError("EmbeddedVersionMismatch")<{
  readonly dataDir: string
  readonly found: string
  readonly expected: string
}> {
  override get message() {
    return `the embedded database in ${this.dataDir} was created by PostgreSQL ${this.found}, this dbkit embeds PostgreSQL ${this.expected}; back it up with the dbkit that made it, or move the directory away`
  }
}

/** A feature that needs a PostgreSQL server was asked of the embedded database. */
export class NotSupportedOnEmbedded extends Data.TaggedError("NotSupportedOnEmbedded")<{
  readonly feature: string
  /** What to do instead on the embedded database, if anything. */
  readonly instead?: string | undefined
}> {
  override get message() {
    return `${this.feature} needs a PostgreSQL server; set DATABASE_URL to run it${
      this.instead ? `, or ${this.instead}` : ""
    }`
  }
}

/** Everything opening a database can fail with. */
export type ConnectError = DatabaseUnavailable | EmbeddedInUse | EmbeddedVersionMismatch | EmbeddedExtensionUnavailable
