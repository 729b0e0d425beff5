/**
 * `dbkit init` as a function: look at a project folder (a drizzle-kit config, a migrations folder,
 * a backups folder), write a commented dbkit.config.ts unless one exists, add the effect:*-db
 * scripts its package.json lacks. Idempotent: a second run writes nothing. Everything is decided
 * before the first write, so a refusal (no such folder, an unreadable package.json) changes nothing.
 */
import * as FileSystem from "@effect/platform/FileSystem"
import * as Path from "@effect/platform/Path"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { InvalidConfig } from "../../Config.js"
import { configFileNames } from "../../ProjectConfig.js"
import { configFileText } from "./configFile.js"
import { drizzleConfigNames, drizzleDefaultOut, readDrizzleOut } from "./drizzleConfig.js"
import { addScripts, effectScripts, type ScriptConflict } from "./packageJson.js"

/** Folders searched for migrations when there is no drizzle-kit config, in order. */
export const migrationFolderCandidates = ["migrations", "drizzle", "db/migrations", "sql"] as const

/** Where the migrations are, and how that was decided. */
export interface MigrationsFinding {
  /** Relative to the project, `/`-separated. */
  readonly dir: string
  readonly source: "drizzle-config" | "found" | "default"
  /** The drizzle-kit config read, and the `out` it names (null when it names none). */
  readonly drizzleConfig: { readonly file: string; readonly out: string | null; readonly understood: boolean } | null
  readonly layout: "drizzle" | "sql" | "missing"
  /** Up migrations (`.sql` files, down files not counted). */
  readonly migrations: number
  /** SQL files dbkit's plain-folder reader would refuse (not NNNN_name.sql). */
  readonly misnamed: ReadonlyArray<string>
}

/** What `dbkit init` found and did. */
export interface InitReport {
  readonly dir: string
  readonly migrations: MigrationsFinding
  readonly backups: { readonly dir: string; readonly exists: boolean }
  readonly config: { readonly file: string; readonly status: "written" | "kept" }
  readonly packageJson:
    | { readonly status: "missing" }
    | {
      readonly status: "updated" | "unchanged"
      readonly file: string
      readonly added: ReadonlyArray<string>
      readonly present: ReadonlyArray<string>
      readonly conflicts: ReadonlyArray<ScriptConflict>
      readonly dependsOnDbkit: boolean
    }
  /** Whether anything was written. */
  readonly changed: boolean
  /** What to run next. */
  readonly next: ReadonlyArray<string>
}

/** The plain-folder reader's naming rule (migrator/source.ts): a number, `_` or `-`, a name. */
const PLAIN_NAME = /^(\d+)[_-]([\w.-]*?)(\.down)?\.sql$/

/** `./db/drizzle/` → `db/drizzle`; `.` for the project folder itself. */
const tidy = (relative: string) =>
  relative.split(/[\\/]+/).filter((part) => part !== "" && part !== ".").join("/") || "."

/** Looks at the project folder; reads, never writes. */
const inspect = (dir: string) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const isDirectory = (p: string) =>
      Effect.map(Effect.option(fs.stat(p)), (info) => info._tag === "Some" && info.value.type === "Directory")
    const exists = (p: string) => fs.exists(p)

    const layoutOf = (folder: string) =>
      Effect.gen(function*() {
        const absolute = path.join(dir, folder)
        if (!(yield* isDirectory(absolute))) return { layout: "missing" as const, migrations: 0, misnamed: [] }
        const sql = (yield* fs.readDirectory(absolute)).filter((f) => f.endsWith(".sql")).sort()
        const ups = sql.filter((f) => !f.endsWith(".down.sql"))
        if (yield* exists(path.join(absolute, "meta", "_journal.json"))) {
          return { layout: "drizzle" as const, migrations: ups.length, misnamed: [] }
        }
        return {
          layout: sql.length > 0 ? "sql" as const : "missing" as const,
          migrations: ups.length,
          misnamed: sql.filter((f) => !PLAIN_NAME.test(f))
        }
      })

    // A drizzle-kit config decides, when its `out` can be read; else the first folder with migrations.
    const drizzleFile = yield* Effect.findFirst(drizzleConfigNames, (name) => exists(path.join(dir, name)))
    const drizzleOut = Option.isSome(drizzleFile)
      ? readDrizzleOut(yield* fs.readFileString(path.join(dir, drizzleFile.value)), drizzleFile.value.endsWith(".json"))
      : null
    let migrations: MigrationsFinding
    if (Option.isSome(drizzleFile) && drizzleOut !== null && drizzleOut._tag !== "NotLiteral") {
      const out = drizzleOut._tag === "Literal" ? drizzleOut.out : null
      const folder = tidy(path.relative(dir, path.resolve(dir, out ?? drizzleDefaultOut)))
      migrations = {
        dir: folder,
        source: "drizzle-config",
        drizzleConfig: { file: drizzleFile.value, out, understood: true },
        ...(yield* layoutOf(folder))
      }
    } else {
      // `out` is computed (a variable, a template): not guessed; the usual folders are searched instead.
      const drizzleConfig = Option.isSome(drizzleFile)
        ? { file: drizzleFile.value, out: null, understood: false }
        : null
      migrations = {
        dir: "migrations",
        source: "default",
        drizzleConfig,
        layout: "missing",
        migrations: 0,
        misnamed: []
      }
      for (const folder of migrationFolderCandidates) {
        const found = yield* layoutOf(folder)
        if (found.layout !== "missing") {
          migrations = { dir: folder, source: "found", drizzleConfig, ...found }
          break
        }
      }
    }

    const backups = { dir: "backups", exists: yield* isDirectory(path.join(dir, "backups")) }
    const existingConfig = yield* Effect.findFirst(configFileNames, (name) => exists(path.join(dir, name)))
    const packageFile = path.join(dir, "package.json")
    const packageText = (yield* exists(packageFile)) ? yield* fs.readFileString(packageFile) : null
    const lockfile = yield* Effect.findFirst(
      ["pnpm-lock.yaml", "yarn.lock", "bun.lockb", "bun.lock"],
      (name) => exists(path.join(dir, name))
    )
    return { migrations, backups, existingConfig, packageFile, packageText, lockfile }
  })

const migrationsNote = (m: MigrationsFinding): string => {
  const contents = m.layout === "drizzle"
    ? `a drizzle-kit folder (meta/_journal.json), ${m.migrations} migration(s)`
    : m.layout === "sql"
    ? `${m.migrations} SQL migration(s)`
    : "does not exist yet"
  if (m.source === "drizzle-config" && m.drizzleConfig !== null) {
    const out = m.drizzleConfig.out === null
      ? `no out: drizzle-kit's default ./${drizzleDefaultOut}`
      : `out: ${m.drizzleConfig.out}`
    return `found ${m.drizzleConfig.file} → ${out}; ${m.dir}/ ${
      m.layout === "missing" ? "does not exist yet (drizzle-kit generate creates it)" : `is ${contents}`
    }`
  }
  const unread = m.drizzleConfig !== null ? `${m.drizzleConfig.file}'s out is not a plain string, so not read; ` : ""
  return m.source === "found"
    ? `${unread}found ${m.dir}/ with ${contents}`
    : `${unread}no migrations folder found (looked for ${
      migrationFolderCandidates.map((f) => `${f}/`).join(", ")
    }): the default; \`dbkit migrate new NAME\` creates the first`
}

/** Runs `dbkit init` on `dir`: reports what it found, writes what is missing, overwrites nothing. */
export const init = (directory: string): Effect.Effect<InitReport, InvalidConfig, FileSystem.FileSystem | Path.Path> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const dir = path.resolve(directory)
    const info = yield* Effect.option(fs.stat(dir))
    if (info._tag === "None") {
      return yield* new InvalidConfig({
        variable: "--dir",
        reason: `${dir} does not exist; create the project folder first, or pass the right one`
      })
    }
    if (info.value.type !== "Directory") {
      return yield* new InvalidConfig({ variable: "--dir", reason: `${dir} is not a directory` })
    }

    const found = yield* Effect.orDie(inspect(dir))
    const scripts = found.packageText === null ? null : addScripts(found.packageText, effectScripts)
    if (scripts?._tag === "Invalid") {
      return yield* new InvalidConfig({
        variable: found.packageFile,
        reason: `${scripts.reason}; nothing was written — fix it and run dbkit init again`
      })
    }

    // Decided; now write: the config (only when none exists), then package.json (only when it changes).
    const configName = Option.isSome(found.existingConfig) ? found.existingConfig.value : "dbkit.config.ts"
    const writeConfig = Option.isNone(found.existingConfig)
    const writeAtomically = (file: string, text: string) =>
      Effect.gen(function*() {
        const temp = `${file}.dbkit-init-${process.pid}`
        yield* fs.writeFileString(temp, text)
        yield* fs.rename(temp, file).pipe(Effect.tapError(() => Effect.ignore(fs.remove(temp))))
      })
    if (writeConfig) {
      yield* Effect.orDie(writeAtomically(
        path.join(dir, configName),
        configFileText({
          migrationsDir: found.migrations.dir,
          migrationsNote: migrationsNote(found.migrations),
          backupDir: found.backups.dir,
          backupNote: found.backups.exists
            ? "found backups/"
            : "no backups/ folder yet: the default (the first backup creates it)"
        })
      ))
    }
    const packageChanged = scripts !== null && scripts.added.length > 0
    if (packageChanged) yield* Effect.orDie(writeAtomically(found.packageFile, scripts.text))

    const runner = Option.isSome(found.lockfile)
      ? {
        "pnpm-lock.yaml": "pnpm",
        "yarn.lock": "yarn",
        "bun.lockb": "bun run",
        "bun.lock": "bun run"
      }[found.lockfile.value] ?? "npm run"
      : "npm run"
    const migrateScript = scripts !== null &&
      (scripts.added.includes("effect:migrate-db") || scripts.present.includes("effect:migrate-db"))
    return {
      dir,
      migrations: found.migrations,
      backups: found.backups,
      config: { file: configName, status: writeConfig ? "written" : "kept" },
      packageJson: scripts === null
        ? { status: "missing" }
        : {
          status: packageChanged ? "updated" : "unchanged",
          file: "package.json",
          added: scripts.added,
          present: scripts.present,
          conflicts: scripts.conflicts,
          dependsOnDbkit: scripts.dependsOnDbkit
        },
      changed: writeConfig || packageChanged,
      // Every command reads migrationsDir and backupDir from the config written here.
      next: ["npx dbkit migrate --dry-run", migrateScript ? `${runner} effect:migrate-db` : "npx dbkit migrate"]
    } satisfies InitReport
  })
