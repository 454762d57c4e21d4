import type Database from 'better-sqlite3'
import type { JsonValue } from '../context/json-value.ts'
import type { RunRow } from './run-data.ts'
import { numericMetrics } from './run-data.ts'

/** A finished run before the one analysed: its status and each step's figures. */
export interface PastRun {
  runId: string
  startTime: string
  status: string
  steps: PastStep[]
}

export interface PastStep {
  step: string
  status: string
  durationMs: number
  cpuMs: number
  peakRssBytes: number | null
  attempts: number
  /** The numeric metrics of its envelope (`latency.p99` flattened). */
  metrics: Record<string, number>
}

/**
 * The `limit` newest finished runs of the same test_id (of the same recipe when the run has
 * none) that started before `run`, newest first. Running runs are left out: their figures are
 * not final. Reads only the columns the analysis compares, through the (test_id|recipe,
 * start_time) indexes.
 */
export function readPastRuns(db: Database.Database, run: RunRow, limit: number): PastRun[] {
  const byTest = run.testId !== null
  const runs = db
    .prepare(
      `SELECT run_id AS runId, start_time AS startTime, status FROM runs
       WHERE ${byTest ? 'test_id' : 'recipe'} = ? AND run_id <> ? AND end_time IS NOT NULL AND status <> 'running'
         AND (start_time < ? OR (start_time = ? AND run_id < ?))
       ORDER BY start_time DESC, run_id DESC LIMIT ?`,
    )
    .all(byTest ? run.testId : run.recipe, run.runId, run.startTime, run.startTime, run.runId, limit) as Omit<
    PastRun,
    'steps'
  >[]
  // Only the envelope's metrics: envelopes can be large, and a 10k-step recipe has 20 runs of them here.
  const steps = db.prepare(
    `SELECT step, status, duration_ms AS durationMs, cpu_ms AS cpuMs, peak_rss_bytes AS peakRssBytes, attempts,
            CASE WHEN json_valid(envelope) THEN json_extract(envelope, '$.metrics') END AS metrics
     FROM step_metrics WHERE run_id = ?`,
  )
  return runs.map((past) => ({
    ...past,
    steps: (steps.all(past.runId) as (Omit<PastStep, 'metrics'> & { metrics: string | null })[]).map(
      ({ metrics, ...step }) => ({
        ...step,
        durationMs: step.durationMs ?? 0,
        cpuMs: step.cpuMs ?? 0,
        attempts: step.attempts ?? 1,
        metrics: metrics === null ? {} : numericMetrics({ envelope: { metrics: parseMetrics(metrics) } }),
      }),
    ),
  }))
}

function parseMetrics(text: string): JsonValue {
  try {
    return JSON.parse(text) as JsonValue
  } catch {
    return null
  }
}
