#!/usr/bin/env node
// The dbkit command: runs the bundled CLI built on install (`pnpm build` rebuilds it).
import { existsSync } from "node:fs"
import { fileURLToPath } from "node:url"

const cli = new URL("../dist/cli.mjs", import.meta.url)
if (!existsSync(fileURLToPath(cli))) {
  console.error("dbkit: dist/cli.mjs is missing; run `pnpm build` (it runs on `pnpm install`)")
  process.exit(1)
}
await import(cli.href)
