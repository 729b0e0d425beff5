/**
 * A real browser for tests: Debian's headless Chromium loading a page and handing back its DOM
 * (`--dump-dom`) or a PNG screenshot. Each run gets its own profile folder, so parallel test
 * files never share one. Tests run when the binary is installed (Debian's `chromium` package);
 * with CI=true a missing binary fails the file.
 */
import { execFile } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { findBinary } from "./binaries.js"

/** The chromium binary, or undefined; throws under CI=true when there is none. */
export const chromiumBinary = (): string | undefined =>
  findBinary("chromium", ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"], "chromium")

/** Generous: a cold Chromium start on a loaded 2-core machine takes seconds. */
const TIMEOUT_MS = 90_000

const run = (binary: string, args: ReadonlyArray<string>): Promise<string> => {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), "dbkit-chromium-"))
  return new Promise<string>((resolve, reject) => {
    execFile(
      binary,
      [
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--disable-extensions",
        `--user-data-dir=${profile}`,
        ...args
      ],
      { timeout: TIMEOUT_MS, maxBuffer: 64 * 1024 * 1024, encoding: "utf8" },
      (error, stdout, stderr) => {
        fs.rmSync(profile, { recursive: true, force: true })
        if (error) reject(new Error(`chromium ${args.join(" ")} failed: ${error.message}\n${stderr.slice(-2000)}`))
        else resolve(stdout)
      }
    )
  })
}

/** The page's DOM after it loaded, serialised by the browser. */
export const dumpDom = (binary: string, url: string): Promise<string> => run(binary, ["--dump-dom", url])

/** A PNG of the page at 1280×900 in `file`. */
export const screenshot = async (binary: string, url: string, file: string): Promise<void> => {
  await run(binary, [`--screenshot=${file}`, "--window-size=1280,900", "--hide-scrollbars", url])
}

/** The first bytes of every PNG file. */
export const isPng = (file: string): boolean => {
  const head = fs.readFileSync(file).subarray(0, 8)
  return head.equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))
}
