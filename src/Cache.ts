/**
 * The application's cache in Redis, for `reset --with-cache`: deletes the keys under a prefix
 * with SCAN + UNLINK (never FLUSHALL/FLUSHDB: the Redis may hold other applications' keys), so
 * no cached row outlives the data it came from.
 */
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import type { RedisOptions } from "ioredis"
import * as Redact from "./Redact.js"

/**
 * A Redis client, with ioredis loaded on first use: most commands never touch Redis, and the
 * CLI is one bundle whose modules would otherwise all be evaluated at start.
 */
export const makeRedis = (url: Redacted.Redacted<string>, options: RedisOptions) =>
  Effect.promise(() => import("ioredis")).pipe(Effect.map(({ Redis }) => new Redis(Redacted.value(url), options)))

/** Redis could not be reached or refused the commands. */
export class CacheUnavailable
  extends Data.TaggedError("CacheUnavailable")<{ readonly target: string; readonly reason: string }>
{
  override get message() {
    return `cannot clear the cache at ${this.target}: ${this.reason}`
  }
}

/** `host:port/db` of a Redis URL, without the password. */
export const describeRedisUrl = (url: Redacted.Redacted<string>) => {
  const parsed = new URL(Redacted.value(url))
  return `${parsed.hostname}:${parsed.port || "6379"}${
    parsed.pathname && parsed.pathname !== "/" ? parsed.pathname : ""
  }`
}

/** SCAN's MATCH treats * ? [ ] \ specially; the prefix is literal. */
const escapeGlob = (text: string) => text.replace(/[*?[\]\\]/g, (c) => `\\${c}`)

/** The URL's `host:port/db`, or CacheUnavailable when it is not a URL. */
const targetOf = (url: Redacted.Redacted<string>) =>
  Effect.try({
    try: () => describeRedisUrl(url),
    catch: () => new CacheUnavailable({ target: "REDIS_URL", reason: "it is not a valid redis:// URL" })
  })

/** The prefix must not be empty: an empty one would match every key. */
const checkPrefix = (target: string, prefix: string) =>
  prefix === ""
    ? Effect.fail(
      new CacheUnavailable({ target, reason: "the cache key prefix is empty; refusing to delete every key" })
    )
    : Effect.void

/**
 * Runs `use` on a connected client; any failure is one CacheUnavailable line (the password
 * scrubbed). The client's own error events are kept, not printed: ioredis would otherwise print
 * an "Unhandled error event" with a stack trace.
 */
const withRedis = <A>(url: Redacted.Redacted<string>, use: (redis: import("ioredis").Redis) => Promise<A>) =>
  Effect.flatMap(targetOf(url), (target) =>
    Effect.acquireUseRelease(
      makeRedis(url, {
        lazyConnect: true,
        connectTimeout: 3000,
        maxRetriesPerRequest: 1,
        enableOfflineQueue: false,
        retryStrategy: () => null
      }),
      (redis) => {
        // "Connection is closed." says less than the socket's own error (ECONNREFUSED …): keep that.
        let socketError: unknown
        redis.on("error", (error) => void (socketError ??= error))
        return Effect.tryPromise({
          try: async () => {
            await redis.connect()
            return await use(redis)
          },
          catch: (failure) => {
            const cause = failure instanceof Error && /Connection is closed/.test(failure.message) && socketError
              ? socketError
              : failure
            const text = cause instanceof Error ? cause.message : String(cause)
            return new CacheUnavailable({ target, reason: Redact.scrubUrl(text, url) })
          }
        })
      },
      (redis) => Effect.sync(() => redis.disconnect())
    ))

/** Checks, changing nothing, that the cache can be cleared: the prefix is not empty and Redis answers PING. */
export const checkCache = (url: Redacted.Redacted<string>, prefix: string): Effect.Effect<void, CacheUnavailable> =>
  Effect.flatMap(
    targetOf(url),
    (target) => Effect.zipRight(checkPrefix(target, prefix), withRedis(url, (redis) => redis.ping()))
  )

/** Deletes every key starting with `prefix`; returns how many. The prefix must not be empty. */
export const flushPrefix = (url: Redacted.Redacted<string>, prefix: string): Effect.Effect<number, CacheUnavailable> =>
  Effect.zipRight(
    Effect.flatMap(targetOf(url), (target) => checkPrefix(target, prefix)),
    withRedis(url, async (redis) => {
      let deleted = 0
      let cursor = "0"
      do {
        const [next, keys] = await redis.scan(cursor, "MATCH", `${escapeGlob(prefix)}*`, "COUNT", 500)
        cursor = next
        if (keys.length > 0) deleted += await redis.unlink(...keys)
      } while (cursor !== "0")
      return deleted
    })
  )
