/**
 * The personal-data map for the command line and `Privacy.layerConfig()`: the module the
 * project's dbkit.config.ts names under `privacy` (DBKIT_PRIVACY_MAP names another file), whose
 * default export is `definePrivacy(…)` (or a .json file holding the map). TypeScript is
 * transpiled with esbuild like dbkit.config.ts; inside it, `import { definePrivacy,
 * personalData } from "dbkit"` is the running library.
 */
import * as Effect from "effect/Effect"
import type { InvalidConfig } from "../Config.js"
import * as Project from "../Project.js"
import type { PrivacyMap } from "./declare.js"

/** Reads the project's personal-data map. */
export const loadPrivacyMap = (): Effect.Effect<PrivacyMap, InvalidConfig> =>
  Effect.flatMap(Project.current, Project.privacyMap)
