import type { JsonObject } from '../context/json-value.ts'
import { formatBytes, formatMs } from '../format/run-format.ts'
import type { PastRun, PastStep } from '../store/past-runs.ts'
import { comparableStatus, sameSelection, selectionOf } from '../store/run-selection.ts'
import { numericMetrics, type RunData, type StepRow } from '../store/run-data.ts'
import { type Baseline, baselineOf, robustZ } from './baseline.ts'

export interface HeuristicOptions {
  /** Fewer earlier passing runs than this: no value is called an anomaly (at least 5). */
  minRuns: number
  /** |modified z-score| above which a value is an anomaly. */
  threshold: number
}

/** One figure of this run outside its history. */
export interface Anomaly {
  step: string
  /** duration_ms, cpu_ms, peak_rss_bytes, or the metric's name. */
  measure: string
  kind: 'duration' | 'metric' | 'resource'
  value: number
  median: number
  mad: number
  /** Earlier passing runs the baseline comes from. */
  runs: number
  /** Modified z-score (±Infinity when every earlier value was the same). */
  z: number
}

export interface HeuristicFindings {
  /** Plain sentences, each with the numbers behind it. */
  lines: string[]
  /** The same, as data (the analysis row's `heuristic` metrics). */
  data: JsonObject
}

/** Statuses whose duration and figures are a real execution of the step (setup: run for a selected step). */
const EXECUTED = new Set(['passed', 'setup', 'failed', 'expected-error'])
/** Below these, a change is noise whatever its z-score: timer and allocator jitter. */
const ABSOLUTE_FLOOR: Record<string, number> = { duration_ms: 10, cpu_ms: 10, peak_rss_bytes: 8 * 1024 * 1024 }
/** A change smaller than this share of the median is never an anomaly. */
const RELATIVE_FLOOR = 0.1
/** A resource hog uses at least this many times its usual CPU time or peak memory. */
const HOG_RATIO = 1.5

/**
 * The heuristic part of a run's analysis: every step's duration, CPU time, peak memory and
 * numeric metric against the same step in the earlier passing runs of its test_id (median and
 * MAD, anomalies only from `minRuns` runs on), new failures and fixed steps against the
 * previous finished run, flaky steps (passed only after retries, here or in the history) and
 * resource hogs. `past` is newest first and may hold runs of any status; only those that ran
 * the same steps are compared (the whole recipe, or the same -t selection), and a step run as
 * setup counts as passed.
 */
export function heuristicFindings(
  data: RunData,
  past: readonly PastRun[],
  options: HeuristicOptions,
): HeuristicFindings {
  const selection = selectionOf(data.run.metadata)
  const subject = `${data.run.testId ?? data.run.recipe}${selection ? ` (-t ${selection.selected.join(', ')})` : ''}`
  const comparable = past.filter((run) => sameSelection(run.selection, selection))
  const passing = comparable.filter((run) => run.status === 'passed')
  const lines: string[] = []
  const anomalies: Anomaly[] = []
  let compared = 0

  if (comparable.length === 0)
    lines.push(`No history: this is the first finished run of ${subject} in this store, so nothing is compared.`)
  else if (passing.length < options.minRuns)
    lines.push(
      `Only ${passing.length} earlier passing run${passing.length === 1 ? '' : 's'} of ${subject}: ${options.minRuns} are needed before a value is called an anomaly.`,
    )
  else {
    // Each step's passing executions in the baseline runs, found by name once (recipes run 10k steps).
    const passed = groupByStep(
      passing.flatMap((run) => run.steps.filter((step) => comparableStatus(step.status) === 'passed')),
    )
    for (const step of data.steps) {
      if (!EXECUTED.has(step.status) || step.durationMs <= 0) continue
      const history = passed.get(step.step) ?? []
      if (history.length < options.minRuns) continue
      for (const [measure, value, kind, pick] of measuresOf(step)) {
        const baseline = baselineOf(history.map(pick).filter((item): item is number => item !== undefined))
        if (!baseline || baseline.n < options.minRuns) continue
        compared++
        const anomaly = judge(step.step, measure, kind, value, baseline, options.threshold)
        if (anomaly) anomalies.push(anomaly)
      }
    }
  }

  const previous = comparable[0]
  const newFailures: string[] = []
  const fixed: string[] = []
  if (previous) {
    const before = new Map(previous.steps.map((step) => [step.step, comparableStatus(step.status)]))
    for (const step of data.steps) {
      const was = before.get(step.step)
      const now = comparableStatus(step.status)
      if (now === 'failed' && was === 'passed') newFailures.push(step.step)
      if (now === 'passed' && was === 'failed') fixed.push(step.step)
    }
  }
  const flaky = flakySteps(data.steps, comparable)
  const hogs = anomalies.filter((anomaly) => anomaly.kind === 'resource')

  if (passing.length >= options.minRuns)
    lines.push(
      `Compared with the ${passing.length} latest passing runs of ${subject} (median and MAD of each figure; an anomaly is a robust z beyond ±${options.threshold}): ${compared} figure${compared === 1 ? '' : 's'}, ${anomalies.length === 0 ? 'all within their history' : `${anomalies.length} outside`}.`,
    )
  for (const anomaly of anomalies.filter((item) => item.kind !== 'resource'))
    lines.push(`Anomaly: ${describe(anomaly)}.`)
  for (const hog of hogs) lines.push(`Resource hog: ${describe(hog)}.`)
  if (previous) {
    const when = `the previous run (${previous.runId}, ${previous.status})`
    for (const step of newFailures) lines.push(`New failure: ${step} failed; it passed in ${when}.`)
    for (const step of fixed) lines.push(`Fixed: ${step} passed; it failed in ${when}.`)
  }
  for (const item of flaky) lines.push(`Flaky: ${item.sentence}.`)

  return {
    lines: lines.map((line) => `Heuristic: ${line}`),
    data: {
      subject,
      history_runs: comparable.length,
      baseline_runs: passing.length,
      min_runs: options.minRuns,
      threshold: options.threshold,
      compared,
      anomalies: anomalies.map((anomaly) => ({
        ...anomaly,
        z: Number.isFinite(anomaly.z) ? Number(anomaly.z.toFixed(2)) : anomaly.z > 0 ? 'inf' : '-inf',
      })),
      new_failures: newFailures,
      fixed,
      flaky: flaky.map(({ step, attempts, inHistory, historyRuns }) => ({
        step,
        attempts,
        in_history: inHistory,
        history_runs: historyRuns,
      })),
      resource_hogs: hogs.map((hog) => `${hog.step}:${hog.measure}`),
    },
  }
}

type Measure = [name: string, value: number, kind: Anomaly['kind'], pick: (step: PastStep) => number | undefined]

/** The figures of a step that have a history: duration, CPU, peak memory, and its numeric metrics. */
function measuresOf(step: StepRow): Measure[] {
  const measures: Measure[] = [['duration_ms', step.durationMs, 'duration', (past) => past.durationMs]]
  if (step.cpuMs > 0)
    measures.push(['cpu_ms', step.cpuMs, 'resource', (past) => (past.cpuMs > 0 ? past.cpuMs : undefined)])
  if (step.peakRssBytes !== null && step.peakRssBytes > 0)
    measures.push([
      'peak_rss_bytes',
      step.peakRssBytes,
      'resource',
      (past) => (past.peakRssBytes !== null && past.peakRssBytes > 0 ? past.peakRssBytes : undefined),
    ])
  for (const [name, value] of Object.entries(numericMetrics(step)))
    measures.push([name, value, 'metric', (past) => past.metrics[name]])
  return measures
}

function judge(
  step: string,
  measure: string,
  kind: Anomaly['kind'],
  value: number,
  baseline: Baseline,
  threshold: number,
): Anomaly | undefined {
  const z = robustZ(value, baseline)
  const change = Math.abs(value - baseline.median)
  if (Math.abs(z) <= threshold) return undefined
  if (change < RELATIVE_FLOOR * Math.abs(baseline.median) || change < (ABSOLUTE_FLOOR[measure] ?? 0)) return undefined
  // CPU and memory only matter when they grow well beyond their usual figure.
  if (kind === 'resource' && !(value >= HOG_RATIO * baseline.median)) return undefined
  return { step, measure, kind, value, median: baseline.median, mad: baseline.mad, runs: baseline.n, z }
}

function describe(anomaly: Anomaly): string {
  const show = (value: number) =>
    anomaly.measure === 'duration_ms' || anomaly.measure === 'cpu_ms'
      ? formatMs(value)
      : anomaly.measure === 'peak_rss_bytes'
        ? formatBytes(value)
        : String(Number(value.toPrecision(6)))
  const label =
    anomaly.measure === 'duration_ms'
      ? 'took'
      : anomaly.measure === 'cpu_ms'
        ? 'used CPU time'
        : anomaly.measure === 'peak_rss_bytes'
          ? 'peaked at'
          : `reported ${anomaly.measure} =`
  const size =
    anomaly.median === 0
      ? `${anomaly.value > 0 ? '+' : ''}${show(anomaly.value - anomaly.median)} from 0`
      : `${anomaly.value >= anomaly.median ? '+' : ''}${((100 * (anomaly.value - anomaly.median)) / Math.abs(anomaly.median)).toFixed(0)}%`
  const z = Number.isFinite(anomaly.z) ? anomaly.z.toFixed(1) : 'unbounded (every earlier value was the same)'
  return `step ${anomaly.step} ${label} ${show(anomaly.value)}, against a median of ${show(anomaly.median)} (MAD ${show(anomaly.mad)}) over ${anomaly.runs} passing runs: ${size}, robust z ${z}`
}

interface Flaky {
  step: string
  attempts: number
  /** Earlier runs in which the step passed only after a retry or failed. */
  inHistory: number
  historyRuns: number
  sentence: string
}

/** Steps that passed here only after retrying; with how often they wavered in the history. */
function flakySteps(steps: readonly StepRow[], past: readonly PastRun[]): Flaky[] {
  const retried = steps.filter((step) => comparableStatus(step.status) === 'passed' && step.attempts > 1)
  if (retried.length === 0) return []
  const byStep = groupByStep(past.flatMap((run) => run.steps))
  return retried.map((step) => {
    const earlier = byStep.get(step.step) ?? []
    const wavered = earlier.filter(
      (item) => item.status === 'failed' || (comparableStatus(item.status) === 'passed' && item.attempts > 1),
    )
    const history =
      earlier.length === 0
        ? 'no earlier run to compare'
        : `it failed or needed a retry in ${wavered.length} of its ${earlier.length} earlier runs`
    return {
      step: step.step,
      attempts: step.attempts,
      inHistory: wavered.length,
      historyRuns: earlier.length,
      sentence: `${step.step} passed only on attempt ${step.attempts}; ${history}`,
    }
  })
}

function groupByStep(steps: readonly PastStep[]): Map<string, PastStep[]> {
  const groups = new Map<string, PastStep[]>()
  for (const step of steps) {
    const group = groups.get(step.step)
    if (group) group.push(step)
    else groups.set(step.step, [step])
  }
  return groups
}
