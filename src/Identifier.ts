/**
 * SQL identifier quoting, in one place: `quoteIdent("a\"b")` → `"a""b"`, and
 * `quoteQualified("sales.orders")` → `"sales"."orders"`.
 */

/** One identifier, double-quoted with inner quotes doubled. */
export const quoteIdent = (name: string): string => `"${name.replace(/"/g, "\"\"")}"`

/** A dotted name (`schema.table`), each part quoted. */
export const quoteQualified = (name: string): string => name.split(".").map(quoteIdent).join(".")

/** A string literal that is safe whatever standard_conforming_strings says. */
export const quoteLiteral = (value: string): string => `E'${value.replace(/\\/g, "\\\\").replace(/'/g, "''")}'`
