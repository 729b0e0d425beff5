/**
 * The one home of what dbkit records about a stanza: its physical manifests and its ledger of
 * restore points (`<stanza>.restore-points.json`), in the project's backup folder. A stanza
 * belongs to the database, not to one deploy: an environment's safety-backup folder
 * (`<backupDir>/<environment>`, the folder a deploy's Backup writes into) maps to the folder it
 * sits in, so `pitr point`, a deploy's point, `backup --physical`, health and `restore --to-name`
 * all read and write the same files. Readers of the ledger also take the points an earlier dbkit
 * left in those environment folders.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { environments } from "../../Config.js"
import { makeDirectories } from "../../Directories.js"
import { writeDurably } from "../durable.js"

/** Where a stanza's records live, given the backup folder a caller was configured with and its environment. */
export const physicalHome = (backupDir: string, environment: string): string => {
  const dir = path.resolve(backupDir)
  return path.basename(dir) === environment ? path.dirname(dir) : dir
}

/** A restore point dbkit created: its name, WAL position and time. */
export interface RestorePoint {
  readonly name: string
  readonly lsn: string
  readonly createdAt: string
}

/** The ledger of restore points dbkit made for a stanza. */
export const ledgerFile = (home: string, stanza: string) => path.join(home, `${stanza}.restore-points.json`)

const readOne = (file: string): ReadonlyArray<RestorePoint> => {
  try {
    const parsed = JSON.parse(fs.readFileSync(file, "utf8")) as unknown
    return Array.isArray(parsed) ? parsed as ReadonlyArray<RestorePoint> : []
  } catch {
    return []
  }
}

/** The stanza's points, oldest first: the home's ledger and those left in its environment folders. */
export const readLedger = (home: string, stanza: string): ReadonlyArray<RestorePoint> =>
  [ledgerFile(home, stanza), ...environments.map((env) => ledgerFile(path.join(home, env), stanza))]
    .flatMap(readOne)
    .sort((a, b) => a.createdAt.localeCompare(b.createdAt))

/** Appends a point to the home's ledger (0600, written durably). */
export const recordPoint = (home: string, stanza: string, point: RestorePoint): void => {
  makeDirectories(home)
  writeDurably(ledgerFile(home, stanza), JSON.stringify([...readOne(ledgerFile(home, stanza)), point], null, 2) + "\n")
}
