/**
 * What dbkit's reader accepts from a plain SQL dump before any of it reaches a database: the
 * statements pg_dump writes for one database, and of psql's meta-commands only the ones pg_dump
 * emits (`\restrict` / `\unrestrict`; a COPY's data ends at its `\.` line, which the splitter
 * reads as data, never as a command). A backup file is untrusted input: a dump can say
 * `\! rm -rf ~`, `\connect otherdb`, `COPY (…) TO PROGRAM '…'` or `ALTER ROLE app SUPERUSER`, and
 * psql (or a superuser's session) would do it. The reader refuses them, naming the line.
 *
 * The rules are an allow-list of top-level statements and a deny-list of the known ways out of
 * the database inside any statement text, function bodies included (programs, server files,
 * other databases, cluster-wide state). A dump can still define functions that run while it
 * loads (an index expression, a default); the deny-list catches the known escapes inside them,
 * not every conceivable one: see the README's "What a restore trusts".
 */
import * as Data from "effect/Data"
import type { DumpItem } from "./embedded/PlainDump.js"

/** A backup's script holds something dbkit does not run; nothing of it ran. */
export class BackupUntrusted extends Data.TaggedError("BackupUntrusted")<{
  /** The backup file, or "" when the script came from elsewhere. */
  readonly file: string
  readonly line: number
  /** The refused text (a statement's start, or the meta-command). */
  readonly text: string
  readonly reason: string
}> {
  override get message() {
    const text = this.text.replace(/\s+/g, " ").trim()
    const shown = text.length > 100 ? `${text.slice(0, 99)}…` : text
    return `${
      this.file === "" ? "the script" : this.file
    }, line ${this.line}: refused "${shown}": ${this.reason}; nothing was restored (a backup from an unknown source may be hostile)`
  }
}

/** Meta-commands pg_dump 13–18 write (August 2025 updates on): a random key that guards psql. */
const allowedMeta = new Set(["\\restrict", "\\unrestrict"])

// A token of a statement: a comment, a quoted identifier, a string, a dollar-quoted body, a word…
const token =
  /--[^\n]*|\/\*[\s\S]*?\*\/|"(?:[^"]|"")*"|[Ee]'(?:[^'\\]|''|\\.)*'|'(?:[^']|'')*'|\$([A-Za-z_]\w*)?\$[\s\S]*?\$\1\$|[A-Za-z_][\w$]*|\d[\w.]*|[^\s\w]/g

/**
 * The statement's shape with what cannot hold a keyword blanked out: comments dropped, strings
 * as '', quoted identifiers as "", dollar-quoted bodies as $$; words upper-cased, one space apart.
 */
const skeleton = (sql: string): string => {
  const parts: Array<string> = []
  for (const match of sql.matchAll(token)) {
    const t = match[0]
    if (t.startsWith("--") || t.startsWith("/*")) continue
    if (t.startsWith("\"")) parts.push("\"\"")
    else if (t.startsWith("'") || /^[Ee]'/.test(t)) parts.push("''")
    else if (t.startsWith("$") && t.length > 1 && t.endsWith("$")) parts.push("$$")
    else parts.push(t.toUpperCase())
  }
  return parts.join(" ")
}

/** Cluster-wide objects: a dump of one database never creates, changes or drops them. */
const clusterObject = /^(?:CREATE|ALTER|DROP) (?:DATABASE|ROLE|USER|GROUP|TABLESPACE)\b|^ALTER SYSTEM\b/

/** The statements pg_dump writes, by their first words. */
const allowedStart =
  /^(?:SET|RESET|CREATE|ALTER|DROP|COMMENT ON|GRANT|REVOKE|SECURITY LABEL|REFRESH MATERIALIZED VIEW|INSERT INTO|SELECT)\b/

/** A call's arguments when every one is a literal: strings, numbers, booleans, NULL, with casts. */
const LITERAL_ARGUMENTS = String.raw`\( (?:(?:''|-|\d[\w.]*|TRUE|FALSE|NULL|,|: : [A-Z_]+(?: \[ \])?) )*\)(?: ;)?$`

/**
 * pg_dump's SELECTs, with literal arguments only: settings, sequence values, large objects, and
 * (pg_dump 18) the planner statistics it restores with pg_restore_relation/attribute_stats.
 */
const allowedSelect = new RegExp(
  String
    .raw`^SELECT (?:PG_CATALOG \. (?:SET_CONFIG|SETVAL|LO_CREATE|LO_OPEN|LOWRITE|LO_CLOSE|LO_FROM_BYTEA)|\* FROM PG_CATALOG \. PG_RESTORE_(?:RELATION|ATTRIBUTE)_STATS) ` +
    LITERAL_ARGUMENTS
)

/**
 * Ways out of the database, in a statement's code (and in the bodies of the functions it defines):
 * programs and server files through COPY, file_fdw, large objects and the file functions; other
 * databases through dblink; other sessions and the server's own state.
 */
const escapes: ReadonlyArray<readonly [RegExp, string]> = [
  [/\bCOPY\b[^;]*?\b(?:TO|FROM)\s+PROGRAM\b/i, "COPY … PROGRAM runs a program on the database server"],
  [/\bCOPY\b[^;]*?\bTO\s+(?:E?'|STDOUT\b)/i, "COPY … TO writes a file on the database server"],
  [/\bCOPY\b[^;]*?\bFROM\s+E?'/i, "COPY … FROM a server file reads the database server's files"],
  [/\bOPTIONS\s*\([^)]*\b(?:program|filename)\b/i, "a foreign table that reads a program or a server file"],
  [
    /\b(?:pg_read_file|pg_read_binary_file|pg_ls_dir|pg_stat_file|pg_file_write|pg_file_rename|pg_file_unlink|lo_import|lo_export)\s*\(/i,
    "it reads or writes the database server's files"
  ],
  [/\bdblink\w*\s*\(/i, "dblink reaches other databases"],
  [
    /\b(?:pg_terminate_backend|pg_cancel_backend|pg_reload_conf|pg_rotate_logfile|pg_promote|pg_switch_wal|set_config\s*\(\s*'(?:session_preload_libraries|local_preload_libraries|shared_preload_libraries)')\s*\(?/i,
    "it acts on other sessions or on the server"
  ]
]

/** Why dbkit refuses this item of a dump, or undefined when it may run. */
export const refusal = (item: DumpItem): string | undefined => {
  switch (item._tag) {
    case "MetaCommand":
      if (item.inStatement) return `the psql meta-command ${item.command} inside a statement`
      if (allowedMeta.has(item.command)) {
        return /^[A-Za-z0-9]*$/.test(item.argument)
          ? undefined
          : `${item.command} with an argument pg_dump never writes`
      }
      if (item.command === "\\c" || item.command === "\\connect") {
        return "\\connect switches to another database: a dump of one database never does (dump it again without --create)"
      }
      return `the psql meta-command ${item.command} is not something pg_dump writes`
    case "CopyStart":
      if (item.options.replace(/;\s*$/, "").trim() !== "") {
        return "COPY … FROM stdin with options or a WHERE clause pg_dump never writes"
      }
      return undefined
    case "Statement":
      return statementRefusal(item.sql)
    case "CopyData":
    case "CopyEnd":
    case "Malformed":
      return undefined
  }
}

/** The refusal of an item as the error naming its line (its text as the item holds it), or undefined. */
export const refusedItem = (item: DumpItem): BackupUntrusted | undefined => {
  const reason = refusal(item)
  if (reason === undefined) return undefined
  const text = item._tag === "MetaCommand"
    ? `${item.command} ${item.argument}`.trim()
    : item._tag === "Malformed"
    ? item.text
    : item._tag === "Statement" || item._tag === "CopyStart"
    ? item.sql
    : ""
  return new BackupUntrusted({
    file: "",
    line: item.line,
    text: text.length > 1000 ? `${text.slice(0, 1000)}…` : text,
    reason
  })
}

const escapeIn = (sql: string): string | undefined => {
  for (const [pattern, reason] of escapes) if (pattern.test(sql)) return reason
  return undefined
}

/** A routine's body is a string: it is read as code (a comment in it may be refused too). */
const definesRoutine = /^CREATE (?:OR REPLACE )?(?:FUNCTION|PROCEDURE)\b/

/** pg_dump brackets large objects' data in BEGIN; … COMMIT; — inside a load's one transaction, no-ops. */
export const bracketsLargeObjects = (sql: string): boolean => /^(?:BEGIN|COMMIT)\s*;?\s*$/i.test(sql)

const statementRefusal = (sql: string): string | undefined => {
  if (bracketsLargeObjects(sql)) return undefined
  const shape = skeleton(sql)
  // INSERTs are most of an --inserts dump: their first words and the deny-list are enough.
  if (shape.startsWith("INSERT INTO ")) return escapeIn(shape)
  if (!allowedStart.test(shape)) {
    const first = shape.split(" ", 1)[0] ?? ""
    return /^(?:COPY)$/.test(first)
      ? "COPY other than FROM stdin reaches outside the database"
      : `${first || "this"} is not a statement pg_dump writes`
  }
  if (clusterObject.test(shape)) {
    return "it changes cluster-wide state (databases, roles, tablespaces), not this database"
  }
  if (/^SELECT\b/.test(shape) && !allowedSelect.test(shape)) {
    return "a SELECT other than pg_dump's set_config, setval and large-object calls"
  }
  // GRANT role TO role / REVOKE role FROM role: membership in a role is cluster-wide.
  if (/^(?:GRANT|REVOKE)\b/.test(shape) && !/ ON /.test(shape)) {
    return "granting a role is cluster-wide, not part of this database"
  }
  if (
    /^(?:SET|RESET) (?:SESSION |LOCAL )?STANDARD_CONFORMING_STRINGS\b/.test(shape) && !/ (?:ON|'') ?;?$/.test(shape)
  ) {
    return "pg_dump always writes standard_conforming_strings = on"
  }
  if (/^CREATE SUBSCRIPTION\b/.test(shape) && !/\bCONNECT = FALSE\b/.test(shape)) {
    return "a subscription that connects to another server (pg_dump writes connect = false)"
  }
  if (/^ALTER SUBSCRIPTION\b/.test(shape) && / (?:ENABLE|CONNECTION|REFRESH)\b/.test(shape)) {
    return "a subscription that connects to another server"
  }
  return escapeIn(shape) ?? (definesRoutine.test(shape) ? escapeIn(sql) : undefined)
}

/** Whether a SET is one a newer pg_dump writes that an older server does not know, harmlessly. */
export const skippableSetting = (sql: string, serverMajor: number): string | undefined => {
  // pg_dump 17+ writes `SET transaction_timeout = 0;`; a 13–16 server does not have it, and
  // 0 (no limit) is what it would be there anyway.
  if (serverMajor < 17 && /^SET\s+transaction_timeout\s*=\s*0\s*;?\s*$/i.test(sql)) return "transaction_timeout"
  return undefined
}
