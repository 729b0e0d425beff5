/**
 * Evaluating a config (or project) module: a TypeScript or ESM file transpiled with esbuild to
 * CommonJS, cached by content, and evaluated with `dbkit` resolved to a stub or the running library.
 */
import * as Effect from "effect/Effect"
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import { createRequire } from "node:module"
import * as path from "node:path"
import { makeDirectories } from "./Directories.js"
import { invalid } from "./ProjectConfigSchema.js"

/** Requires `esbuild` from the project, else from dbkit's own install. */
const loadEsbuild = (file: string): typeof import("esbuild") | undefined => {
  const bases = [
    path.join(process.cwd(), "package.json"),
    file,
    typeof __filename === "string" ? __filename : undefined
  ]
  for (const base of bases) {
    if (base === undefined) continue
    try {
      return createRequire(base)("esbuild") as typeof import("esbuild")
    } catch {
      // try the next place
    }
  }
  return undefined
}

/**
 * What `import … from "dbkit"` gives a module: a stub's source (the config file needs only
 * `defineConfig`, and loading the library would slow every command's start), or the running
 * library itself (seeds and privacy maps build on it: one copy of every class and tag).
 */
export type DbkitImport = string | { readonly library: unknown; readonly cacheRoot: string }

const STUB = "export const defineConfig = (config) => config"

/**
 * Transpiles and evaluates a JavaScript or TypeScript module; returns its default export (else
 * its exports). Its other imports are required from the module's folder (the project's
 * node_modules).
 */
export const evaluateModule = (file: string, dbkit: DbkitImport = STUB) =>
  Effect.gen(function*() {
    const stub = typeof dbkit === "string" ? dbkit : null
    const root = typeof dbkit === "string" ? path.dirname(file) : dbkit.cacheRoot
    const cached = readCompiled(file, stub, root)
    const code = cached ?? (yield* compile(file, stub, root))
    const module = { exports: {} as Record<string, unknown> }
    const projectRequire = createRequire(file)
    const requireFor = typeof dbkit === "string"
      ? projectRequire
      : Object.assign((id: string) => (id === "dbkit" ? dbkit.library : projectRequire(id)), projectRequire)
    yield* Effect.try({
      try: () =>
        new Function("module", "exports", "require", "__filename", "__dirname", code)(
          module,
          module.exports,
          requireFor,
          file,
          path.dirname(file)
        ),
      catch: (cause) => invalid(file, "", `failed while loading: ${firstLine(cause)}`)
    })
    const exported = module.exports
    return "default" in exported ? exported.default : exported
  })

/**
 * Compiled config modules are kept in `.dbkit/cache/` beside the file, with the size and mtime of
 * every file that went into them: a command reuses the code while none changed, instead of
 * starting esbuild each time (~0.1 s of every command's start-up).
 */
const cacheFileOf = (file: string, dbkitStub: string | null, root: string) =>
  path.join(
    root,
    ".dbkit",
    "cache",
    `module-${createHash("sha256").update(`${file}\0${dbkitStub ?? "(library)"}`).digest("hex").slice(0, 16)}.json`
  )

interface CompiledModule {
  readonly inputs: ReadonlyArray<{ readonly file: string; readonly size: number; readonly mtimeMs: number }>
  readonly code: string
}

const readCompiled = (file: string, dbkitStub: string | null, root: string): string | undefined => {
  try {
    const cached = JSON.parse(fs.readFileSync(cacheFileOf(file, dbkitStub, root), "utf8")) as CompiledModule
    for (const input of cached.inputs) {
      const stat = fs.statSync(input.file)
      if (stat.size !== input.size || stat.mtimeMs !== input.mtimeMs) return undefined
    }
    return typeof cached.code === "string" ? cached.code : undefined
  } catch {
    return undefined
  }
}

const writeCompiled = (
  file: string,
  dbkitStub: string | null,
  root: string,
  inputs: ReadonlyArray<string>,
  code: string
) => {
  try {
    const target = cacheFileOf(file, dbkitStub, root)
    makeDirectories(path.dirname(target))
    const entry: CompiledModule = {
      inputs: inputs.map((input) => {
        const stat = fs.statSync(input)
        return { file: input, size: stat.size, mtimeMs: stat.mtimeMs }
      }),
      code
    }
    const temp = `${target}.${process.pid}.tmp`
    fs.writeFileSync(temp, JSON.stringify(entry), { mode: 0o600 })
    fs.renameSync(temp, target)
  } catch {
    // a read-only project: compile every time
  }
}

const compile = (file: string, dbkitStub: string | null, root: string) =>
  Effect.gen(function*() {
    const esbuild = loadEsbuild(file)
    if (esbuild === undefined) {
      return yield* invalid(
        file,
        "",
        "reading a .ts/.mjs/.js config needs the esbuild package (install it, or use dbkit.config.json)"
      )
    }
    const output = yield* Effect.tryPromise({
      try: () =>
        esbuild.build({
          metafile: true,
          entryPoints: [file],
          bundle: true,
          platform: "node",
          format: "cjs",
          target: "node20",
          write: false,
          logLevel: "silent",
          packages: "external",
          plugins: [{
            name: "dbkit-define-config",
            setup(build) {
              // The running library, given to the module's `require("dbkit")`.
              if (dbkitStub === null) {
                build.onResolve({ filter: /^dbkit$/ }, () => ({ path: "dbkit", external: true }))
                return
              }
              // `import { defineConfig } from "dbkit"` needs nothing of dbkit at run time.
              build.onResolve({ filter: /^dbkit$/ }, () => ({ path: "dbkit", namespace: "dbkit-stub" }))
              build.onLoad({ filter: /.*/, namespace: "dbkit-stub" }, () => ({
                contents: dbkitStub,
                loader: "js",
                resolveDir: path.dirname(file)
              }))
            }
          }]
        }),
      catch: (cause) => invalid(file, "", `cannot be compiled: ${firstLine(cause)}`)
    })
    const code = output.outputFiles?.[0]?.text ?? ""
    // The files bundled into it (the stub's namespace is not a file).
    const inputs = Object.keys(output.metafile?.inputs ?? {}).filter((input) => !input.includes(":")).map((input) =>
      path.resolve(input)
    )
    writeCompiled(file, dbkitStub, root, inputs.includes(file) ? inputs : [file, ...inputs], code)
    return code
  })

export const firstLine = (cause: unknown) =>
  (cause instanceof Error ? cause.message : String(cause)).split("\n")[0] ?? ""
