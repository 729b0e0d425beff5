/**
 * dbkit as a user gets it: the package `npm pack` makes, installed with npm from the real
 * registry into a project folder of its own.
 *
 * - `packDbkit()` builds and packs the repository (bundles and declarations, as `prepack` does)
 *   into a staging folder, so it never rewrites the dist/cli.cjs other test files are running.
 *   The tarball is cached under the OS temp dir by a hash of what goes into it: every test file
 *   (and the next run, when nothing changed) reuses it; concurrent callers wait for one build.
 * - `installProject(dir, deps)` runs `npm install <tarball> ...deps` there, with a shared npm
 *   cache and `--prefer-offline`, so a second project or run downloads almost nothing.
 * - `registryAvailable()` says whether the registry answers, and throws under CI=true when not.
 */
import { spawn } from "node:child_process"
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"

export const repoRoot = path.resolve(import.meta.dirname, "../..")

/** npm's cache for every install these tests make (kept between runs: that is what makes them fast). */
export const npmCache = path.join(os.tmpdir(), "dbkit-test-npm-cache")

const packRoot = path.join(os.tmpdir(), "dbkit-test-pack")

export interface RunResult {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
  readonly ms: number
}

/**
 * The environment a child npm/node gets: this one without what a package manager running the
 * tests (`pnpm test` sets npm_config_*, npm_package_*) or vitest put in it, and without
 * DATABASE_URL / DB_ENV / NODE_ENV (an installed dbkit must choose its database on its own).
 */
export const cleanEnv = (extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv => {
  const env: NodeJS.ProcessEnv = {}
  for (const [key, value] of Object.entries(process.env)) {
    if (/^(npm_|pnpm_|VITEST|DATABASE_URL$|DB_ENV$|NODE_ENV$|NODE_OPTIONS$)/i.test(key)) continue
    env[key] = value
  }
  for (const [key, value] of Object.entries(extra)) {
    if (value === undefined) delete env[key]
    else env[key] = value
  }
  return env
}

/** Runs a command to its end; never rejects on a non-zero exit (the caller asserts). */
export const run = (
  command: string,
  args: ReadonlyArray<string>,
  options: { readonly cwd: string; readonly env?: NodeJS.ProcessEnv; readonly timeoutMs?: number }
): Promise<RunResult> =>
  new Promise((resolve, reject) => {
    const started = Date.now()
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: options.env ?? cleanEnv(),
      stdio: ["ignore", "pipe", "pipe"]
    })
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (d) => (stdout += d))
    child.stderr.on("data", (d) => (stderr += d))
    const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 300_000)
    child.on("error", reject)
    child.on("close", (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr, ms: Date.now() - started })
    })
  })

const npmArgs = ["--no-audit", "--no-fund", "--prefer-offline", "--loglevel=error", "--no-update-notifier"]
const npmEnv = () => cleanEnv({ npm_config_cache: npmCache })

/** Runs `npm ...args` in `cwd` with the shared cache; rejects with npm's output on failure. */
export const npm = async (cwd: string, args: ReadonlyArray<string>, timeoutMs = 600_000): Promise<RunResult> => {
  const result = await run("npm", [...args, ...npmArgs], { cwd, env: npmEnv(), timeoutMs })
  if (result.code !== 0) {
    throw new Error(`npm ${args.join(" ")} (in ${cwd}) exited ${result.code}\n${result.stdout}\n${result.stderr}`)
  }
  return result
}

/** What the package is made of: a change to any of these makes a new tarball. */
const packInputs = (): Array<string> => {
  const files: Array<string> = []
  const walk = (dir: string) => {
    for (const entry of fs.readdirSync(path.join(repoRoot, dir), { withFileTypes: true })) {
      const rel = path.join(dir, entry.name)
      if (entry.isDirectory()) walk(rel)
      else files.push(rel)
    }
  }
  walk("src")
  walk("bin")
  files.push("scripts/build.mjs", "package.json", "pnpm-lock.yaml", "tsconfig.json", "tsconfig.build.json")
  for (const optional of ["README.md", "LICENSE"]) {
    if (fs.existsSync(path.join(repoRoot, optional))) files.push(optional)
  }
  return files.sort()
}

const inputsHash = (): string => {
  const hash = createHash("sha256")
  for (const file of packInputs()) {
    hash.update(file).update("\0").update(fs.readFileSync(path.join(repoRoot, file))).update("\0")
  }
  return hash.digest("hex").slice(0, 16)
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** Builds the package in a staging folder and packs it; returns the tarball's path. */
const build = async (target: string): Promise<string> => {
  const staging = fs.mkdtempSync(path.join(packRoot, "staging-"))
  try {
    const built = await run(process.execPath, [
      path.join(repoRoot, "scripts/build.mjs"),
      "--types",
      `--outdir=${path.join(staging, "dist")}`
    ], {
      cwd: repoRoot,
      timeoutMs: 300_000
    })
    if (built.code !== 0) {
      throw new Error(`scripts/build.mjs --types failed (${built.code})\n${built.stdout}\n${built.stderr}`)
    }
    // What `files` could ship: npm picks from these by package.json's `files`, as in the repository.
    for (const entry of ["package.json", "bin", "README.md", "LICENSE"]) {
      if (fs.existsSync(path.join(repoRoot, entry))) {
        fs.cpSync(path.join(repoRoot, entry), path.join(staging, entry), { recursive: true })
      }
    }
    // The build already ran; `prepare`/`prepack` would need the sources, which are not here.
    const packed = await npm(staging, ["pack", "--ignore-scripts", "--json", "--pack-destination", staging])
    const [info] = JSON.parse(packed.stdout) as Array<{ filename: string }>
    if (info === undefined) throw new Error(`npm pack printed no file: ${packed.stdout}`)
    fs.mkdirSync(path.dirname(target), { recursive: true })
    fs.renameSync(path.join(staging, info.filename), target)
    return target
  } finally {
    fs.rmSync(staging, { recursive: true, force: true })
  }
}

/** Packs once per input state, across processes: the first caller builds, the others wait for it. */
const packShared = async (): Promise<string> => {
  fs.mkdirSync(packRoot, { recursive: true })
  const { version } = JSON.parse(fs.readFileSync(path.join(repoRoot, "package.json"), "utf8")) as { version: string }
  const key = inputsHash()
  const target = path.join(packRoot, key, `dbkit-${version}.tgz`)
  const lock = path.join(packRoot, `${key}.lock`)
  const deadline = Date.now() + 10 * 60_000
  for (;;) {
    if (fs.existsSync(target)) return target
    try {
      fs.mkdirSync(lock)
    } catch {
      // Another process is packing: wait for its tarball, unless its lock is stale (it died).
      const age = Date.now() - (fs.statSync(lock, { throwIfNoEntry: false })?.mtimeMs ?? Date.now())
      if (age > 5 * 60_000) fs.rmSync(lock, { recursive: true, force: true })
      if (Date.now() > deadline) throw new Error(`timed out waiting for another process to pack dbkit (${lock})`)
      await sleep(500)
      continue
    }
    try {
      if (fs.existsSync(target)) return target
      return await build(target)
    } finally {
      fs.rmSync(lock, { recursive: true, force: true })
    }
  }
}

let packed: Promise<string> | undefined

/** The path of a tarball of the current repository, as `npm pack` makes it (built once per process at most). */
export const packDbkit = (): Promise<string> => {
  packed ??= packShared()
  packed.catch(() => (packed = undefined)) // a failed pack is retried by the next caller
  return packed
}

/** Whether the npm registry answers; throws under CI=true when it does not (the install tests must run there). */
export const registryAvailable = async (): Promise<boolean> => {
  const registry = (process.env.npm_config_registry ?? "https://registry.npmjs.org/").replace(/\/?$/, "/")
  try {
    const response = await fetch(`${registry}-/ping`, { signal: AbortSignal.timeout(10_000) })
    if (response.ok) return true
    throw new Error(`HTTP ${response.status}`)
  } catch (error) {
    if (process.env.CI === "true" || process.env.CI === "1") {
      throw new Error(
        `the npm registry (${registry}) is required (CI=true) but not reachable: ${(error as Error).message}`
      )
    }
    return false
  }
}

export interface InstalledProject {
  readonly dir: string
  readonly tarball: string
  /** How long `npm install` took. */
  readonly seconds: number
}

/**
 * Installs the dbkit tarball and `deps` (npm specs: `effect@3`, `@effect/sql`, `typescript@5.9`)
 * into `dir` with one `npm install`, as a user would. A `package.json` (`"type": "module"`,
 * private) is written first when `dir` has none. Rejects with npm's output when the install fails.
 */
export const installProject = async (dir: string, deps: ReadonlyArray<string> = []): Promise<InstalledProject> => {
  const tarball = await packDbkit()
  fs.mkdirSync(dir, { recursive: true })
  const manifest = path.join(dir, "package.json")
  if (!fs.existsSync(manifest)) {
    fs.writeFileSync(
      manifest,
      `${
        JSON.stringify(
          { name: path.basename(dir).toLowerCase().replace(/[^a-z0-9-]/g, "-"), private: true, type: "module" },
          null,
          2
        )
      }\n`
    )
  }
  const result = await npm(dir, ["install", tarball, ...deps])
  return { dir, tarball, seconds: result.ms / 1000 }
}
