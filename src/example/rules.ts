/**
 * The example application's integrity relationships and retention rules, as plain data: the
 * repository's dbkit.config.ts declares them (`integrity`, `retention`), as a team's own config
 * declares its own.
 */

/**
 * A relationship without a foreign key: an audit entry whose actor is a user id names an existing
 * user. Other actors (the session user, `dbkit privacy erase`, a service name set in `app.actor`)
 * are not user references.
 */
export const relationships = [
  {
    table: "audit_log",
    column: "actor",
    references: "users.id",
    where: "actor ~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'"
  }
]

/** Audit entries are kept for a year. */
export const retention = [
  { name: "audit log", table: "audit_log", timestampColumn: "at", keep: "365 days", tenantScoped: true }
]
