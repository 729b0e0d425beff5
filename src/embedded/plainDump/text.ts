/**
 * Statements read as latin1 (one character per byte) decoded as UTF-8; text that is not UTF-8
 * becomes a Malformed item.
 */
import { isUtf8 } from "node:buffer"
import type { DumpItem } from "./items.js"

/** latin1 text (one character per byte) as the UTF-8 it holds, or undefined when it is not UTF-8. */
const utf8 = (latin1: string): string | undefined => {
  const bytes = Buffer.from(latin1, "latin1")
  return isUtf8(bytes) ? bytes.toString("utf8") : undefined
}

/**
 * An item read from latin1 text with its text decoded as UTF-8 (COPY data stays bytes-as-latin1
 * for its sink); text that is not UTF-8 is Malformed.
 */
export const asText = (item: DumpItem): DumpItem => {
  switch (item._tag) {
    case "CopyData":
    case "CopyEnd":
      return item
    case "Statement": {
      const sql = utf8(item.sql)
      return sql === undefined ? notUtf8(item.sql, item.line) : { ...item, sql }
    }
    case "CopyStart": {
      const [sql, table, columns, options] = [utf8(item.sql), utf8(item.table), utf8(item.columns), utf8(item.options)]
      return sql === undefined || table === undefined || columns === undefined || options === undefined
        ? notUtf8(item.sql, item.line)
        : { ...item, sql, table, columns, options }
    }
    case "MetaCommand":
      return { ...item, command: utf8(item.command) ?? item.command, argument: utf8(item.argument) ?? item.argument }
    case "Malformed":
      return { ...item, text: utf8(item.text) ?? item.text }
  }
}

const notUtf8 = (text: string, line: number): DumpItem => ({
  _tag: "Malformed",
  text: Buffer.from(text, "latin1").toString("utf8"),
  reason: "the statement is not valid UTF-8 (dump again with --encoding=UTF8)",
  line
})
