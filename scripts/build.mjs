// Bundles the CLI into one CommonJS file (dist/cli.cjs) and the library entry (dist/index.js).
// A bundled CLI starts in a fraction of the time unbundled ESM takes (STACK.md); CommonJS lets
// bin/dbkit.mjs run it through vm.Script with V8's code cache (dist/cli.cjs.cache), which Node
// 20 has no built-in switch for. `import()` is lowered to `require()` so the cached script needs
// no dynamic-import callback; the modules a command handler imports that way (src/cli/lazy.ts)
// are wrapped in initialisers that run on first use, not at start. PGlite stays external: it
// loads its WASM relative to its module.
//
// `--types` (the `build` and `prepack` scripts) also emits the library's declarations into
// dist/types with tsc (tsconfig.build.json, ~15 s): the published package's `types`. Without it
// (`prepare`, test setup, scripts/run.mjs) only the bundles are built, in a second or two.
// `--outdir=DIR` writes everything to DIR instead of dist (test/support/tarball.ts packs from a
// staging folder, so a test never rewrites the dist/cli.cjs other tests are running).
import { build, transform } from "esbuild"
import { execFileSync } from "node:child_process"
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { createRequire } from "node:module"

const external = ["@electric-sql/pglite", "@electric-sql/pglite/*", "@electric-sql/pglite-tools", "@electric-sql/pglite-tools/*", "pg-native"]
const shared = { bundle: true, platform: "node", target: "node20", sourcemap: true, legalComments: "none", logLevel: "warning" }

/**
 * esbuild escapes non-ASCII characters in strings and names, but not in comments or regular
 * expressions, and one left there makes V8 hold the whole bundle as a two-byte string: slower to
 * read and to compile at every start (~10 ms of `dbkit --help`, measured). Each non-ASCII code
 * unit becomes its `\uXXXX` escape, which means the same in a regular expression (and is only
 * text in a comment) — checked: esbuild must print the same program from both, but for those
 * escapes. One after a backslash would change its meaning, and stops the build.
 */
const escapeNonAscii = (text) => text.replace(/[^\x00-\x7f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`)
const asciiOnly = async (file) => {
  const code = readFileSync(file, "utf8")
  if (!/[^\x00-\x7f]/.test(code)) return
  const escaped = escapeNonAscii(code)
  const program = (text) => transform(text, { minifyWhitespace: true, logLevel: "error" }).then((r) => r.code)
  const [before, after] = await Promise.all([program(code), program(escaped)])
  if (/\\[^\x00-\x7f]/.test(code) || escapeNonAscii(before) !== after) {
    throw new Error(`${file}: a non-ASCII character that cannot be escaped safely; make it an escape in the source`)
  }
  writeFileSync(file, escaped)
}

const outArg = process.argv.find((arg) => arg.startsWith("--outdir="))
const out = outArg === undefined ? "dist" : outArg.slice("--outdir=".length)

// Compiled for the previous build (bin/dbkit.mjs keeps one per command): V8 checks a cache
// against the source's length only, so a stale one could pass for the new bundle's.
for (const name of existsSync(out) ? readdirSync(out) : []) {
  if (/^cli\.cjs(\.[a-z-]+)?\.cache$/.test(name)) rmSync(`${out}/${name}`, { force: true })
}
await Promise.all([
  build({
    ...shared,
    entryPoints: ["src/cli/main.ts"],
    outfile: `${out}/cli.cjs`,
    format: "cjs",
    external,
    supported: { "dynamic-import": false },
    // pg probes `navigator` and `new Response()` to detect Cloudflare Workers; in Node either
    // loads undici (~15 ms of every start). A CLI is never a Worker, and nothing else in the
    // bundle uses them (check with `grep -n 'Response\|navigator' dist/cli.cjs` after changes).
    define: { navigator: "undefined", Response: "undefined" }
  }).then(() => asciiOnly(`${out}/cli.cjs`)),
  build({ ...shared, entryPoints: ["src/index.ts"], outfile: `${out}/index.js`, format: "esm", external, packages: "external" })
])

if (process.argv.includes("--types")) {
  // A fresh folder, so a module renamed or removed since the last build ships no stale .d.ts.
  rmSync(`${out}/types`, { recursive: true, force: true })
  const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc")
  try {
    execFileSync(process.execPath, [tsc, "-p", "tsconfig.build.json", "--outDir", `${out}/types`], { stdio: "inherit" })
  } catch {
    rmSync(`${out}/types`, { recursive: true, force: true }) // never pack declarations from a failed check
    console.error("build: declarations failed (tsc -p tsconfig.build.json); see the errors above")
    process.exit(1)
  }
}
