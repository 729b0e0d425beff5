#!/usr/bin/env node
// The entrypoint behind the pnpm scripts (`pnpm effect:migrate-db` → `node scripts/run.mjs migrate`).
// It rebuilds the bundled CLI when src/ is newer than dist/cli.cjs (after a pull without a
// reinstall), then runs it, so the scripts never run stale code and never pay for tsx.
import { execFileSync } from "node:child_process"
import { existsSync, readdirSync, statSync } from "node:fs"
import { fileURLToPath } from "node:url"

const root = fileURLToPath(new URL("..", import.meta.url))
const cli = `${root}dist/cli.cjs`

const newest = (dir) => {
  let latest = 0
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const file = `${dir}/${entry.name}`
    latest = Math.max(latest, entry.isDirectory() ? newest(file) : statSync(file).mtimeMs)
  }
  return latest
}

if (!existsSync(cli) || (existsSync(`${root}src`) && newest(`${root}src`) > statSync(cli).mtimeMs)) {
  execFileSync(process.execPath, [`${root}scripts/build.mjs`], { stdio: "inherit", cwd: root })
}
await import(new URL("../bin/dbkit.mjs", import.meta.url).href)
