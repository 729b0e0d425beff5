/**
 * Reads `out` from a drizzle-kit config without running it: a project's config may import its
 * schema, read secrets or open connections, none of which `dbkit init` should trigger. The text is
 * scanned for one literal `out: "…"`; anything else (a variable, a template with `${}`) is
 * reported as not understood rather than guessed.
 */

/** The config file names drizzle-kit looks for, in its order. */
export const drizzleConfigNames = [
  "drizzle.config.ts",
  "drizzle.config.mts",
  "drizzle.config.js",
  "drizzle.config.mjs",
  "drizzle.config.cjs",
  "drizzle.config.json"
] as const

/** drizzle-kit's default `out` when the config names none. */
export const drizzleDefaultOut = "drizzle"

/** What the config says about `out`. */
export type DrizzleOut =
  | { readonly _tag: "Literal"; readonly out: string }
  | { readonly _tag: "Default" }
  | { readonly _tag: "NotLiteral" }

/** The text with `//` and block comments blanked out (strings kept), so a commented-out `out:` is ignored. */
export const withoutComments = (text: string): string => {
  let result = ""
  let i = 0
  while (i < text.length) {
    const c = text[i]!
    if (c === "\"" || c === "'" || c === "`") {
      let j = i + 1
      while (j < text.length && text[j] !== c) j += text[j] === "\\" ? 2 : 1
      result += text.slice(i, j + 1)
      i = j + 1
    } else if (c === "/" && text[i + 1] === "/") {
      const end = text.indexOf("\n", i)
      i = end === -1 ? text.length : end
    } else if (c === "/" && text[i + 1] === "*") {
      const end = text.indexOf("*/", i + 2)
      i = end === -1 ? text.length : end + 2
      result += " "
    } else {
      result += c
      i++
    }
  }
  return result
}

const OUT_KEY = /(?:^|[{,\s])["']?out["']?\s*:\s*/m
const STRING_LITERAL = /^(["'`])((?:\\.|(?!\1)[^\\\n])*)\1/

/** `out` of a drizzle config's text; `json` for drizzle.config.json (parsed, not scanned). */
export const readDrizzleOut = (text: string, json: boolean): DrizzleOut => {
  if (json) {
    try {
      const value = (JSON.parse(text) as { out?: unknown } | null)?.out
      return typeof value === "string"
        ? { _tag: "Literal", out: value }
        : value === undefined
        ? { _tag: "Default" }
        : { _tag: "NotLiteral" }
    } catch {
      return { _tag: "NotLiteral" }
    }
  }
  const code = withoutComments(text)
  const key = OUT_KEY.exec(code)
  if (key === null) return { _tag: "Default" }
  const literal = STRING_LITERAL.exec(code.slice(key.index + key[0].length))
  if (literal === null || (literal[1] === "`" && literal[2]!.includes("${"))) return { _tag: "NotLiteral" }
  return { _tag: "Literal", out: literal[2]! }
}
