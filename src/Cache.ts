/**
 * The application's cache in Redis, for `reset --with-cache`: deletes the keys under a prefix
 * with SCAN + UNLINK (never FLUSHALL/FLUSHDB: the Redis may hold other applications' keys), so
 * no cached row outlives the data it came from.
 */
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import type { RedisOptions } from "ioredis"

/**
 * A Redis client, with ioredis loaded on first use: most commands never touch Redis, and the
 * CLI is one bundle whose modules would otherwise all be evaluated at start.
 */
export const makeRedis = (url: Redacted.Redacted<string>, options: RedisOptions) =>
  Effect.promise(() => import("ioredis")).pipe(Effect.map(({ Redis }) => new Redis(Redacted.value(url), options)))

/** Redis could not be reached or refused the commands. */
export class CacheUnavailable extends Data.TaggedError("CacheUnavailable")<{ readonly target: string; readonly reason: string }> {
  override get message() {
    return `cannot clear the cache at ${this.target}: ${this.reason}`
  }
}

/** `host:port/db` of a Redis URL, without the password. */
export const describeRedisUrl = (url: Redacted.Redacted<string>) => {
  const parsed = new URL(Redacted.value(url))
  return `${parsed.hostname}:${parsed.port || "6379"}${parsed.pathname && parsed.pathname !== "/" ? parsed.pathname : ""}`
}

/** SCAN's MATCH treats * ? [ ] \ specially; the prefix is literal. */
const escapeGlob = (text: string) => text.replace(/[*?[\]\\]/g, (c) => `\\${c}`)

/** Deletes every key starting with `prefix`; returns how many. The prefix must not be empty. */
export const flushPrefix = (url: Redacted.Redacted<string>, prefix: string): Effect.Effect<number, CacheUnavailable> => {
  const target = describeRedisUrl(url)
  if (prefix === "") return Effect.fail(new CacheUnavailable({ target, reason: "the cache key prefix is empty; refusing to delete every key" }))
  return Effect.acquireUseRelease(
    makeRedis(url, { lazyConnect: true, connectTimeout: 3000, maxRetriesPerRequest: 1, enableOfflineQueue: false }),
    (redis) =>
      Effect.tryPromise({
        try: async () => {
          await redis.connect()
          let deleted = 0
          let cursor = "0"
          do {
            const [next, keys] = await redis.scan(cursor, "MATCH", `${escapeGlob(prefix)}*`, "COUNT", 500)
            cursor = next
            if (keys.length > 0) deleted += await redis.unlink(...keys)
          } while (cursor !== "0")
          return deleted
        },
        catch: (cause) => {
          const text = cause instanceof Error ? cause.message : String(cause)
          const password = new URL(Redacted.value(url)).password
          return new CacheUnavailable({ target, reason: password ? text.split(password).join("***") : text })
        }
      }),
    (redis) => Effect.sync(() => redis.disconnect())
  )
}
