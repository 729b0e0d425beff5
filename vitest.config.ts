import { fileURLToPath } from "node:url"
import { defineConfig } from "vitest/config"
import LongestFirst from "./test/support/sequencer.js"

export default defineConfig({
  // The example project (src/example) imports dbkit by its package name, as a user's project does.
  resolve: { alias: [{ find: /^dbkit$/, replacement: fileURLToPath(new URL("./src/index.ts", import.meta.url)) }] },
  test: {
    include: ["test/**/*.test.ts"],
    globalSetup: ["test/support/global-setup.ts"],
    reporters: ["default", "./test/support/summary-reporter.ts"],
    // Two cores: two test files at a time, each with its own scratch database / PGlite.
    pool: "forks",
    // --liftoff-only: PGlite's WebAssembly stays on V8's baseline compiler. Optimising its big
    // functions costs more CPU than a test's few seconds of queries win back (about half the time
    // of a clone, migrate and 20k inserts); the same flag is on every dbkit process the tests start.
    poolOptions: { forks: { maxForks: 2, minForks: 1, execArgv: ["--liftoff-only"] } },
    fileParallelism: true,
    // The longest files start first, so both forks end at about the same time.
    sequence: { sequencer: LongestFirst },
    // Limits for a hung test, not for a slow one: a machine busy with other work runs this suite
    // three to five times slower than a quiet one, and that must not fail it.
    testTimeout: 180_000,
    hookTimeout: 300_000
  }
})
