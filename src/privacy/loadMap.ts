/**
 * Finds and reads the personal-data map for the command line: `DBKIT_PRIVACY_MAP` (a .ts, .mts,
 * .mjs, .js or .json file whose default export is `definePrivacy(…)`), else `src/schema/privacy.ts`
 * in the working directory. TypeScript is transpiled with esbuild like dbkit.config.ts; inside it,
 * `import { definePrivacy, personalData } from "dbkit"` resolves to dbkit's own declare.ts.
 */
import * as Effect from "effect/Effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { InvalidConfig } from "../Config.js"
import { evaluateModule } from "../deploy/config.js"
import type { PrivacyMap } from "./declare.js"

export const DEFAULT_MAP = "src/schema/privacy.ts"

/** dbkit's own folder (holding src/privacy/declare.ts), found upwards from this module or the working directory. */
const dbkitRoot = (): string | undefined => {
  const starts = [typeof __filename === "string" ? path.dirname(__filename) : undefined, process.cwd()]
  for (const start of starts) {
    for (let dir = start; dir !== undefined; dir = path.dirname(dir) === dir ? undefined : path.dirname(dir)) {
      const manifest = path.join(dir, "package.json")
      try {
        if (JSON.parse(fs.readFileSync(manifest, "utf8")).name === "dbkit" && fs.existsSync(path.join(dir, "src/privacy/declare.ts"))) return dir
      } catch {
        // no package.json here
      }
      const installed = path.join(dir, "node_modules", "dbkit", "src", "privacy", "declare.ts")
      if (fs.existsSync(installed)) return path.join(dir, "node_modules", "dbkit")
    }
  }
  return undefined
}

const isMap = (value: unknown): value is PrivacyMap =>
  typeof value === "object" && value !== null && Array.isArray((value as PrivacyMap).tables) &&
  (value as PrivacyMap).tables.every((t) => typeof t?.table === "string" && Array.isArray(t.columns) && Array.isArray(t.key))

/** The map file to read, relative names resolved against `cwd`. */
export const mapFile = (cwd = process.cwd(), env: NodeJS.ProcessEnv = process.env): Effect.Effect<string, InvalidConfig> => {
  const named = env.DBKIT_PRIVACY_MAP?.trim()
  const file = path.resolve(cwd, named || DEFAULT_MAP)
  return fs.existsSync(file)
    ? Effect.succeed(file)
    : Effect.fail(
      new InvalidConfig({
        variable: "DBKIT_PRIVACY_MAP",
        reason: named
          ? `names ${named}, which does not exist`
          : `is not set and ${DEFAULT_MAP} does not exist; declare personal data with definePrivacy (see README, "Privacy")`
      })
    )
}

/** Reads the personal-data map. */
export const loadPrivacyMap = (cwd = process.cwd(), env: NodeJS.ProcessEnv = process.env): Effect.Effect<PrivacyMap, InvalidConfig> =>
  Effect.gen(function*() {
    const file = yield* mapFile(cwd, env)
    const raw = file.endsWith(".json")
      ? yield* Effect.try({
        try: () => JSON.parse(fs.readFileSync(file, "utf8")) as unknown,
        catch: () => new InvalidConfig({ variable: "DBKIT_PRIVACY_MAP", reason: `${file} is not valid JSON` })
      })
      : yield* Effect.suspend(() => {
        const root = dbkitRoot()
        const declare = root === undefined ? undefined : JSON.stringify(path.join(root, "src/privacy/declare.ts"))
        const stub = `export const defineConfig = (config) => config\n${declare ? `export * from ${declare}` : ""}`
        return evaluateModule(file, stub)
      }).pipe(Effect.mapError((error) => new InvalidConfig({ variable: "DBKIT_PRIVACY_MAP", reason: `${path.basename(file)} ${error.reason}` })))
    const value = typeof raw === "object" && raw !== null && "privacy" in raw && !("tables" in raw) ? (raw as { privacy: unknown }).privacy : raw
    if (!isMap(value)) {
      return yield* Effect.fail(
        new InvalidConfig({ variable: "DBKIT_PRIVACY_MAP", reason: `${file} must export definePrivacy({ tables: [...] }) as its default export` })
      )
    }
    return { ...value, notPersonal: value.notPersonal ?? [], auditLog: value.auditLog ?? null }
  })
