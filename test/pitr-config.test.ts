// An environment's pgBackRest settings in dbkit.config.ts (`environments.<env>.pitr`): the
// selected environment's block stands for the DBKIT_PGBACKREST_* variables a shell leaves unset,
// is checked like them (a bad one names the field, exit 2), and names the cipher pass's variable,
// never the key. On a private cluster (test/support/cluster.ts) with no DBKIT_PGBACKREST_* in
// sight: setup, backups, `backups list` with both kinds, and `backups prune` through
// `pgbackrest expire`, guarded in production and dry-run first.
import * as NodeContext from "@effect/platform-node/NodeContext"
import { describe, expect, it } from "@effect/vitest"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as fs from "node:fs"
import * as path from "node:path"
import { Backup } from "../src/backup/Backup.js"
import { ledgerFile, physicalHome, readLedger, recordPoint } from "../src/backup/physical/home.js"
import { plan } from "../src/backup/physical/prune.js"
import type { BackrestBackup } from "../src/backup/physical/run.js"
import * as Settings from "../src/backup/physical/settings.js"
import { applyProjectConfig } from "../src/cli/projectConfig.js"
import * as Config from "../src/Config.js"
import { PgLive } from "../src/Database.js"
import { runCli } from "./support/cli.js"
import { pitrTools, startCluster, withClusterEnv } from "./support/cluster.js"
import { queryAt, tempDir } from "./support/databases.js"

const tools = pitrTools()

const configFile = (environments: string) =>
  `import { defineConfig } from "dbkit"\n\nexport default defineConfig({\n  environments: ${environments}\n})\n`

/** A project folder holding only dbkit.config.ts. */
const project = (environments: string) => {
  const dir = tempDir("dbkit-pitr-config-")
  fs.writeFileSync(path.join(dir, "dbkit.config.ts"), configFile(environments))
  return dir
}

/** applyProjectConfig in `dir` with `env` as the process's variables (the object it fills). */
const apply = (dir: string, env: NodeJS.ProcessEnv, argv = ["node", "dbkit", "backups", "list"]) => {
  const cwd = process.cwd()
  process.chdir(dir)
  return Effect.ensuring(applyProjectConfig(argv, env), Effect.sync(() => process.chdir(cwd)))
}

const fromMap = (env: NodeJS.ProcessEnv) =>
  Effect.withConfigProvider(
    ConfigProvider.fromMap(new Map(Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined)))
  )

describe("environments.<env>.pitr in dbkit.config.ts", () => {
  const staging = `{
    staging: {
      urlEnv: "STAGING_URL",
      pitr: { stanza: "app_staging", configFile: "ops/pgbackrest.conf", repoPath: "/srv/repo", user: "postgres", cipherPassEnv: "STAGING_BACKREST_KEY" }
    },
    production: { pitr: { stanza: "app_production" } }
  }`

  it.effect("the selected environment's block fills the unset variables; relative paths are from the config's folder; a set variable wins", () =>
    Effect.gen(function*() {
      const dir = project(staging)
      const env: NodeJS.ProcessEnv = { DB_ENV: "staging", DBKIT_PGBACKREST_REPO_PATH: "/elsewhere/repo" }
      yield* apply(dir, env)
      expect(env).toMatchObject({
        DBKIT_PGBACKREST_STANZA: "app_staging",
        DBKIT_PGBACKREST_CONFIG: path.join(fs.realpathSync(dir), "ops", "pgbackrest.conf"),
        DBKIT_PGBACKREST_REPO_PATH: "/elsewhere/repo",
        DBKIT_PGBACKREST_USER: "postgres",
        DBKIT_PGBACKREST_CIPHER_PASS_ENV: "STAGING_BACKREST_KEY"
      })
      // Another environment selected: its own block, nothing of staging's.
      const production: NodeJS.ProcessEnv = { DB_ENV: "production" }
      yield* apply(dir, production)
      expect(production.DBKIT_PGBACKREST_STANZA).toBe("app_production")
      expect(production.DBKIT_PGBACKREST_CONFIG).toBeUndefined()
      // No block for development: nothing is set.
      const development: NodeJS.ProcessEnv = {}
      yield* apply(dir, development)
      expect(Object.keys(development).filter((k) => k.includes("PGBACKREST"))).toEqual([])
    }))

  it.effect("the key comes from the variable cipherPassEnv names; unset, physical backups refuse naming it; PGBACKREST_REPO1_CIPHER_PASS wins", () =>
    Effect.gen(function*() {
      const dir = project(staging)
      const env: NodeJS.ProcessEnv = { DB_ENV: "staging" }
      yield* apply(dir, env)
      const missing = yield* Effect.flip(fromMap(env)(Settings.fromEnvironment))
      expect([missing._tag, missing.message]).toEqual([
        "PitrNotConfigured",
        expect.stringMatching(/^STAGING_BACKREST_KEY is not set/)
      ])
      const read = yield* fromMap({ ...env, STAGING_BACKREST_KEY: "k-from-named" })(Settings.fromEnvironment)
      expect(read.cipherPass && Redacted.value(read.cipherPass)).toBe("k-from-named")
      expect(read).toMatchObject({ stanza: "app_staging", runAs: "postgres", repoPath: "/srv/repo" })
      const direct = yield* fromMap({ ...env, PGBACKREST_REPO1_CIPHER_PASS: "k-direct" })(Settings.fromEnvironment)
      expect(direct.cipherPass && Redacted.value(direct.cipherPass)).toBe("k-direct")
    }))

  it.effect("a deploy reads the deploy environment's block the same way (withFile): the file under the variables", () =>
    Effect.gen(function*() {
      const file = { stanza: "from_file", configFile: "/etc/pgbackrest/app.conf", cipherPassEnv: "APP_KEY" }
      const fromFile = yield* fromMap({ APP_KEY: "k" })(Settings.withFile(file))
      expect(fromFile).toMatchObject({ stanza: "from_file", configFile: "/etc/pgbackrest/app.conf" })
      expect(fromFile.cipherPass && Redacted.value(fromFile.cipherPass)).toBe("k")
      const overridden = yield* fromMap({ APP_KEY: "k", DBKIT_PGBACKREST_STANZA: "from_env" })(Settings.withFile(file))
      expect(overridden).toMatchObject({ stanza: "from_env", configFile: "/etc/pgbackrest/app.conf" })
      expect(yield* fromMap({})(Settings.stanzaNamed(file))).toBe(true)
      expect(yield* fromMap({})(Settings.stanzaNamed())).toBe(false)
    }))

  it("a stanza or path physical backups would refuse, or a key written in the file, stops any command naming the field (exit 2)", async () => {
    const cases: ReadonlyArray<readonly [string, RegExp]> = [
      [`{ staging: { pitr: { stanza: "has space" } } }`, /dbkit\.config\.ts: environments\.staging\.pitr\.stanza/],
      [
        `{ staging: { pitr: { stanza: "ok", binDir: "/usr/lib/it's" } } }`,
        /dbkit\.config\.ts: environments\.staging\.pitr\.binDir/
      ],
      [`{ staging: { pitr: { stanza: "ok", cipherPass: "s3cret-in-file" } } }`, /environments\.staging\.pitr/],
      [
        `{ staging: { pitr: { stanza: "ok", cipherPassEnv: "not a name" } } }`,
        /environments\.staging\.pitr\.cipherPassEnv/
      ]
    ]
    for (const [environments, message] of cases) {
      const dir = project(environments)
      const result = await runCli(["backups", "list"], {
        DB_ENV: "staging",
        STAGING_DATABASE_URL: "postgres://x@127.0.0.1:1/x"
      }, {
        cwd: dir
      })
      expect([environments, result.code, result.stderr]).toEqual([environments, 2, expect.stringMatching(message)])
      expect(result.stderr).not.toContain("s3cret-in-file")
    }
  })
})

describe("physical retention as pgBackRest's full retention", () => {
  const day = 86_400
  const now = new Date(100 * day * 1000)
  const backup = (label: string, type: BackrestBackup["type"], daysAgo: number) =>
    ({ label, type, timestamp: { start: 0, stop: 100 * day - daysAgo * day } }) as BackrestBackup
  // Three backup sets: 20, 10 and 1 day(s) old, each a full backup and an incremental one on it.
  const backups = [
    backup("A", "full", 20),
    backup("A_1", "incr", 19),
    backup("B", "full", 10),
    backup("B_1", "incr", 9),
    backup("C", "full", 1),
    backup("C_1", "incr", 0.5)
  ]
  const planned = (rules: { keepLast?: number; keepDays?: number }) =>
    Effect.runSync(Effect.either(plan(backups, rules, now)))

  it("keep-last counts full backups and keeps what builds on them", () => {
    expect(planned({ keepLast: 2 })).toMatchObject({
      right: { retention: { type: "count", full: 2 }, kept: ["B", "B_1", "C", "C_1"] }
    })
  })
  it("keep-days keeps the full backups of those days and the newest one before them (recovery to the cutoff needs it)", () => {
    expect(planned({ keepDays: 5 })).toMatchObject({
      right: { retention: { type: "time", full: 5 }, kept: ["B", "B_1", "C", "C_1"] }
    })
    // Days are whole for pgBackRest: rounded up, at least one.
    expect(planned({ keepDays: 0 })).toMatchObject({ right: { retention: { type: "time", full: 1 } } })
  })
  it("both rules keep the union: whichever keeps more full backups is passed; no rule, or keep-last 0, is refused", () => {
    expect(planned({ keepLast: 1, keepDays: 15 })).toMatchObject({
      right: { retention: { type: "time", full: 15 }, kept: ["A", "A_1", "B", "B_1", "C", "C_1"] }
    })
    expect(planned({ keepLast: 3, keepDays: 2 })).toMatchObject({ right: { retention: { type: "count", full: 3 } } })
    expect(planned({})).toMatchObject({ _tag: "Left", left: { _tag: "InvalidBackupOptions" } })
    expect(planned({ keepLast: 0 })).toMatchObject({ _tag: "Left", left: { _tag: "InvalidBackupOptions" } })
  })
})

describe("one home for a stanza's records", () => {
  it("an environment's safety-backup folder maps to the project's backup folder; the ledger there also holds points left in environment folders", () => {
    const root = tempDir("dbkit-pitr-home-")
    expect(physicalHome(path.join(root, "staging"), "staging")).toBe(root)
    expect(physicalHome(root, "staging")).toBe(root)
    expect(physicalHome(path.join(root, "staging"), "production")).toBe(path.join(root, "staging"))
    recordPoint(root, "main", { name: "by_pitr_point", lsn: "0/3000000", createdAt: "2026-12-07T05:00:00.000Z" })
    // What an earlier dbkit wrote into a deploy's environment folder.
    fs.mkdirSync(path.join(root, "production"))
    fs.writeFileSync(
      ledgerFile(path.join(root, "production"), "main"),
      JSON.stringify([{ name: "by_old_deploy", lsn: "0/2000000", createdAt: "2026-12-07T04:00:00.000Z" }])
    )
    expect(readLedger(root, "main").map((p) => p.name)).toEqual(["by_old_deploy", "by_pitr_point"])
    expect(fs.statSync(ledgerFile(root, "main")).mode & 0o777).toBe(0o600)
    expect(readLedger(root, "other")).toEqual([])
  })
})

describe.skipIf("skip" in tools)("physical backups from the config file on a private cluster", () => {
  const binDir = "binDir" in tools ? tools.binDir : ""

  it.live(
    "list shows both kinds; prune expires old full backups through pgBackRest and removes their manifests, dry run and guard first",
    () =>
      Effect.scoped(Effect.gen(function*() {
        const cluster = yield* startCluster(binDir)
        const user = cluster.runAs === undefined ? "" : `, user: "${cluster.runAs}"`
        const dir = project(`{
          production: {
            urlEnv: "PROD_URL",
            backupRetention: { keepLast: 3 },
            pitr: { stanza: "${cluster.stanza}", configFile: "${cluster.configFile}", binDir: "${cluster.binDir}"${user} }
          }
        }`)
        const backupDir = path.join(cluster.dir, "manifests")
        // No DBKIT_PGBACKREST_* here: the file says it all.
        const env = { PROD_URL: cluster.url, DBKIT_BACKUP_DIR: backupDir }
        const dbkit = (...args: Array<string>) =>
          Effect.promise(() => runCli([...args, "--env", "production"], env, { cwd: dir, timeoutMs: 180_000 }))
        const ok = (result: { code: number | null; stderr: string }) => expect(result.code, result.stderr).toBe(0)

        ok(yield* dbkit("pitr", "setup"))
        yield* Effect.promise(() => queryAt(cluster.url, "CREATE TABLE t AS SELECT generate_series(1, 1000) AS x"))
        const labels: Array<string> = []
        for (const type of ["full", "incr", "full", "incr"]) {
          const made = yield* dbkit("backup", "--physical", "--type", type, "--json")
          ok(made)
          labels.push(JSON.parse(made.stdout).manifest.label)
        }
        const logical = yield* dbkit("backup", "--json")
        ok(logical)

        const listed = yield* dbkit("backups", "list")
        ok(listed)
        const rows = listed.stdout.split("\n").slice(1).filter((line) => /^(logical|physical)/.test(line.trim()))
        expect(rows.map((row) => row.trim().split(/\s{2,}/)[0])).toEqual([
          "logical",
          "physical incr",
          "physical full",
          "physical incr",
          "physical full"
        ])
        const listedJson = JSON.parse((yield* dbkit("backups", "list", "--json")).stdout) as Array<
          { kind: string; label?: string; type?: string; file: string }
        >
        expect(listedJson.filter((b) => b.kind === "physical").map((b) => b.label)).toEqual([...labels].reverse())
        expect(listedJson.filter((b) => b.kind === "logical")).toHaveLength(1)

        // Production: refused without confirmation; nothing expired.
        const refused = yield* dbkit("backups", "prune", "--keep-last", "1")
        expect(refused.code).toBe(4)
        const info = () =>
          (JSON.parse(
            cluster.run("pgbackrest", [
              `--config=${cluster.configFile}`,
              `--stanza=${cluster.stanza}`,
              "info",
              "--output=json"
            ])
          ) as Array<{ backup: Array<{ label: string }> }>)[0]!.backup.map((b) => b.label)
        expect(info()).toEqual(labels)

        const dry = yield* dbkit("backups", "prune", "--keep-last", "1", "--dry-run", "--json")
        ok(dry)
        expect(JSON.parse(dry.stdout).physical).toMatchObject({
          stanza: cluster.stanza,
          retention: { type: "count", full: 1 },
          dryRun: true,
          expired: labels.slice(0, 2),
          kept: labels.slice(2)
        })
        expect(info()).toEqual(labels)
        expect(fs.readdirSync(backupDir).filter((f) => f.endsWith(".pgbackrest.json"))).toHaveLength(4)

        const pruned = yield* Effect.promise(() =>
          runCli(["backups", "prune", "--keep-last", "1", "--env", "production"], {
            ...env,
            DB_PRUNE_CONFIRM: "1",
            DB_PRUNE_ALLOW_PRODUCTION: "1"
          }, { cwd: dir, timeoutMs: 180_000 })
        )
        ok(pruned)
        expect(pruned.stdout).toContain(`deleted pgBackRest backup ${labels[0]}`)
        expect(pruned.stdout).toMatch(/2 backup\(s\) expired, 2 kept \(retention count 1 full backups\)/)
        expect(info()).toEqual(labels.slice(2))
        expect(fs.readdirSync(backupDir).filter((f) => f.endsWith(".pgbackrest.json")).sort()).toEqual(
          labels.slice(2).map((label) => `${cluster.stanza}_${label}.pgbackrest.json`).sort()
        )
        // Through the Backup service (an Effect program): a manifest whose backup pgBackRest no longer has
        // (a manual `pgbackrest expire`) goes; a restore point made with the deploy's folder lands in the one home.
        const stale = path.join(backupDir, `${cluster.stanza}_${labels[0]}.pgbackrest.json`)
        fs.copyFileSync(path.join(backupDir, `${cluster.stanza}_${labels[2]}.pgbackrest.json`), stale)
        fs.writeFileSync(stale, fs.readFileSync(stale, "utf8").replaceAll(labels[2]!, labels[0]!))
        const layer = Backup.layer.pipe(
          Layer.provide(PgLive({ url: Redacted.make(cluster.url) })),
          Layer.provide(Config.layerFrom({ backupDir: path.join(backupDir, "production"), environment: "production" })),
          Layer.provide(NodeContext.layer)
        )
        const viaService = yield* Effect.flatMap(Backup, (b) =>
          Effect.all([b.physical.prune({ keepLast: 2 }), b.physical.point("after_prune")])).pipe(
            Effect.provide(layer),
            withClusterEnv(cluster)
          )
        expect(viaService[0]).toMatchObject({ expired: [], kept: labels.slice(2), manifestsRemoved: [stale] })
        expect(fs.existsSync(stale)).toBe(false)
        expect(
          readLedger(backupDir, cluster.stanza).map((p) =>
            p.name
          )
        ).toEqual(["after_prune"])
        // The logical backup is the newest of its kind: kept.
        expect(
          JSON.parse((yield* dbkit("backups", "list", "--json")).stdout).filter((b: { kind: string }) =>
            b.kind === "logical"
          )
        ).toHaveLength(1)
      })),
    420_000
  )
})
