#!/usr/bin/env node
// The dbkit command: runs the bundled CLI (dist/cli.cjs, built on install; `pnpm build` rebuilds
// it) through vm.Script with V8's code cache, so a command does not pay to compile the bundle
// on every start. The cache is written at exit when missing or stale; a read-only install just
// runs without one.
//
// One cache per command (dist/cli.cjs.<command>.cache): V8 compiles a function when it is first
// called, and a cache holds the functions compiled when it was written. Shared, it would hold
// whatever the first command after a build ran: after `--help`, every `migrate` compiled the
// migrator, pg and the Effect runtime again (~30 ms); after `migrate`, `--help` deserialized
// them for nothing (~20 ms; both measured). Only a run that succeeds writes one, so a mistyped
// command leaves no file behind.
import { isAscii } from "node:buffer"
import { existsSync, readFileSync, renameSync, writeFileSync } from "node:fs"
import Module, { createRequire } from "node:module"
import { dirname } from "node:path"
import { fileURLToPath } from "node:url"
import { Script } from "node:vm"

const file = fileURLToPath(new URL("../dist/cli.cjs", import.meta.url))
if (!existsSync(file)) {
  console.error("dbkit: dist/cli.cjs is missing; run `pnpm build` (it runs on `pnpm install`)")
  process.exit(1)
}
/** The command a cache is for: the first word (after `--env NAME`), or `help`. */
const commandOf = (args) => {
  const rest = args.filter((arg, i) => arg !== "--verbose" && arg !== "--env" && args[i - 1] !== "--env" && !arg.startsWith("--env="))
  const help = rest.length === 0 || rest.some((arg) => ["--help", "-h", "--version", "--completions"].includes(arg))
  return !help && /^[a-z][a-z-]{0,31}$/.test(rest[0]) ? rest[0] : "help"
}
const cacheFile = `${file}.${commandOf(process.argv.slice(2))}.cache`
let cachedData
try {
  cachedData = readFileSync(cacheFile)
} catch {
  // first run after a build
}
// The build makes the bundle ASCII-only (scripts/build.mjs): read as latin1, it becomes a one-byte
// string, which V8 reads and compiles faster than the two-byte one UTF-8 decoding would give.
const source = readFileSync(file)
const script = new Script(Module.wrap(source.toString(isAscii(source) ? "latin1" : "utf8")), { filename: file, cachedData })
if (cachedData === undefined || script.cachedDataRejected) {
  process.once("exit", (code) => {
    if (code !== 0) return
    try {
      const temp = `${cacheFile}.${process.pid}`
      writeFileSync(temp, script.createCachedData())
      renameSync(temp, cacheFile)
    } catch {
      // read-only install: run uncached
    }
  })
}
const module = { exports: {} }
script.runInThisContext()(module.exports, createRequire(file), module, file, dirname(file))
