// Probes for rows/05-backup-restore.mjs (untimed analysis, not table rows): dbkit's in-process backup and restore
// work without its CLI, database or pg tools, re-done here with the same Node primitives and parameters as
// src/backup (zlib gzip, AES-256-GCM with an scrypt key N=2^15 r=8 in 64 KiB sealed chunks — encryption format 2,
// or format 1's single tag when reading older files —, sha256), so the row can tell which part of a
// dbkit run costs what. Prints one JSON object on stdout.
//
//   node backup-probe.mjs pipeline DUMP LEVEL      DUMP (plain SQL) → gzip LEVEL → AES-256-GCM → sha256 → discard
//                                                  (what dbkit's backup does with pg_dump's bytes)
//   node backup-probe.mjs gzip DUMP LEVEL          DUMP → gzip LEVEL → discard (Node's zlib alone)
//   node backup-probe.mjs verify FILE              a dbkit .sql.gz.enc file (DB_BACKUP_KEY): one sha256 pass, then one
//                                                  decrypt → gunzip pass to a discarding sink (what `verify` reads)
//   node backup-probe.mjs load FILE                a dbkit .sql.gz.enc file (DB_BACKUP_KEY) into the database PG* name:
//                                                  one scrypt, then file → decrypt → gunzip → psql -X -q -v
//                                                  ON_ERROR_STOP=1 --single-transaction -f - with Node's
//                                                  stream.pipeline (backpressure honoured): dbkit's load step as it
//                                                  could be, without the verify pass, CREATE DATABASE or the counts
//   node backup-probe.mjs backpressure MB          MB of bytes piped into a child that reads nothing for 2 s and then
//                                                  discards, twice: through Node's stream.pipeline into child.stdin
//                                                  and through @effect/platform's Command stdin Sink (as
//                                                  src/backup/load.ts feeds psql); reports how many KB the producer
//                                                  had been drained of after 1.5 s (i.e. what sits in memory)
import { spawn } from "node:child_process"
import { createCipheriv, createDecipheriv, createHash, randomBytes, scryptSync } from "node:crypto"
import { closeSync, createReadStream, openSync, readSync, statSync } from "node:fs"
import { Readable, Writable } from "node:stream"
import { pipeline } from "node:stream/promises"
import { createGunzip, createGzip } from "node:zlib"

const [mode, file, arg] = process.argv.slice(2)
const key = process.env.DB_BACKUP_KEY ?? "bench"
const derive = (salt) => scryptSync(key, salt, 32, { N: 1 << 15, r: 8, p: 1, maxmem: 64 * 1024 * 1024 })

const sink = (onChunk = () => {}) =>
  new Writable({
    write(chunk, _enc, cb) {
      onChunk(chunk)
      cb()
    }
  })

const out = (o) => process.stdout.write(`${JSON.stringify(o)}\n`)

const { Transform } = await import("node:stream")
const CHUNK = 64 * 1024
const TAG = 16

/** Cuts a stream into `size`-byte pieces for `piece(bytes, last)` (a full piece waits for a byte more), as src/backup/crypto.ts. */
const chunked = (size, piece, preamble) => {
  let pending = Buffer.alloc(0)
  let started = preamble === undefined
  return new Transform({
    transform(chunk, _e, cb) {
      if (!started) this.push(preamble)
      started = true
      pending = pending.length ? Buffer.concat([pending, chunk]) : chunk
      let at = 0
      while (pending.length - at > size) {
        this.push(piece(pending.subarray(at, at + size), false))
        at += size
      }
      pending = pending.subarray(at)
      cb()
    },
    flush(cb) {
      if (!started) this.push(preamble)
      cb(null, piece(pending, true))
    }
  })
}
const nonceOf = (prefix, i, last) => {
  const n = Buffer.alloc(12)
  prefix.copy(n)
  n.writeUInt32BE(i, 7)
  n[11] = last ? 1 : 0
  return n
}
/** Format 2 encryption of a stream under `k`: header, then sealed 64 KiB chunks. */
const encrypting = (k) => {
  const header = Buffer.concat([Buffer.from("DBKITENC"), Buffer.from([2]), randomBytes(16), randomBytes(7)])
  let i = 0
  return chunked(CHUNK, (plain, last) => {
    const c = createCipheriv("aes-256-gcm", k, nonceOf(header.subarray(25, 32), i++, last))
    c.setAAD(header)
    return Buffer.concat([c.update(plain), c.final(), c.getAuthTag()])
  }, header)
}
/** A dbkit-encrypted file's bytes, decrypted: [read stream, decrypt transform] and the scrypt time. */
const decrypting = (file) => {
  const size = statSync(file).size
  const fd = openSync(file, "r")
  const head = Buffer.alloc(37)
  const tail = Buffer.alloc(TAG)
  readSync(fd, head, 0, 37, 0)
  readSync(fd, tail, 0, TAG, size - TAG)
  closeSync(fd)
  if (head.subarray(0, 8).toString() !== "DBKITENC") throw new Error(`${file} is not a dbkit-encrypted file`)
  const t0 = performance.now()
  const k = derive(head.subarray(9, 25))
  const scryptMs = performance.now() - t0
  if (head[8] === 1) {
    const decipher = createDecipheriv("aes-256-gcm", k, head.subarray(25, 37))
    decipher.setAuthTag(tail)
    const transform = new Transform({
      transform: (chunk, _e, cb) => cb(null, decipher.update(chunk)),
      flush: (cb) => cb(null, decipher.final())
    })
    return { stages: [createReadStream(file, { start: 37, end: size - TAG - 1 }), transform], scryptMs }
  }
  const header = head.subarray(0, 32)
  let i = 0
  const transform = chunked(CHUNK + TAG, (sealed, last) => {
    const d = createDecipheriv("aes-256-gcm", k, nonceOf(header.subarray(25, 32), i++, last))
    d.setAAD(header)
    d.setAuthTag(sealed.subarray(sealed.length - TAG))
    return Buffer.concat([d.update(sealed.subarray(0, sealed.length - TAG)), d.final()])
  })
  return { stages: [createReadStream(file, { start: 32, highWaterMark: 256 * 1024 }), transform], scryptMs }
}

if (mode === "pipeline" || mode === "gzip") {
  const level = Number(arg ?? 6)
  const t0 = performance.now()
  let bytesIn = 0
  let bytesOut = 0
  const hash = createHash("sha256")
  const stages = [createReadStream(file), createGzip({ level })]
  let scryptMs = 0
  if (mode === "pipeline") {
    const s0 = performance.now()
    const k = derive(randomBytes(16))
    scryptMs = performance.now() - s0
    stages.push(encrypting(k))
  }
  stages[0].on("data", (c) => (bytesIn += c.length))
  await pipeline(
    ...stages,
    sink((c) => {
      bytesOut += c.length
      if (mode === "pipeline") hash.update(c)
    })
  )
  hash.digest("hex")
  out({ mode, ms: performance.now() - t0, scryptMs, bytesIn, bytesOut, rssKb: Math.round(process.resourceUsage().maxRSS) })
} else if (mode === "verify") {
  const t0 = performance.now()
  const hash = createHash("sha256")
  for await (const c of createReadStream(file)) hash.update(c)
  hash.digest("hex")
  const shaMs = performance.now() - t0
  const t1 = performance.now()
  const { scryptMs, stages } = decrypting(file)
  let dumpBytes = 0
  await pipeline(...stages, createGunzip(), sink((c) => (dumpBytes += c.length)))
  const decryptGunzipMs = performance.now() - t1
  out({ mode, shaMs, scryptMs, decryptGunzipMs, dumpBytes, ms: performance.now() - t0 })
} else if (mode === "load") {
  const t0 = performance.now()
  const { scryptMs, stages } = decrypting(file)
  const psql = spawn("psql", ["-X", "-q", "-v", "ON_ERROR_STOP=1", "--single-transaction", "-f", "-"], {
    stdio: ["pipe", "ignore", "inherit"]
  })
  const exited = new Promise((resolve) => psql.on("close", resolve))
  await pipeline(...stages, createGunzip(), psql.stdin)
  const code = await exited
  if (code !== 0) throw new Error(`psql exited with ${code}`)
  out({ mode, ms: performance.now() - t0, scryptMs, rssKb: Math.round(process.resourceUsage().maxRSS) })
} else if (mode === "backpressure") {
  // How far the producer runs ahead of a consumer that reads nothing yet: with backpressure only the pipe's and
  // the streams' buffers (well under 1 MB); without it, everything is read into memory at once.
  const mb = Number(file ?? 64)
  const chunk = Buffer.alloc(64 * 1024, 120)
  let produced = 0
  const source = () => {
    produced = 0
    return Readable.from(
      (function* () {
        for (let i = 0; i < (mb * 1024 * 1024) / chunk.length; i++) {
          produced += chunk.length
          yield Buffer.from(chunk)
        }
      })(),
      { objectMode: false }
    )
  }
  const slow = ["-c", "sleep 2; cat > /dev/null"]
  const aheadAt = (ms) => new Promise((r) => setTimeout(() => r(Math.round(produced / 1024)), ms))
  // Node's own pipeline into a child's stdin.
  const child = spawn("sh", slow, { stdio: ["pipe", "ignore", "inherit"] })
  const nodeAhead = aheadAt(1500)
  await pipeline(source(), child.stdin)
  await new Promise((r) => child.on("close", r))
  const nodePipelineAheadKb = await nodeAhead
  // @effect/platform Command: Stream.run(NodeStream.fromReadable(...), process.stdin), as src/backup/load.ts does.
  const Command = await import("@effect/platform/Command")
  const NodeStream = await import("@effect/platform-node/NodeStream")
  const NodeContext = await import("@effect/platform-node/NodeContext")
  const Effect = await import("effect/Effect")
  const Stream = await import("effect/Stream")
  let effectAhead
  await Effect.runPromise(
    Effect.scoped(
      Effect.gen(function* () {
        const p = yield* Command.start(Command.make("sh", ...slow))
        const src = source()
        effectAhead = aheadAt(1500)
        yield* Stream.run(NodeStream.fromReadable(() => src, (e) => e), p.stdin)
        yield* p.exitCode
      })
    ).pipe(Effect.provide(NodeContext.layer))
  )
  out({ mode, mb, consumerIdleMs: 1500, nodePipelineAheadKb, effectCommandStdinAheadKb: await effectAhead })
} else {
  console.error("usage: backup-probe.mjs pipeline|gzip DUMP LEVEL | verify FILE | load FILE | backpressure MB")
  process.exit(2)
}
