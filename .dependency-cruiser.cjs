/**
 * dbkit's layering, checked in CI (`pnpm lint:deps`). Lower layers never import higher ones, and
 * capabilities on the same layer never borrow from each other; what two of them share belongs
 * on the floor. Type-only imports (erased at build) are not followed: they may point up, as
 * Project.ts's do to name the shapes a project declares.
 *
 *   floor       src/*.ts, src/embedded/   configuration, database, locks, server errors, redaction, tools
 *   1           src/migrator/
 *   2           src/seeder/, src/backup/
 *   3           src/reset/, src/tenancy/, src/health/
 *   4           src/maintenance/, src/deploy/, src/privacy/
 *   5           src/serve/                 the long-running process: metrics, jobs, dashboard
 *   top         src/cli/, src/example/, src/index.ts
 */
const layers = [
  ["floor", "^src/(embedded/|[^/]+[.]ts$)"],
  ["migrator", "^src/migrator/"],
  ["seeder", "^src/seeder/"],
  ["backup", "^src/backup/"],
  ["reset", "^src/reset/"],
  ["tenancy", "^src/tenancy/"],
  ["health", "^src/health/"],
  ["maintenance", "^src/maintenance/"],
  ["deploy", "^src/deploy/"],
  ["privacy", "^src/privacy/"],
  ["serve", "^src/serve/"]
]
const level = { floor: 0, migrator: 1, seeder: 2, backup: 2, reset: 3, tenancy: 3, health: 3, maintenance: 4, deploy: 4, privacy: 4, serve: 5 }
const top = "^src/(cli/|example/|index[.]ts$)"

const rules = layers.flatMap(([name, path]) => {
  const forbidden = layers.filter(([other]) => other !== name && level[other] >= level[name]).map(([, p]) => p)
  // The highest layer has nothing beside or above it but the top (an empty path list would match everything).
  return [...(forbidden.length === 0 ? [] : [{
    name: `${name}-stays-below`,
    comment: `${name} (layer ${level[name]}) imports neither its own layer's siblings nor anything above it`,
    severity: "error",
    from: { path, pathNot: "^src/index[.]ts$" },
    to: { path: forbidden, dependencyTypesNot: ["type-only"] }
  }]), {
    name: `${name}-below-the-top`,
    comment: `${name} never imports the CLI, the example or the package entry (Project.ts loads the entry lazily, to hand a project's modules the running dbkit)`,
    severity: "error",
    from: { path, pathNot: "^src/index[.]ts$" },
    to: { path: top, dependencyTypesNot: ["type-only", "dynamic-import"] }
  }]
})

module.exports = {
  forbidden: [
    {
      name: "no-circular",
      comment: "no import cycle among the modules a program loads (lazy `import()`s, which load on use, aside)",
      severity: "error",
      from: { path: "^src/" },
      to: { circular: true, viaOnly: { dependencyTypesNot: ["dynamic-import"] } }
    },
    {
      name: "example-is-an-application",
      comment: "the example application uses dbkit as a project does; nothing in the library imports it",
      severity: "error",
      from: { path: "^src/", pathNot: "^src/example/" },
      to: { path: "^src/example/" }
    },
    ...rules
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    tsPreCompilationDeps: false,
    tsConfig: { fileName: "tsconfig.json" },
    exclude: { path: "^src/.*[.]d[.]ts$" }
  }
}
