/**
 * Once per test run: build the bundled CLI the process tests run, and make an embedded-database
 * template (initdb once, ~3 s) that every in-memory PGlite in the suite is cloned from (~1 s).
 */
import { PGlite } from "@electric-sql/pglite"
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import type { TestProject } from "vitest/node"

export default async function setup(project: TestProject) {
  execFileSync(process.execPath, ["scripts/build.mjs"], { stdio: "inherit" })
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "dbkit-test-"))
  const template = path.join(dir, "pglite-template.tar.gz")
  const pg = await PGlite.create()
  const dump = await pg.dumpDataDir("gzip")
  await pg.close()
  fs.writeFileSync(template, Buffer.from(await dump.arrayBuffer()))
  project.provide("pgliteTemplate", template)
  return () => fs.rmSync(dir, { recursive: true, force: true })
}

declare module "vitest" {
  export interface ProvidedContext {
    pgliteTemplate: string
  }
}
