/**
 * The roles a GRANT or POLICY statement grants to, for `createMissingRoles`.
 */

// A token of a statement, for finding grantees: a comment, a quoted identifier, a string, a word…
const token =
  /--[^\n]*|\/\*[\s\S]*?\*\/|"(?:[^"]|"")*"|[Ee]'(?:[^'\\]|''|\\.)*'|'(?:[^']|'')*'|\$([A-Za-z_]\w*)?\$[\s\S]*?\$\1\$|[A-Za-z_][\w$]*|[(),;]|[^\s\w"'(),;]+|\d[\w.]*/g
const grantsOrPolicies = /^(?:GRANT|CREATE\s+POLICY|ALTER\s+DEFAULT\s+PRIVILEGES)\b/i
const roleKeywords = new Set(["public", "current_user", "session_user", "current_role", "group"])

/**
 * The roles a GRANT, CREATE POLICY or ALTER DEFAULT PRIVILEGES … GRANT statement grants
 * to: the names after its `TO` (outside parentheses), up to USING, WITH, GRANTED or the end.
 * PUBLIC and CURRENT_USER-like keywords are not roles to create.
 */
export const granteesOf = (sql: string): ReadonlyArray<string> => {
  if (!grantsOrPolicies.test(sql)) return []
  const tokens = (sql.match(token) ?? []).filter((t) => !t.startsWith("--") && !t.startsWith("/*"))
  let depth = 0
  let at = -1
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!
    if (t === "(") depth++
    else if (t === ")") depth--
    else if (depth === 0 && t.toLowerCase() === "to") {
      at = i
      break
    }
  }
  if (at === -1) return []
  const roles: Array<string> = []
  for (let i = at + 1; i < tokens.length; i++) {
    const t = tokens[i]!
    if (t === ",") continue
    if (t.startsWith("\"")) {
      roles.push(t.slice(1, -1).replace(/""/g, "\""))
      continue
    }
    if (!/^[A-Za-z_]/.test(t)) break
    const word = t.toLowerCase()
    if (word === "using" || word === "with" || word === "granted") break
    if (!roleKeywords.has(word)) roles.push(word)
  }
  return roles
}
