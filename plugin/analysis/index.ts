import type { JsonObject, JsonValue } from '../context/json-value.ts'
import { numericMetrics, type AnalysisRow, type RunData } from '../store/run-data.ts'
import type { RunStore } from '../store/run-store.ts'
import { askForSummary } from './ai-summary.ts'
import { heuristicFindings } from './heuristics.ts'
import { type AnalysisOptions, DEFAULT_ANALYSIS, MIN_RUNS_FLOOR } from './options.ts'
import { analyzeRun } from './run-summary.ts'

export { type AiOptions, DEFAULT_AI_TIMEOUT_MS } from './ai-summary.ts'
export { type AnalysisOptions, analysisProblems, DEFAULT_ANALYSIS } from './options.ts'
export { analyzeRun, SUMMARY_KEY } from './run-summary.ts'

/** The steps sent to the AI endpoint at most: failed ones first, then the slowest. */
const AI_STEPS = 200

/**
 * The analysis of a stored run: what ended how (run-summary.ts), then each figure against the
 * same test_id's history (heuristics.ts), then, when configured, the AI summary of both
 * (given up at `aiUntil`, performance.now() time, when several runs share one wait).
 */
export async function analyzeStoredRun(
  store: RunStore,
  data: RunData,
  options: AnalysisOptions = {},
  aiUntil?: number,
): Promise<AnalysisRow> {
  const summary = analyzeRun(data)
  const past = await store.pastRuns(data.run, options.history ?? DEFAULT_ANALYSIS.history)
  const heuristic = heuristicFindings(data, past, {
    minRuns: Math.max(MIN_RUNS_FLOOR, options.minRuns ?? DEFAULT_ANALYSIS.minRuns),
    threshold: options.threshold ?? DEFAULT_ANALYSIS.threshold,
  })
  const analysis: AnalysisRow = {
    summaryText: [summary.summaryText, ...heuristic.lines].join('\n'),
    metrics: { ...summary.metrics, heuristic: heuristic.data },
  }
  if (options.ai) analysis.ai = await askForSummary(options.ai, aiPayload(data, analysis), process.env, aiUntil)
  return analysis
}

/** What the AI endpoint is told: the stored run's facts (secrets already masked), no logs, no ctx values. */
function aiPayload(data: RunData, analysis: AnalysisRow): JsonObject {
  const order = (status: string) => (status === 'failed' ? 0 : status === 'passed' ? 2 : 1)
  const steps = [...data.steps]
    .sort((a, b) => order(a.status) - order(b.status) || b.durationMs - a.durationMs)
    .slice(0, AI_STEPS)
    .sort((a, b) => a.idx - b.idx)
  return {
    run: {
      test_id: data.run.testId,
      recipe: data.run.recipe,
      status: data.run.status,
      host: data.run.host,
      start_time: data.run.startTime,
      end_time: data.run.endTime,
    },
    steps: steps.map((step) => {
      const row: { [key: string]: JsonValue } = {
        step: step.step,
        status: step.status,
        duration_ms: Math.round(step.durationMs),
        attempts: step.attempts,
      }
      if (step.reason) row.reason = step.reason.slice(0, 500)
      if (step.exitCode !== null) row.exit_code = step.exitCode
      const metrics = numericMetrics(step)
      if (Object.keys(metrics).length > 0) row.metrics = metrics
      return row
    }),
    steps_left_out: data.steps.length - steps.length,
    analysis: analysis.summaryText,
    heuristic: analysis.metrics.heuristic ?? null,
  }
}
