// One advisory lock for every capability: a seeding run and a tenant's provisioning wait for
// another process holding their lock, up to a deadline, then fail with LockTimeout naming the
// holder (exit 6) and change nothing; once the holder lets go they run. On a real server, with
// the other process played by a plain pg connection holding the same key.
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as SqlClient from "@effect/sql/SqlClient"
import { describe, expect, it, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import pg from "pg"
import * as AdvisoryLock from "../src/AdvisoryLock.js"
import { ExitCode, exitCodeOfTag } from "../src/cli/exitCodes.js"
import * as Config from "../src/Config.js"
import { layer as seederLayer, make, Seeder } from "../src/seeder/Seeder.js"
import * as Tenancy from "../src/tenancy/Tenancy.js"
import { ScratchDatabase, serverAvailable, ServerLive, tempDir } from "./support/databases.js"

const server = await serverAvailable()

/** Another process: a connection to the same database holding `name`'s lock until released. */
const holdElsewhere = (url: Redacted.Redacted<string>, name: string) =>
  Effect.acquireRelease(
    Effect.promise(async () => {
      const client = new pg.Client({ connectionString: Redacted.value(url), application_name: "other-deployer" })
      await client.connect()
      await client.query("SELECT pg_advisory_lock($1::bigint)", [AdvisoryLock.keyOf(name)])
      const [row] = (await client.query("SELECT pg_backend_pid() AS pid")).rows
      return { client, pid: Number(row.pid) }
    }),
    ({ client }) => Effect.promise(() => client.end())
  )

const seeds = [
  make({
    name: "colours",
    profile: "reference",
    run: () =>
      Effect.flatMap(SqlClient.SqlClient, (sql) => sql`CREATE TABLE IF NOT EXISTS lock_colours (name text PRIMARY KEY)`)
  })
]

describe.skipIf(!server)("advisory locks on the server", () => {
  layer(ServerLive, { excludeTestServices: true })("a held lock", (it) => {
    it.scoped("a seeding run waits for another one, then fails with LockTimeout naming it (exit 6) and changes nothing; free, it runs", () =>
      Effect.gen(function*() {
        const { url } = yield* ScratchDatabase
        const sql = yield* SqlClient.SqlClient
        const seeder = Effect.flatMap(Seeder, (s) => s.run({ lockWait: "1 second" })).pipe(
          Effect.provide(seederLayer({ seeds }).pipe(Layer.provide(Config.layerFrom({ environment: "development" }))))
        )
        const blocked = yield* Effect.scoped(
          Effect.flatMap(
            holdElsewhere(url, "dbkit:seeds"),
            (other) => Effect.map(Effect.either(seeder), (result) => ({ result, other }))
          )
        )
        expect(Either.isLeft(blocked.result)).toBe(true)
        const error = Either.getLeft(blocked.result).pipe((o) => o._tag === "Some" ? o.value : undefined)
        expect(error?._tag).toBe("LockTimeout")
        expect(error).toMatchObject({
          what: "seeding run",
          holder: { pid: blocked.other.pid, applicationName: "other-deployer" }
        })
        expect(error?.message).toMatch(
          new RegExp(
            `another seeding run is running \\(server process ${blocked.other.pid}, other-deployer, connected since .*\\); waited 1 s`
          )
        )
        expect(exitCodeOfTag(error?._tag)).toBe(ExitCode.lockTimeout)
        const [table] = yield* sql<{ t: string | null }>`SELECT to_regclass('lock_colours')::text AS t`
        expect(table!.t).toBeNull() // nothing ran
        const results = yield* seeder
        expect(results.map((r) => `${r.seed} ${r.status}`)).toEqual(["colours ran"])
      }))

    it.scoped("provisioning a tenant waits for another provisioner of the same slug, then fails with LockTimeout; other slugs are not held up", () =>
      Effect.gen(function*() {
        const { url } = yield* ScratchDatabase
        const tenancy = <A, E>(f: (t: Tenancy.Tenancy["Type"]) => Effect.Effect<A, E>) =>
          Effect.flatMap(Tenancy.Tenancy, f).pipe(
            Effect.provide(
              Tenancy.layer({ strategy: "rls" }).pipe(
                Layer.provide(
                  Layer.merge(
                    Config.layerFrom({ environment: "development", backupDir: tempDir("dbkit-locks-") }),
                    NodeContext.layer
                  )
                )
              )
            )
          )
        const outcome = yield* Effect.scoped(
          Effect.flatMap(holdElsewhere(url, "dbkit:tenant:acme"), (other) =>
            Effect.all({
              held: Effect.either(tenancy((t) => t.provision("acme", { lockWait: "1 second" }))),
              free: tenancy((t) => t.provision("globex", { lockWait: "1 second" })),
              other: Effect.succeed(other)
            }))
        )
        const error = Either.isLeft(outcome.held) ? outcome.held.left : undefined
        expect(error).toMatchObject({
          _tag: "LockTimeout",
          what: "provisioning of tenant acme",
          holder: { pid: outcome.other.pid }
        })
        expect(outcome.free.created).toBe(true)
        const listed = yield* tenancy((t) => t.list)
        expect(listed.map((t) => t.slug)).toEqual(["globex"]) // the refused one left nothing
        expect((yield* tenancy((t) => t.provision("acme", { lockWait: "1 second" }))).created).toBe(true)
      }))
  })
})
