import type { RunData, StepRow } from '../../plugin/store/run-data.ts'
import { stepRow as storedStepRow } from '../store/rows.ts'

/** A step row of a passed step at `idx`, with `extra` on top. */
export function stepRow(step: string, idx: number, extra: Partial<StepRow> = {}): StepRow {
  return storedStepRow(step, { idx, ...extra })
}

/** A finished run of LAB-1 with these steps and run metadata. */
export function runOf(steps: StepRow[], metadata: RunData['run']['metadata'] = {}, runId = 'r1'): RunData {
  return {
    run: {
      runId,
      testId: 'LAB-1',
      recipe: 'recipes/lab.yaml',
      startTime: '2026-01-05T00:00:00.000Z',
      endTime: '2026-01-05T00:00:02.000Z',
      status: 'passed',
      host: 'h',
      vitestVersion: '4.1.0',
      metadata,
    },
    steps,
    context: [],
    history: { count: 0, rows: () => [] },
    analysis: undefined,
  }
}
