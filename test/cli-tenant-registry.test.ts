// One registry as a user meets it on the command line (the example project: rls, organizations as the tenant table):
// `dbkit seed` makes tenants that `tenant list`, `audit report --tenant` and `db validate --tenant` all find;
// `seed --tenant <uuid>` adds no organization; `tenant provision` takes a slug with -, a domain, a plan and metadata,
// and refuses bad metadata (exit 2); a deprovision another tenant's rows block exits 22 and leaves no file.
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as fs from "node:fs"
import { runCli } from "./support/cli.js"
import { createScratchDatabase, dropScratchDatabase, queryAt, serverAvailable, tempDir } from "./support/databases.js"

const server = await serverAvailable()

describe.skipIf(!server)("dbkit seed and dbkit tenant share one registry", () => {
  it.effect(
    "seeded organizations are tenants everywhere; provision with - and attributes; a blocked deprovision exits 22 with no file",
    () =>
      Effect.gen(function*() {
        const db = yield* Effect.acquireRelease(
          Effect.promise(() => createScratchDatabase("dbkit_cli_registry")),
          ({ name }) => Effect.promise(() => dropScratchDatabase(name))
        )
        const env = { DATABASE_URL: db.url }
        const cli = (args: Array<string>) => Effect.promise(() => runCli(args, env))
        const query = <A>(text: string) => Effect.promise(() => queryAt<A>(db.url, text))
        expect((yield* cli(["migrate"])).code).toBe(0)
        expect((yield* cli(["seed"])).code).toBe(0)
        const organizations = yield* query<{ id: string; slug: string }>(
          `SELECT id::text AS id, slug FROM organizations ORDER BY slug COLLATE "C"`
        )
        const listed = yield* cli(["tenant", "list", "--json"])
        expect(listed.code).toBe(0)
        const tenants = JSON.parse(listed.stdout) as Array<{ id: string; slug: string }>
        expect(tenants.map((t) => ({ id: t.id, slug: t.slug }))).toEqual(organizations)
        const first = organizations[0]!
        const audit = yield* cli(["audit", "report", "--tenant", first.slug, "--json"])
        expect(audit.code, audit.stderr).toBe(0)
        expect(JSON.parse(audit.stdout).tenant).toEqual({ id: first.id, slug: first.slug })
        const validate = yield* cli(["db", "validate", "--tenant", first.slug, "--json"])
        expect([0, 15]).toContain(validate.code)
        // --tenant by id: that organization's data, no organization named after the uuid.
        expect((yield* cli(["seed", "--tenant", first.id])).code).toBe(0)
        expect(yield* query(`SELECT count(*)::int AS n FROM organizations`)).toEqual([{ n: organizations.length }])

        const made = yield* cli([
          "tenant",
          "provision",
          "fortium-demo",
          "--domain",
          "Demo.Fortium.Example",
          "--plan",
          "pro",
          "--metadata",
          "{\"region\":\"eu\"}",
          "--json"
        ])
        expect(made.code, made.stderr).toBe(0)
        expect(JSON.parse(made.stdout).tenant).toMatchObject({
          slug: "fortium-demo",
          domain: "demo.fortium.example",
          plan: "pro",
          metadata: { region: "eu" }
        })
        const count = `SELECT count(*)::int AS n FROM dbkit.tenants`
        const before = yield* query(count)
        const bad = yield* cli(["tenant", "provision", "initech", "--metadata", "[1,2]"])
        expect(bad.code).toBe(2)
        expect(bad.stderr).toContain("metadata \"[1,2]\" refused: it must be a JSON object")
        expect(yield* query(count)).toEqual(before)

        // Another tenant's row references fortium-demo's organization row: the delete is refused, typed.
        yield* query(`CREATE TABLE partner_links (id serial PRIMARY KEY, tenant_id uuid NOT NULL,
                      partner_id uuid NOT NULL REFERENCES organizations (id))`)
        yield* query(`INSERT INTO partner_links (tenant_id, partner_id)
                    SELECT '${first.id}', id FROM organizations WHERE slug = 'fortium-demo'`)
        const out = tempDir("dbkit-cli-deprovision-")
        const blocked = yield* Effect.promise(() =>
          runCli(["tenant", "deprovision", "fortium-demo", "--yes", "--out", out], env)
        )
        expect(blocked.code, blocked.stderr).toBe(22)
        expect(blocked.stderr).toContain("cannot deprovision tenant fortium-demo")
        expect(fs.readdirSync(out)).toEqual([])
        expect(yield* query(`SELECT count(*)::int AS n FROM dbkit.tenants WHERE slug = 'fortium-demo'`)).toEqual([{
          n: 1
        }])
      }).pipe(Effect.scoped),
    { timeout: 400_000 }
  )
})
