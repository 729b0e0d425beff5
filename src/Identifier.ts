/**
 * SQL identifier quoting, in one place: `quoteIdent("a\"b")` → `"a""b"`, and
 * `quoteQualified("sales.orders")` → `"sales"."orders"`.
 */

/** One identifier, double-quoted with inner quotes doubled. */
export const quoteIdent = (name: string): string => `"${name.replace(/"/g, "\"\"")}"`

/** A dotted name (`schema.table`), each part quoted. */
export const quoteQualified = (name: string): string => name.split(".").map(quoteIdent).join(".")
