#!/usr/bin/env node
// The dbkit command: runs the bundled CLI (dist/cli.cjs, built on install; `pnpm build` rebuilds
// it) through vm.Script with V8's code cache, so a command does not pay to compile the bundle
// on every start. The cache is written at exit when missing or stale; a read-only install just
// runs without one.
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
const cacheFile = `${file}.cache`
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
  process.once("exit", () => {
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
