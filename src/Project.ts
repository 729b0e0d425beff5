/**
 * The project: what a team's `dbkit.config.*` declares — migrations and backup folders,
 * environments, its seeds, its personal-data map, its integrity relationships and retention
 * rules, its tenancy and its cache prefix — read through one door for the command line and for
 * programs alike (`Seeder.layerConfig()`, `Privacy.layerConfig()`, … all start here).
 *
 * The config file itself is data and loads fast (its `import … from "dbkit"` is a stub). The
 * modules it names (seeds, the privacy map) are code that builds on dbkit, so they are loaded
 * only when a command needs them, with `import … from "dbkit"` given the running library: one
 * copy of every class and tag. Their other imports come from the project's node_modules. Each
 * module is evaluated once per process.
 */
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as path from "node:path"
import { InvalidConfig } from "./Config.js"
import type { Relationship } from "./maintenance/integrity.js"
import type { RetentionRule } from "./maintenance/retention.js"
import type { PrivacyMap } from "./privacy/declare.js"
import * as ProjectConfig from "./ProjectConfig.js"
import type { Seed } from "./seeder/Seeder.js"

export type ProjectShape = ProjectConfig.DeployConfig
export type { TenancySettings } from "./ProjectConfig.js"

/** The project's configuration, as read from its dbkit.config.* and the environment. */
export class Project extends Context.Tag("dbkit/Project")<Project, ProjectShape>() {
  /** The project in the working directory, read once. */
  static get layer(): typeof layer {
    return layer
  }
  /** The project given as values. */
  static get layerFrom(): typeof layerFrom {
    return layerFrom
  }
  /** Reads the project in `cwd` (default: the working directory). */
  static get load(): typeof load {
    return load
  }
  /** The project in context, else the one in the working directory. */
  static get current(): typeof current {
    return current
  }
  /** The seeds the project declares, in order. */
  static get seeds(): typeof seeds {
    return seeds
  }
  /** The project's personal-data map. */
  static get privacyMap(): typeof privacyMap {
    return privacyMap
  }
}

/** Reads the project in `cwd` (default: the working directory); variables override the file. */
export const load = (
  options: { readonly cwd?: string | undefined; readonly env?: NodeJS.ProcessEnv | undefined } = {}
): Effect.Effect<ProjectShape, InvalidConfig> => ProjectConfig.load(options)

/** The project read from the working directory and the process's environment. */
export const layer: Layer.Layer<Project, InvalidConfig> = Layer.effect(Project, load())

/** The Project in context if one was provided, else the one in the working directory. */
export const current: Effect.Effect<ProjectShape, InvalidConfig> = Effect.flatMap(
  Effect.serviceOption(Project),
  Option.match({ onSome: Effect.succeed, onNone: () => load() })
)

/** The project given as values (tests, programs that configure themselves in code). */
export const layerFrom = (project: ProjectShape): Layer.Layer<Project> => Layer.succeed(Project, project)

const configName = (project: ProjectShape) => (project.file === null ? "dbkit.config.ts" : path.basename(project.file))

/** `dbkit.config.ts: seeds: db/seeds.ts …` — the file, the field, then what is wrong. */
const moduleError = (project: ProjectShape, field: string, module: string, reason: string) =>
  new InvalidConfig({
    variable: `${configName(project)}: ${field}`,
    reason: `${
      path.relative(project.file === null ? process.cwd() : path.dirname(project.file), module) || module
    } ${reason}`
  })

const evaluated = new Map<string, Promise<unknown>>()

/** Evaluates a project module with `import … from "dbkit"` bound to this library, once per process. */
const evaluate = (project: ProjectShape, module: string): Effect.Effect<unknown, InvalidConfig> =>
  Effect.suspend(() => {
    let pending = evaluated.get(module)
    if (pending === undefined) {
      pending = module.endsWith(".json")
        ? Effect.runPromise(ProjectConfig.readConfigFile(module).pipe(Effect.either))
        : import("./index.js").then((library) =>
          Effect.runPromise(
            ProjectConfig.evaluateModule(module, {
              library,
              // Compiled code is cached in the project's .dbkit/cache, not beside the module.
              cacheRoot: project.file === null ? process.cwd() : path.dirname(project.file)
            }).pipe(Effect.either)
          )
        )
      evaluated.set(module, pending)
    }
    return Effect.flatMap(Effect.promise(() => pending!), (either) => either as Effect.Effect<unknown, InvalidConfig>)
  })

const isSeed = (value: unknown): value is Seed =>
  typeof value === "object" && value !== null && typeof (value as Seed).name === "string" &&
  typeof (value as Seed).run === "function" && ["reference", "development", "test"].includes((value as Seed).profile)

/** The seeds a module exports: its default export (an array or one seed), else every seed it exports by name. */
const seedsOf = (exported: unknown): ReadonlyArray<Seed> | undefined => {
  if (Array.isArray(exported)) return exported.every(isSeed) ? exported : undefined
  if (isSeed(exported)) return [exported]
  if (typeof exported !== "object" || exported === null) return undefined
  const found: Array<Seed> = []
  for (const value of Object.values(exported)) {
    if (isSeed(value)) found.push(value)
    else if (Array.isArray(value) && value.length > 0 && value.every(isSeed)) found.push(...value)
  }
  return found.length > 0 ? found : undefined
}

/**
 * The project's seeds, from the modules `seeds` names, in order; a seed declared twice (exported
 * alone and in a list) counts once. Empty when the project declares none.
 */
export const seeds = (project: ProjectShape): Effect.Effect<ReadonlyArray<Seed>, InvalidConfig> =>
  Effect.gen(function*() {
    const all = new Map<string, Seed>()
    for (const [i, module] of project.seeds.entries()) {
      const field = project.seeds.length > 1 ? `seeds.${i}` : "seeds"
      const found = seedsOf(
        yield* Effect.mapError(evaluate(project, module), (e) => moduleError(project, field, module, e.reason))
      )
      if (found === undefined) {
        return yield* moduleError(
          project,
          field,
          module,
          "exports no seeds: expected `export default [Seeder.make({ name, profile, run })]`"
        )
      }
      for (const seed of found) {
        const existing = all.get(seed.name)
        if (existing !== undefined && existing !== seed) {
          return yield* moduleError(project, field, module, `declares a second seed named "${seed.name}"`)
        }
        all.set(seed.name, seed)
      }
    }
    return [...all.values()]
  })

/** The project's seeds; a project that declares none is InvalidConfig naming the field. */
export const requiredSeeds = (project: ProjectShape): Effect.Effect<ReadonlyArray<Seed>, InvalidConfig> =>
  project.seeds.length === 0
    ? Effect.fail(
      new InvalidConfig({
        variable: `${configName(project)}: seeds`,
        reason:
          "is not declared; name the module(s) exporting your seeds, e.g. seeds: \"db/seeds.ts\" (see README, \"Seeds\")"
      })
    )
    : seeds(project)

const isPrivacyMap = (value: unknown): value is PrivacyMap =>
  typeof value === "object" && value !== null && Array.isArray((value as PrivacyMap).tables) &&
  (value as PrivacyMap).tables.every((t) =>
    typeof t?.table === "string" && Array.isArray(t.columns) && Array.isArray(t.key)
  )

/** The project's personal-data map (`privacy` in the config, or DBKIT_PRIVACY_MAP). */
export const privacyMap = (project: ProjectShape): Effect.Effect<PrivacyMap, InvalidConfig> =>
  Effect.gen(function*() {
    const module = project.privacy
    if (module === null) {
      return yield* new InvalidConfig({
        variable: `${configName(project)}: privacy`,
        reason:
          "is not declared; name the module whose default export is definePrivacy({ tables: [...] }) (see README, \"Privacy\")"
      })
    }
    const raw = yield* Effect.mapError(evaluate(project, module), (e) =>
      moduleError(project, "privacy", module, e.reason))
    const value = typeof raw === "object" && raw !== null && "privacy" in raw && !("tables" in raw)
      ? (raw as { privacy: unknown }).privacy
      : raw
    if (!isPrivacyMap(value)) {
      return yield* moduleError(
        project,
        "privacy",
        module,
        "must export definePrivacy({ tables: [...] }) as its default export"
      )
    }
    return { ...value, notPersonal: value.notPersonal ?? [], auditLog: value.auditLog ?? null }
  })

/** The relationships `db validate` checks. */
export const relationships = (project: ProjectShape): ReadonlyArray<Relationship> => project.relationships

/** The retention rules `db cleanup` applies. */
export const retention = (project: ProjectShape): ReadonlyArray<RetentionRule> =>
  project.retention.map((rule) => ({ ...rule, keep: Duration.decode(rule.keep as Duration.DurationInput) }))
