import type { RunData, StepRow, StepStatus } from '../store/run-data.ts'

/** Steps of the sample run: enough for the writers' per-row code to be compiled by the time it ends. */
const SAMPLE_STEPS = 40
const STATUSES: StepStatus[] = ['passed', 'failed', 'blocked', 'skipped', 'setup', 'expected-error', 'cached', 'passed']

/**
 * A made-up run with every kind of row the documents show (statuses, reasons, attempts,
 * metrics, outputs, params, ctx, history, analysis). Writing it once while the tests run
 * warms the writers up: their first real document would otherwise run cold, several times
 * slower than the next ones.
 */
export function sampleRun(): RunData {
  const steps = Array.from({ length: SAMPLE_STEPS }, (_, i): StepRow => {
    const status = STATUSES[i % STATUSES.length]!
    // Side by side in pairs, as parallel steps are: each pair starts together.
    const at = (ms: number) => new Date(Date.UTC(2026, 0, 1) + Math.floor(i / 2) * 20 + ms).toISOString()
    const ran = status !== 'blocked' && status !== 'skipped'
    return {
      step: `step_${i}`,
      idx: i + 1,
      status,
      durationMs: 1.5 * i,
      startTime: ran ? at(0) : null,
      cpuMs: i,
      peakRssBytes: i % 3 ? 50_000_000 + i : null,
      exitCode: status === 'failed' ? 1 : null,
      attempts: i % 5 === 0 ? 2 : 1,
      attemptLog:
        i % 5 === 0
          ? [
              { attempt: 1, status: 'failed', reason: 'timed out', durationMs: 1, startTime: at(0) },
              { attempt: 2, status: 'passed', durationMs: 2, startTime: at(5) },
            ]
          : [],
      reason: status === 'passed' ? null : `sample ${status} reason`,
      logPath: `Logs/step_${i}.log`,
      params: { port: i, mode: 'fast', tags: ['a', 'b'] },
      envelope: { status: 'ok', outputs: [`sample.key_${i}_v1`], metrics: { latency_ms: i / 2, nested: { p99: i } } },
    }
  })
  const context = steps.map((step, i) => ({
    key: `sample.key_${i}_v1`,
    value: { value: i, unit: 'ms', samples: [i, i + 1] },
    who: step.step,
    ts: '2026-01-01T00:00:00.000Z',
  }))
  return {
    run: {
      runId: 'sample',
      testId: 'SAMPLE-1',
      recipe: 'recipes/sample.yaml',
      startTime: '2026-01-01T00:00:00.000Z',
      endTime: '2026-01-01T00:00:01.000Z',
      status: 'failed',
      host: 'sample',
      vitestVersion: 'sample',
      metadata: { test_meta: { test_id: 'SAMPLE-1', description: 'sample', tester: 'sample', tags: ['sample'] } },
    },
    steps,
    context,
    history: {
      count: context.length,
      rows: () =>
        context.map((row, i) => ({
          seq: i + 1,
          key: row.key,
          who: row.who,
          ts: row.ts,
          step: row.who,
          before: undefined,
          after: row.value,
        })),
    },
    analysis: { summaryText: 'Run failed: sample.\nSlowest step: sample.', metrics: { steps: SAMPLE_STEPS } },
  }
}
