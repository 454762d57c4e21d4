import Database from 'better-sqlite3'
import type { RunData, RunRow, StepRow, StepStatus } from '../../plugin/store/run-data.ts'

/** A stored step row for tests: a passed step of 10 ms, with `extra` on top. */
export function stepRow(name: string, extra: Partial<StepRow> = {}): StepRow {
  return {
    step: name,
    idx: 1,
    status: 'passed',
    durationMs: 10,
    cpuMs: 5,
    peakRssBytes: 0,
    exitCode: 0,
    attempts: 1,
    attemptLog: [],
    reason: null,
    logPath: null,
    params: {},
    envelope: null,
    ...extra,
  }
}

/**
 * A stored run of LAB-1 (recipes/lab.yaml) for tests: 2.5 s long, failed when one of `steps`
 * failed and passed otherwise, with `run` on top of its run row and `extra` on top of the rest
 * (no ctx, history or analysis unless `extra` gives them).
 */
export function runData(
  steps: StepRow[],
  run: Partial<RunRow> = {},
  extra: Partial<Omit<RunData, 'run' | 'steps'>> = {},
): RunData {
  return {
    run: {
      runId: 'r1',
      testId: 'LAB-1',
      recipe: 'recipes/lab.yaml',
      startTime: '2026-01-01T00:00:00.000Z',
      endTime: '2026-01-01T00:00:02.500Z',
      status: steps.some((step) => step.status === 'failed') ? 'failed' : 'passed',
      host: 'h',
      vitestVersion: '4.1.0',
      metadata: { test_meta: { test_id: 'LAB-1' } },
      ...run,
    },
    steps,
    context: [],
    history: { count: 0, rows: () => [] },
    analysis: undefined,
    ...extra,
  }
}

/** A step record as the runtime hands it to a recorder: a passed step of 1 ms unless `status` says otherwise. */
export function stepRecord(name: string, idx: number, status: StepStatus = 'passed'): StepRow {
  return {
    step: name,
    idx,
    status,
    durationMs: 1,
    cpuMs: 0,
    peakRssBytes: 0,
    exitCode: 0,
    attempts: 1,
    attemptLog: [],
    reason: null,
    logPath: null,
    params: {},
    envelope: null,
  }
}

/** The rows `sql` reads from the SQLite store at `path`, through a read-only connection of its own. */
export function readRows(path: string, sql: string): unknown[] {
  const db = new Database(path, { readonly: true })
  try {
    return db.prepare(sql).all()
  } finally {
    db.close()
  }
}
