import type { JsonObject } from '../context/json-value.ts'
import { numericMetrics, type AnalysisRow, type RunData } from '../store/run-data.ts'
import { describeAttempts, formatMs, runDurationMs, statusCounts } from '../format/run-format.ts'
import { cutText } from '../format/document-text.ts'

/** A ctx key holding a summary a recipe wrote itself; it leads the analysis when present. */
export const SUMMARY_KEY = 'analysis.summary_v1'

/**
 * The rule-based analysis of a run, from its stored rows only: what ended how, what failed
 * and why, where the time went, and every numeric metric the steps reported. Raw figures,
 * no guesses: a reader can check each sentence against the Steps table.
 */
export function analyzeRun(data: RunData): AnalysisRow {
  const lines: string[] = []
  const own = data.context.find((row) => row.key === SUMMARY_KEY)?.value
  if (typeof own === 'string' && own.trim()) lines.push(own.trim())

  const counts = statusCounts(data)
  const total = data.steps.length
  const duration = runDurationMs(data)
  lines.push(
    `Run ${data.run.status}: ${total} step${total === 1 ? '' : 's'} recorded (${counts.map(([status, n]) => `${n} ${status}`).join(', ') || 'none'})${duration === undefined ? '' : ` in ${formatMs(duration)}`}.`,
  )
  for (const step of data.steps.filter((row) => row.status === 'failed')) {
    lines.push(
      `Step ${step.step} failed${step.exitCode === null ? '' : ` (exit ${step.exitCode})`}: ${step.reason === null ? 'no reason recorded' : quotedReason(step.reason)}${step.attempts > 1 ? ` after ${step.attempts} attempts (${describeAttempts(step)})` : ''}.`,
    )
  }
  const blocked = data.steps.filter((row) => row.status === 'blocked')
  if (blocked.length > 0) lines.push(`Blocked by an earlier step: ${blocked.map((row) => row.step).join(', ')}.`)
  const ran = data.steps.filter((row) => row.durationMs > 0)
  const stepTime = ran.reduce((sum, row) => sum + row.durationMs, 0)
  const slowest = [...ran].sort((a, b) => b.durationMs - a.durationMs)[0]
  if (slowest && stepTime > 0) {
    lines.push(
      `Slowest step: ${slowest.step}, ${formatMs(slowest.durationMs)} (${((100 * slowest.durationMs) / stepTime).toFixed(0)}% of step time).`,
    )
  }
  const retried = data.steps.filter((row) => row.attempts > 1 && row.status !== 'failed')
  if (retried.length > 0)
    lines.push(
      `Passed after retrying: ${retried
        .map(
          (row) => `${row.step} (${row.attempts} attempts${row.attemptLog.length ? `: ${describeAttempts(row)}` : ''})`,
        )
        .join(', ')}.`,
    )
  if (data.run.status === 'blocked')
    lines.push('The run is blocked: no step failed, but steps could not run because a step they need was skipped.')
  if (data.run.status === 'interrupted')
    lines.push('The run was interrupted: the steps after the last one recorded did not report.')

  const stepMetrics: JsonObject = {}
  for (const step of data.steps) {
    const metrics = numericMetrics(step)
    if (Object.keys(metrics).length > 0) stepMetrics[step.step] = metrics
  }
  return {
    summaryText: lines.join('\n'),
    metrics: {
      status: data.run.status,
      steps: total,
      counts: Object.fromEntries(counts),
      duration_ms: duration ?? null,
      step_time_ms: stepTime,
      step_metrics: stepMetrics,
    },
  }
}

/** The longest reason the analysis quotes: the Steps table (and the store) has it whole. */
const QUOTED_REASON_MAX = 500

/** A step's reason as a sentence of the analysis quotes it: on one line (a line of the analysis is one fact), cut. */
function quotedReason(reason: string): string {
  return cutText(reason.replace(/\s*(?:\r\n?|\n)\s*/g, ' '), QUOTED_REASON_MAX)
}
