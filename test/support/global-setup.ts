/**
 * Once per test run, side by side: build the bundled CLI the process tests run, and make an
 * embedded-database template (initdb once, ~3 s) that every in-memory PGlite in the suite is
 * cloned from (~1 s).
 */
import { PGlite } from "@electric-sql/pglite"
import { execFile } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { promisify } from "node:util"
import type { TestProject } from "vitest/node"

const build = async () => {
  const { stdout, stderr } = await promisify(execFile)(process.execPath, ["scripts/build.mjs"])
  process.stdout.write(stdout)
  process.stderr.write(stderr)
}

export default async function setup(project: TestProject) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "dbkit-test-"))
  const template = path.join(dir, "pglite-template.tar.gz")
  const makeTemplate = async () => {
    const pg = await PGlite.create()
    const dump = await pg.dumpDataDir("gzip")
    await pg.close()
    fs.writeFileSync(template, Buffer.from(await dump.arrayBuffer()))
  }
  await Promise.all([build(), makeTemplate()])
  project.provide("pgliteTemplate", template)
  return () => fs.rmSync(dir, { recursive: true, force: true })
}

declare module "vitest" {
  export interface ProvidedContext {
    pgliteTemplate: string
  }
}
