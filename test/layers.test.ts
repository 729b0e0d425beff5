// The layer convention: every service's layers are static members declared on its Tag class (the
// same functions and values its module exports), the package entry exports those classes
// untouched, and `Database.layerPg` / `layerPglite` / `layerConfig` open the real server and an
// embedded data directory.
import * as SqlClient from "@effect/sql/SqlClient"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as fs from "node:fs"
import * as path from "node:path"
import * as BackupModule from "../src/backup/Backup.js"
import * as RestoreModule from "../src/backup/Restore.js"
import * as ConfigModule from "../src/Config.js"
import * as DatabaseModule from "../src/Database.js"
import * as DeployModule from "../src/deploy/Deploy.js"
import * as GuardModule from "../src/Guard.js"
import * as HealthModule from "../src/health/Health.js"
import * as Dbkit from "../src/index.js"
import * as MaintenanceModule from "../src/maintenance/Maintenance.js"
import * as MigratorModule from "../src/migrator/Migrator.js"
import * as PrivacyModule from "../src/privacy/Privacy.js"
import * as ProjectModule from "../src/Project.js"
import * as ResetModule from "../src/reset/Reset.js"
import * as SeederModule from "../src/seeder/Seeder.js"
import * as TenancyModule from "../src/tenancy/Tenancy.js"
import { embeddedDataDir, ScratchDatabase, ScratchDatabaseLive, serverAvailable } from "./support/databases.js"

const server = await serverAvailable()

/** Each service as the package exports it, its module's class, and what the class must carry (member → module export). */
const services = [
  {
    name: "DbConfig",
    exported: Dbkit.DbConfig,
    tag: ConfigModule.DbConfig,
    members: { layer: ConfigModule.layer, layerFrom: ConfigModule.layerFrom, load: ConfigModule.load }
  },
  {
    name: "Database",
    exported: Dbkit.Database,
    tag: DatabaseModule.Database,
    members: {
      layerPg: DatabaseModule.PgLive,
      layerPglite: DatabaseModule.PgliteLive,
      layerConfig: DatabaseModule.DatabaseLive
    }
  },
  { name: "Guard", exported: Dbkit.Guard, tag: GuardModule.Guard, members: { layer: GuardModule.layer } },
  {
    name: "Project",
    exported: Dbkit.Project,
    tag: ProjectModule.Project,
    members: {
      layer: ProjectModule.layer,
      layerFrom: ProjectModule.layerFrom,
      load: ProjectModule.load,
      current: ProjectModule.current,
      seeds: ProjectModule.seeds,
      privacyMap: ProjectModule.privacyMap
    }
  },
  {
    name: "Migrator",
    exported: Dbkit.Migrator,
    tag: MigratorModule.Migrator,
    members: { layer: MigratorModule.layer, layerConfig: MigratorModule.layerConfig }
  },
  {
    name: "Seeder",
    exported: Dbkit.Seeder,
    tag: SeederModule.Seeder,
    members: { layer: SeederModule.layer, layerConfig: SeederModule.layerConfig, make: SeederModule.make }
  },
  {
    name: "Backup",
    exported: Dbkit.Backup,
    tag: BackupModule.Backup,
    members: { layer: BackupModule.layer, layerConfig: BackupModule.layerConfig }
  },
  {
    name: "Restore",
    exported: Dbkit.Restore,
    tag: RestoreModule.Restore,
    members: { layer: RestoreModule.layer, layerConfig: RestoreModule.layerConfig }
  },
  {
    name: "Reset",
    exported: Dbkit.Reset,
    tag: ResetModule.Reset,
    members: { layer: ResetModule.layer, layerConfig: ResetModule.layerConfig }
  },
  {
    name: "Health",
    exported: Dbkit.Health,
    tag: HealthModule.Health,
    members: {
      layer: HealthModule.layer,
      layerConfig: HealthModule.layerConfig,
      layerResilient: HealthModule.layerResilient,
      checkNames: HealthModule.checkNames,
      defaultThresholds: HealthModule.defaultThresholds
    }
  },
  {
    name: "Tenancy",
    exported: Dbkit.Tenancy,
    tag: TenancyModule.Tenancy,
    members: { layer: TenancyModule.layer, layerConfig: TenancyModule.layerConfig }
  },
  {
    name: "Maintenance",
    exported: Dbkit.Maintenance,
    tag: MaintenanceModule.Maintenance,
    members: {
      layer: MaintenanceModule.layer,
      layerConfig: MaintenanceModule.layerConfig,
      make: MaintenanceModule.make,
      defaultThresholds: MaintenanceModule.defaultMaintenanceThresholds
    }
  },
  {
    name: "Deploy",
    exported: Dbkit.Deploy,
    tag: DeployModule.Deploy,
    members: { layer: DeployModule.layer, layerFor: DeployModule.layerFor }
  },
  {
    name: "Privacy",
    exported: Dbkit.Privacy,
    tag: PrivacyModule.Privacy,
    members: { layer: PrivacyModule.layer, layerConfig: PrivacyModule.layerConfig }
  }
] as const

/** The names a class declares itself (not inherited from Context.Tag), besides the built-in ones. */
const declared = (tag: object) =>
  Object.getOwnPropertyNames(tag).filter((name) => !["length", "name", "prototype"].includes(name)).sort()

describe("each service's layers are static members of its Tag class", () => {
  for (const service of services) {
    it(`${service.name}: the package exports the class itself, whose members are the module's own exports`, () => {
      expect(service.exported).toBe(service.tag)
      for (const [member, value] of Object.entries(service.members)) {
        expect((service.exported as unknown as Record<string, unknown>)[member], `${service.name}.${member}`).toBe(
          value
        )
      }
    })

    it(`${service.name}: the members are declared with the class (read-only accessors), nothing is added to it`, () => {
      expect(declared(service.tag)).toEqual(Object.keys(service.members).sort())
      for (const member of Object.keys(service.members)) {
        const descriptor = Object.getOwnPropertyDescriptor(service.tag, member)
        expect(typeof descriptor?.get, `${service.name}.${member}`).toBe("function")
        expect(descriptor?.set).toBeUndefined()
      }
      // Assigning over a member is refused (Object.assign on the class would throw).
      expect(Reflect.set(service.tag, Object.keys(service.members)[0]!, () => undefined)).toBe(false)
    })
  }

  it("a layer value is the same reference every time it is read, so Effect builds it once per program", () => {
    expect(Dbkit.Database.layerConfig).toBe(Dbkit.Database.layerConfig)
    expect(Dbkit.Database.layerConfig).toBe(Dbkit.DatabaseLive)
    expect(Dbkit.Guard.layer).toBe(GuardModule.layer)
    expect(Dbkit.DbConfig.layer).toBe(ConfigModule.layer)
  })
})

/** The database a layer opened: what it says it is, and what it answers. */
const describeOpened = Effect.gen(function*() {
  const database = yield* Dbkit.Database
  const sql = yield* SqlClient.SqlClient
  const rows = yield* sql<{ db: string; answer: number }>`SELECT current_database() AS db, 6 * 7 AS answer`
  return { kind: database.kind, target: database.target, db: rows[0]!.db, answer: rows[0]!.answer }
})

describe.skipIf(!server)("Database layers on the server", () => {
  it.live("Database.layerConfig with DATABASE_URL in DbConfig connects to the server", () =>
    Effect.gen(function*() {
      const scratch = yield* ScratchDatabase
      const opened = yield* describeOpened.pipe(
        Effect.provide(
          Dbkit.Database.layerConfig.pipe(
            Layer.provide(Dbkit.DbConfig.layerFrom({ databaseUrl: Option.some(scratch.url), poolSize: 2 }))
          )
        )
      )
      expect(opened).toMatchObject({ kind: "server", db: scratch.name, answer: 42 })
      expect(opened.target.endsWith(`/${scratch.name}`)).toBe(true)
    }).pipe(Effect.provide(ScratchDatabaseLive)))

  it.live("Database.layerPg runs a query on the server", () =>
    Effect.gen(function*() {
      const scratch = yield* ScratchDatabase
      const opened = yield* describeOpened.pipe(
        Effect.provide(Dbkit.Database.layerPg({ url: scratch.url, poolSize: 2, applicationName: "dbkit-layers" }))
      )
      expect(opened).toMatchObject({ kind: "server", db: scratch.name, answer: 42 })
      // The same function under its earlier name, given the same options, opens the same database.
      const again = yield* describeOpened.pipe(
        Effect.provide(Dbkit.PgLive({ url: Redacted.make(Redacted.value(scratch.url)), poolSize: 1 }))
      )
      expect(again.db).toBe(scratch.name)
    }).pipe(Effect.provide(ScratchDatabaseLive)))
})

describe("Database layers on the embedded database", () => {
  it.live(
    "Database.layerConfig without DATABASE_URL opens the embedded data directory; layerPglite reopens it",
    () =>
      Effect.gen(function*() {
        const dataDir = embeddedDataDir()
        const viaConfig = Dbkit.Database.layerConfig.pipe(Layer.provide(Dbkit.DbConfig.layerFrom({ dataDir })))
        const opened = yield* Effect.zipLeft(
          describeOpened,
          Effect.flatMap(
            SqlClient.SqlClient,
            (sql) => sql.unsafe("CREATE TABLE layered (id int); INSERT INTO layered VALUES (7)")
          )
        ).pipe(Effect.provide(viaConfig))
        expect(opened).toMatchObject({ kind: "embedded", target: `embedded ${dataDir}`, answer: 42 })
        expect(fs.existsSync(path.join(dataDir, "PG_VERSION"))).toBe(true)
        // Closed with its layer (the directory's lock released): layerPglite opens the same directory.
        const rows = yield* Effect.flatMap(SqlClient.SqlClient, (sql) => sql<{ id: number }>`SELECT id FROM layered`)
          .pipe(
            Effect.provide(Dbkit.Database.layerPglite({ dataDir }))
          )
        expect(rows).toEqual([{ id: 7 }])
      }),
    { timeout: 120_000 }
  )
})
