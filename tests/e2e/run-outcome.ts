import { join } from 'node:path'
import Database from 'better-sqlite3'
import type { JsonReport } from './project.ts'

// What one `vitest run` of a small project came to, read the way several e2e files read it: each
// recipe file's test statuses and failure lines from the JSON report, each step's row from the store.

/** A step's row in the run store, as these tests read it. */
export interface StepRow {
  step: string
  status: string
  exit_code: number | null
  reason: string | null
  duration_ms: number
}

/** Every step row of the project's store (reports/results.sqlite), by step name. */
export function readStepRows(root: string): Map<string, StepRow> {
  const db = new Database(join(root, 'reports/results.sqlite'), { readonly: true })
  try {
    const all = db.prepare('SELECT step, status, exit_code, reason, duration_ms FROM step_metrics').all() as StepRow[]
    return new Map(all.map((row) => [row.step, row]))
  } finally {
    db.close()
  }
}

/** The status of each step's test in `recipes/<file>`. */
export function fileStatuses(report: JsonReport, file: string): Record<string, string> {
  const entry = report.testResults.find((item) => item.name.endsWith(`recipes/${file}`))
  if (!entry) throw new Error(`no results for ${file}`)
  return Object.fromEntries(entry.assertionResults.map((item) => [item.title, item.status]))
}

/** The failure message of a step's test, without its stack. */
export function stepFailure(report: JsonReport, file: string, step: string): string {
  const entry = report.testResults.find((item) => item.name.endsWith(`recipes/${file}`))
  const item = entry?.assertionResults.find((result) => result.title === step)
  return (item?.failureMessages[0] ?? '').split('\n    at ')[0]!
}

/** A step's row, or an error saying it has none. */
export function stepRow(rows: ReadonlyMap<string, StepRow>, step: string): StepRow {
  const found = rows.get(step)
  if (!found) throw new Error(`no step_metrics row for ${step}`)
  return found
}
