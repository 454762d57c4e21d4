import Database from 'better-sqlite3'
import type { StepRow, StepStatus } from '../../plugin/store/run-data.ts'

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
