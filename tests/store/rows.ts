import type { StepRow } from '../../plugin/store/run-data.ts'

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
