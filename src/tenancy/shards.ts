/**
 * Shards: the servers (or databases) tenants live on besides the configured one, from a JSON
 * file named by DBKIT_TENANT_SHARDS:
 *
 *   { "shards": { "eu1": { "urlEnv": "EU1_DATABASE_URL" }, "eu2": { "url": "postgres://…" } } }
 *
 * `urlEnv` keeps passwords out of the file. The shard called "default" is always the configured
 * database (DATABASE_URL or the embedded one) and cannot be redefined. The registry stays on the
 * default shard; each tenant row names the shard its data lives on.
 */
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as ParseResult from "effect/ParseResult"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as fs from "node:fs"
import { InvalidShardFile } from "./errors.js"

const ShardEntry = Schema.Union(
  Schema.Struct({ url: Schema.String }),
  Schema.Struct({ urlEnv: Schema.String })
)

const ShardFile = Schema.Struct({
  shards: Schema.Record({ key: Schema.String, value: ShardEntry })
})

export const DEFAULT_SHARD = "default"

/** Shard name → connection URL (redacted). The default shard is not in it. */
export type Shards = ReadonlyMap<string, Redacted.Redacted<string>>

const NAME = /^[a-z][a-z0-9_-]{0,62}$/

/** Reads and checks a shard file; every error names the file and the field. */
export const load = (file: string, env: NodeJS.ProcessEnv = process.env): Effect.Effect<Shards, InvalidShardFile> =>
  Effect.gen(function*() {
    const text = yield* Effect.try({
      try: () => fs.readFileSync(file, "utf8"),
      catch: (error) =>
        new InvalidShardFile({
          file,
          reason: (error as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : String(error)
        })
    })
    const json = yield* Effect.try({
      try: () => JSON.parse(text) as unknown,
      catch: () => new InvalidShardFile({ file, reason: "not valid JSON" })
    })
    const decoded = Schema.decodeUnknownEither(ShardFile)(json)
    if (Either.isLeft(decoded)) {
      return yield* new InvalidShardFile({
        file,
        reason: ParseResult.TreeFormatter.formatErrorSync(decoded.left).replace(/\s+/g, " ")
      })
    }
    return yield* fromEntries(file, decoded.right.shards, env)
  })

/**
 * Shards given as entries (a shard file's `shards`, or dbkit.config.ts `tenancy.shards`); errors
 * name `file`.
 */
export const fromEntries = (
  file: string,
  entries: Readonly<Record<string, { readonly url: string } | { readonly urlEnv: string }>>,
  env: NodeJS.ProcessEnv = process.env
): Effect.Effect<Shards, InvalidShardFile> =>
  Effect.gen(function*() {
    const shards = new Map<string, Redacted.Redacted<string>>()
    for (const [name, entry] of Object.entries(entries)) {
      if (name === DEFAULT_SHARD) {
        return yield* new InvalidShardFile({
          file,
          reason: `"default" is the configured database and cannot be redefined`
        })
      }
      if (!NAME.test(name)) {
        return yield* new InvalidShardFile({
          file,
          reason: `shard name "${name}" must be lower-case letters, digits, - and _`
        })
      }
      const url = "url" in entry ? entry.url : env[entry.urlEnv]
      if (url === undefined || url === "") {
        return yield* new InvalidShardFile({
          file,
          reason: `shard ${name}: ${"urlEnv" in entry ? `${entry.urlEnv} is not set` : "url is empty"}`
        })
      }
      if (!/^postgres(ql)?:\/\//.test(url)) {
        return yield* new InvalidShardFile({ file, reason: `shard ${name}: not a postgres:// URL` })
      }
      shards.set(name, Redacted.make(url))
    }
    return shards
  })
