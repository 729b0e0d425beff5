/**
 * Prints the runner's own counts as one plain closing line, `Tests: N passed, N failed, N skipped`,
 * which CI reads.
 */
import type { Reporter } from "vitest/reporters"

type Task = { type: string; mode?: string; result?: { state?: string }; tasks?: ReadonlyArray<Task> }

const count = (tasks: ReadonlyArray<Task>, totals: { passed: number; failed: number; skipped: number }) => {
  for (const task of tasks) {
    if (task.type === "suite" || task.tasks) {
      count(task.tasks ?? [], totals)
      if (task.type === "suite" && task.result?.state === "fail" && (task.tasks ?? []).length === 0) totals.failed++
      continue
    }
    const state = task.result?.state
    if (state === "pass") totals.passed++
    else if (state === "fail") totals.failed++
    else totals.skipped++
  }
}

export default class SummaryReporter implements Reporter {
  onFinished(files: ReadonlyArray<Task & { result?: { state?: string } }> = [], errors: ReadonlyArray<unknown> = []) {
    const totals = { passed: 0, failed: 0, skipped: 0 }
    count(files, totals)
    // A file that failed to load (e.g. the server is required but down) has no tests: count it.
    for (const file of files) if (file.result?.state === "fail" && (file.tasks ?? []).length === 0) totals.failed++
    totals.failed += errors.length
    process.stdout.write(`\nTests: ${totals.passed} passed, ${totals.failed} failed, ${totals.skipped} skipped\n`)
  }
}
