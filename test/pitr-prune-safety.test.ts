// What physical prune and the pgBackRest settings refuse: a path that would put shell text into
// archive_command, deleting dbkit's manifests when the repository cannot be read (pgBackRest's
// `info` exits 0 with no backups for a missing repository), and one environment's records
// touched by another's prune when both name their stanza alike. Needs pgbackrest, no cluster.
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as fs from "node:fs"
import * as path from "node:path"
import { type PhysicalManifest, verify } from "../src/backup/physical/backup.js"
import * as Manifests from "../src/backup/physical/manifests.js"
import { prune } from "../src/backup/physical/prune.js"
import { check, type PitrSettings } from "../src/backup/physical/settings.js"
import { pitrTools } from "./support/cluster.js"
import { tempDir } from "./support/databases.js"

const tools = pitrTools()

const settings = (overrides: Partial<PitrSettings> = {}): PitrSettings => ({
  stanza: "main",
  configFile: undefined,
  repoPath: undefined,
  runAs: undefined,
  binDir: undefined,
  cipherPass: undefined,
  ...overrides
})

const manifest = (label: string, environment: string): PhysicalManifest => ({
  kind: "physical",
  tool: { name: "pgbackrest", version: "2.x" },
  createdAt: "2026-12-01T03:00:00.000Z",
  database: "app",
  target: "app@db:5432/app",
  environment,
  stanza: "main",
  type: "full",
  label,
  prior: null,
  start: { lsn: "0/2000028", time: "2026-12-01T03:00:00.000Z", wal: null },
  stop: { lsn: "0/2000100", time: "2026-12-01T03:00:05.000Z", wal: null },
  sizes: { database: 1, delta: 1, repository: 1, repositoryDelta: 1 },
  repository: { configFile: null, path: null },
  encryption: null,
  checksumErrors: false
})

const writeManifests = (home: string, entries: ReadonlyArray<PhysicalManifest>) => {
  fs.mkdirSync(home, { recursive: true })
  for (const m of entries) fs.writeFileSync(path.join(home, Manifests.fileName(m.stanza, m.label)), JSON.stringify(m))
}

describe("pgBackRest settings", () => {
  it.effect("refuse a path that a shell would read as more than a path", () =>
    Effect.gen(function*() {
      for (const bad of ["/etc/pgbackrest.conf;touch /tmp/pwned #", "/srv/my repo", "/srv/$(id)", "/srv/a%p"]) {
        const exit = yield* Effect.exit(check(settings({ configFile: bad })))
        expect(Exit.isFailure(exit), bad).toBe(true)
      }
      expect(yield* check(settings({ repoPath: "/var/lib/pgbackrest-2/repo_1.main" }))).toMatchObject({
        repoPath: "/var/lib/pgbackrest-2/repo_1.main"
      })
    }))
})

describe("physical manifests by environment", () => {
  it.effect("a stanza named alike in two environments lists each one's own records", () =>
    Effect.gen(function*() {
      const home = tempDir("dbkit-manifests-")
      writeManifests(home, [manifest("20261201-030000F", "staging"), manifest("20261202-030000F", "production")])
      expect((yield* Manifests.list(home, "main", "staging")).map((m) => m.label)).toEqual(["20261201-030000F"])
      expect((yield* Manifests.list(home, "main", "production")).map((m) => m.label)).toEqual(["20261202-030000F"])
      expect(yield* Manifests.list(home, "main")).toHaveLength(2)
    }))
})

describe.skipIf("skip" in tools)("physical prune on a repository it cannot read", () => {
  it.effect("fails and deletes no manifest (info's status says the stanza is missing)", () =>
    Effect.gen(function*() {
      const dir = tempDir("dbkit-prune-missing-")
      const home = path.join(dir, "backups")
      writeManifests(home, [manifest("20261201-030000F", "production")])
      const config = path.join(dir, "pgbackrest.conf")
      fs.writeFileSync(config, `[global]\nrepo1-path=${path.join(dir, "no-such-repo")}\nlog-level-file=off\n`)
      const exit = yield* Effect.exit(
        prune(settings({ configFile: config }), home, { keepLast: 1, environment: "production" })
      )
      expect(Exit.isFailure(exit)).toBe(true)
      expect(String(Exit.isFailure(exit) ? exit.cause : "")).toContain("cannot be read")
      expect(fs.readdirSync(home)).toEqual([Manifests.fileName("main", "20261201-030000F")])
    }))

  it.effect("verify says the repository cannot be read (a tool failure), not that it failed verification", () =>
    Effect.gen(function*() {
      const dir = tempDir("dbkit-verify-missing-")
      const config = path.join(dir, "pgbackrest.conf")
      fs.writeFileSync(config, `[global]\nrepo1-path=${path.join(dir, "no-such-repo")}\nlog-level-file=off\n`)
      const missingRepo = yield* Effect.flip(verify(settings({ configFile: config })))
      expect(missingRepo._tag).toBe("PgToolFailed")
      expect(missingRepo.message).toContain("cannot be read")
      const missingConfig = yield* Effect.flip(verify(settings({ configFile: path.join(dir, "absent.conf") })))
      expect(missingConfig._tag).toBe("PgToolFailed")
      expect(missingConfig.message).toContain("absent.conf")
    }))
})
