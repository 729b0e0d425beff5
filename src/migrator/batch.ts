/**
 * How `migrate` groups pending migrations into messages (pure; Migrator sends them). A run of
 * consecutive transactional SQL migrations shares one simple-protocol message, each migration
 * still its own transaction with its own history row: the client's work per message, not the
 * server's, was most of what a run of many small migrations cost beyond applying them. The
 * first message holds one migration; later ones are sized from how long the last took, so a
 * message takes about half a second and progress still shows as it happens.
 */
import type { Migration } from "./source.js"
import { splitStatements } from "./sql.js"

/** About how long a message of several migrations should take. */
export const TARGET_MESSAGE_MS = 500

/** The most migrations one message holds. */
export const MAX_BATCH = 64

/** A message of several migrations stops growing at about this much SQL (a data migration can be large). */
export const MAX_BATCH_CHARS = 1 << 20

const sqlLength = (migration: Migration) =>
  migration.up._tag === "Sql" ? migration.up.statements.reduce((sum, statement) => sum + statement.text.length, 0) : 0

/**
 * Whether a migration can share a message: transactional SQL whose text ends outside any
 * quote, dollar quote or comment, so nothing after it in the message can be read as part of it.
 */
export const batchable = (migration: Migration): boolean => {
  if (!migration.transactional || migration.up._tag !== "Sql") return false
  const last = migration.up.statements.at(-1)
  if (last === undefined) return true
  const probe = splitStatements(`${last.text}\n;\nSELECT 1`)
  return probe.length === 2 && probe[1]!.text === "SELECT 1"
}

/**
 * The migrations from `start` for the next message: the one there, then the batchable ones
 * after it, up to `size` migrations and about MAX_BATCH_CHARS of SQL in all.
 */
export const nextBatch = (pending: ReadonlyArray<Migration>, start: number, size: number): ReadonlyArray<Migration> => {
  const first = pending[start]!
  if (size <= 1 || !batchable(first)) return [first]
  const batch = [first]
  let chars = sqlLength(first)
  for (let i = start + 1; i < pending.length && batch.length < size && batchable(pending[i]!); i++) {
    chars += sqlLength(pending[i]!)
    if (chars > MAX_BATCH_CHARS) break
    batch.push(pending[i]!)
  }
  return batch
}

/** The next message's size after `count` migrations took `elapsedMs`: growing at most fourfold. */
export const nextBatchSize = (count: number, elapsedMs: number): number =>
  Math.max(1, Math.min(MAX_BATCH, count * 4, Math.floor(TARGET_MESSAGE_MS / (Math.max(elapsedMs, 1) / count))))
