/**
 * Orders seeds so every seed runs after the seeds it depends on (declaration order breaks ties),
 * finding unknown dependencies and cycles before anything runs.
 */
import * as Either from "effect/Either"
import { SeedCycle, UnknownSeedDependency } from "./errors.js"

export interface Node {
  readonly name: string
  readonly dependsOn?: ReadonlyArray<string> | undefined
}

/** The nodes in dependency order, or the first problem found. */
export const order = <N extends Node>(
  nodes: ReadonlyArray<N>
): Either.Either<ReadonlyArray<N>, UnknownSeedDependency | SeedCycle> => {
  const byName = new Map(nodes.map((n) => [n.name, n]))
  for (const node of nodes) {
    for (const dependency of node.dependsOn ?? []) {
      if (!byName.has(dependency)) return Either.left(new UnknownSeedDependency({ seed: node.name, dependency }))
    }
  }
  const state = new Map<string, "visiting" | "done">()
  const sorted: Array<N> = []
  const visit = (node: N, path: ReadonlyArray<string>): SeedCycle | undefined => {
    const mark = state.get(node.name)
    if (mark === "done") return undefined
    if (mark === "visiting") return new SeedCycle({ cycle: [...path.slice(path.indexOf(node.name)), node.name] })
    state.set(node.name, "visiting")
    for (const dependency of node.dependsOn ?? []) {
      const problem = visit(byName.get(dependency)!, [...path, node.name])
      if (problem) return problem
    }
    state.set(node.name, "done")
    sorted.push(node)
    return undefined
  }
  for (const node of nodes) {
    const problem = visit(node, [])
    if (problem) return Either.left(problem)
  }
  return Either.right(sorted)
}
