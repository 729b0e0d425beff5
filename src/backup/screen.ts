/**
 * Reading a whole dump through dbkit's reader without running any of it: what `backups verify`
 * does, and what a restore does first for a file of unverified origin, so a hostile file is
 * refused before any database is created. A custom-format archive is read as the script
 * `pg_restore -f -` writes of it (pg_restore connects nowhere there).
 */
import * as Effect from "effect/Effect"
import type * as Redacted from "effect/Redacted"
import { type Readable, Transform } from "node:stream"
import { pipeline } from "node:stream/promises"
import { BackupUntrusted, refusedItem } from "../DumpPolicy.js"
import { type DumpItem, DumpReader } from "../embedded/PlainDump.js"
import * as PgTools from "../PgTools.js"
import { BackupCorrupt, type BackupKeyInvalid } from "./errors.js"
import * as Files from "./files.js"
import { archiveToScript, settle } from "./load.js"
import type { Manifest } from "./manifest.js"

/** Thrown inside the read to stop it at the first refused item. */
class Refused extends Error {
  constructor(readonly refusal: BackupUntrusted) {
    super(refusal.reason)
  }
}

/** Reads text chunks through the splitter and throws Refused at the first item the policy refuses. */
const screener = (file: string) => {
  const reader = new DumpReader()
  let statements = 0
  const check = (items: ReadonlyArray<DumpItem>) => {
    for (const item of items) {
      if (item._tag === "CopyData" || item._tag === "CopyEnd") continue
      if (item._tag === "Malformed") {
        throw new Refused(new BackupUntrusted({ file, line: item.line, text: item.text, reason: item.reason }))
      }
      const refused = refusedItem(item)
      if (refused !== undefined) {
        // The reader's text is latin1 (one character per byte): shown as the UTF-8 it holds.
        const text = Buffer.from(refused.text, "latin1").toString("utf8")
        throw new Refused(new BackupUntrusted({ file, line: refused.line, text, reason: refused.reason }))
      }
      if (item._tag === "Statement" || item._tag === "CopyStart") statements++
    }
  }
  return {
    // Read as the loader reads it (PlainDump.runScript): statements as latin1 text, COPY data as bytes.
    write: (chunk: Buffer) => check(reader.push(chunk)),
    end: () => {
      check(reader.end())
      return statements
    }
  }
}

/** What a screening read: the dump's bytes (decrypted and decompressed) and its statements. */
export interface Screened {
  readonly dumpBytes: number
  readonly statements: number
}

/**
 * Reads the dump in `file` whole (decrypting and decompressing it as `Files.openDump` does) and
 * runs nothing: fails with BackupUntrusted naming the first line dbkit's reader refuses, with
 * BackupCorrupt when it does not decrypt or decompress, or (custom archives) when pg_restore
 * cannot read it.
 */
export const screenDump = (
  file: string,
  manifest: Manifest,
  key: Redacted.Redacted<string> | undefined
): Effect.Effect<Screened, BackupUntrusted | BackupCorrupt | BackupKeyInvalid | PgTools.PgToolMissing> =>
  Effect.gen(function*() {
    const restore = manifest.format === "custom" ? yield* archiveToScript : undefined
    const stages = yield* Files.openDump(file, manifest, key)
    let dumpBytes = 0
    const counted = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        dumpBytes += chunk.length
        callback(null, chunk)
      }
    })
    const reader = screener(file)
    // The refusal that stopped the read (a pipeline reports its own abort, not the stage's error).
    let refused: BackupUntrusted | undefined
    const read = async (source: AsyncIterable<Buffer>) => {
      try {
        for await (const chunk of source) reader.write(chunk)
        return reader.end()
      } catch (error) {
        if (error instanceof Refused) refused = error.refusal
        throw error
      }
    }
    const failed = (cause: unknown) => refused ?? new BackupCorrupt({ file, reason: (cause as Error).message })
    if (restore === undefined) {
      const statements = yield* Effect.tryPromise({
        try: async () => {
          let statements = 0
          await pipeline(
            ...(stages as [Readable]),
            counted,
            async (source: AsyncIterable<Buffer>) => void (statements = await read(source))
          )
          return statements
        },
        catch: failed
      })
      return { dumpBytes, statements }
    }
    const fed = settle(pipeline([...(stages as Array<NodeJS.ReadWriteStream>), counted, restore.stdin]))
    const statements = yield* Effect.tryPromise({
      try: async () => {
        const statements = await read(restore.stdout)
        const feedError = await fed
        if (feedError !== undefined) throw feedError
        return statements
      },
      catch: failed
    })
    yield* Effect.mapError(
      restore.finished,
      (failure) =>
        new BackupCorrupt({
          file,
          reason: `pg_restore cannot read it: ${failure.stderr.trim().split("\n").slice(-2).join(" / ")}`
        })
    )
    return { dumpBytes, statements }
  }).pipe(Effect.scoped)
