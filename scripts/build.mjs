// Bundles the CLI into one CommonJS file (dist/cli.cjs) and the library entry (dist/index.js).
// A bundled CLI starts in a fraction of the time unbundled ESM takes (STACK.md); CommonJS lets
// bin/dbkit.mjs run it through vm.Script with V8's code cache (dist/cli.cjs.cache), which Node
// 20 has no built-in switch for. `import()` is lowered to `require()` so the cached script needs
// no dynamic-import callback. PGlite stays external: it loads its WASM relative to its module.
import { build } from "esbuild"
import { rmSync } from "node:fs"

const external = ["@electric-sql/pglite", "@electric-sql/pglite/*", "@electric-sql/pglite-tools", "@electric-sql/pglite-tools/*", "pg-native"]
const shared = { bundle: true, platform: "node", target: "node20", sourcemap: true, legalComments: "none", logLevel: "warning" }

rmSync("dist/cli.cjs.cache", { force: true }) // compiled for the previous build
await Promise.all([
  build({
    ...shared,
    entryPoints: ["src/cli/main.ts"],
    outfile: "dist/cli.cjs",
    format: "cjs",
    external,
    supported: { "dynamic-import": false },
    // pg probes `navigator` and `new Response()` to detect Cloudflare Workers; in Node either
    // loads undici (~15 ms of every start). A CLI is never a Worker, and nothing else in the
    // bundle uses them (check with `grep -n 'Response\|navigator' dist/cli.cjs` after changes).
    define: { navigator: "undefined", Response: "undefined" }
  }),
  build({ ...shared, entryPoints: ["src/index.ts"], outfile: "dist/index.js", format: "esm", external, packages: "external" })
])
