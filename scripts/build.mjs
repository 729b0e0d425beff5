// Bundles the CLI into one ESM file (dist/cli.mjs) and the library entry (dist/index.js).
// A bundled CLI starts in ~0.4 s; unbundled ESM from node_modules takes seconds (STACK.md).
// PGlite stays external: it loads its WASM and data files relative to its own module.
import { build } from "esbuild"

const shared = {
  bundle: true,
  platform: "node",
  target: "node20",
  format: "esm",
  sourcemap: true,
  legalComments: "none",
  external: ["@electric-sql/pglite", "@electric-sql/pglite/*", "@electric-sql/pglite-tools", "@electric-sql/pglite-tools/*", "pg-native"],
  banner: { js: "import { createRequire as __dbkitCreateRequire } from 'node:module'; const require = __dbkitCreateRequire(import.meta.url);" },
  logLevel: "warning"
}

await Promise.all([
  build({ ...shared, entryPoints: ["src/cli/main.ts"], outfile: "dist/cli.mjs" }),
  build({ ...shared, entryPoints: ["src/index.ts"], outfile: "dist/index.js", packages: "external" })
])
