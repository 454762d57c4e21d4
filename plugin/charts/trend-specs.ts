import type { TopLevelSpec } from 'vega-lite'
import { axisScale, durationUnit, formatQuantity, metricQuantity } from '../format/numbers.ts'
import type { TrendRun } from '../store/run-data.ts'
import { BASE, drawableMs, durationEncoding, PLOT_WIDTH, TICK_LABEL, titleLines } from './spec-base.ts'

/**
 * The Vega-Lite specifications of the charts across a test id's recent runs (each numeric
 * metric's trend, each step's duration over the runs): plain functions from data to a spec,
 * the one place the documents (PNG, via render.ts) and the dashboard (SVG) take them from.
 * The charts of one run are in run-specs.ts.
 */

/** At most this many steps get a line in the durations over runs: more could not be told apart. */
export const MAX_TREND_STEPS = 10

/** A run's place on a trend's x axis: `#2 01-02 11:30` (its number, oldest first, and when it started). */
function runLabel(n: number, startTime: string): string {
  return `#${n} ${startTime.slice(5, 16).replace('T', ' ')}`
}

/** One run's value of a metric, for its trend. */
export interface MetricPoint {
  /** 1 for the oldest run shown. */
  n: number
  runId: string
  startTime: string
  value: number
  /** Whether this is the run the report is about. */
  current: boolean
}

/** The x axis of a metric's trend: one place per run, oldest first. */
const RUN_AXIS = {
  field: 'label',
  type: 'ordinal',
  sort: null,
  title: 'run (oldest first)',
  axis: { labelAngle: -30, labelLimit: 140 },
} as const

/** The y axis of a metric's trend: its unit (param `yUnit`) the title, whole ticks when its values are (`yMinStep`). */
const METRIC_AXIS = {
  field: 'value',
  type: 'quantitative',
  title: { signal: 'yUnit' },
  axis: { labelExpr: `${TICK_LABEL}(datum.value, yUnit)`, tickMinStep: { expr: 'yMinStep' } },
} as const

/**
 * A metric's value across the test id's recent runs, oldest first, the report's run the
 * marked point: the spec without its data (dataset `points`) and titles (params
 * `chartTitle`, `chartSubtitle`), which metricTrend gives. One Vega view draws every metric
 * in turn, with the data and titles changed (render.ts templateSvg): a view costs more than
 * the drawing.
 */
export const METRIC_TREND_TEMPLATE: TopLevelSpec = {
  ...BASE,
  params: [
    { name: 'chartTitle', value: '' },
    { name: 'chartSubtitle', value: '' },
    // The unit of the y axis ('' for a plain number), and 1 when its values are all whole (0 otherwise).
    { name: 'yUnit', value: '' },
    { name: 'yMinStep', value: 0 },
  ],
  // Vega-Lite hands the subtitle to Vega, which takes an expression there too; its types say text only.
  title: { text: { expr: 'chartTitle' }, subtitle: { expr: 'chartSubtitle' } as unknown as string },
  width: PLOT_WIDTH,
  height: 160,
  data: { name: 'points' },
  layer: [
    {
      mark: { type: 'line', color: '#2F5496', strokeWidth: 1.5 },
      encoding: { x: RUN_AXIS, y: METRIC_AXIS },
    },
    {
      mark: { type: 'point', filled: true, size: 50 },
      encoding: {
        x: RUN_AXIS,
        y: METRIC_AXIS,
        color: {
          field: 'which',
          type: 'nominal',
          title: null,
          scale: { domain: ['earlier runs', 'this run'], range: ['#2F5496', '#C00000'] },
          legend: { orient: 'bottom', direction: 'horizontal' },
        },
      },
    },
  ],
}

/** What METRIC_TREND_TEMPLATE draws for one metric: its points, in the unit of its axis, and its titles. */
export function metricTrend(
  metric: string,
  testId: string,
  points: readonly MetricPoint[],
): {
  data: { points: object[] }
  signals: { chartTitle: string[]; chartSubtitle: string; yUnit: string; yMinStep: number }
} {
  const current = points.find((point) => point.current)
  const quantity = metricQuantity(metric)
  const { unit, factor } = axisScale(quantity, Math.max(0, ...points.map((point) => Math.abs(point.value))))
  const values = points.map((point) => point.value * factor)
  return {
    data: {
      points: points.map((point, i) => ({
        ...point,
        value: values[i],
        label: runLabel(point.n, point.startTime),
        which: point.current ? 'this run' : 'earlier runs',
      })),
    },
    signals: {
      chartTitle: titleLines(metric),
      chartSubtitle: `${points.length} run${points.length === 1 ? '' : 's'} of ${testId}${current ? `; this run: ${formatQuantity(current.value, quantity)}` : ''}`,
      yUnit: unit,
      yMinStep: values.every(Number.isInteger) ? 1 : 0,
    },
  }
}

/**
 * Each step's duration across the test id's recent runs (oldest first), a line per step:
 * the MAX_TREND_STEPS slowest (by their longest run) when there are more.
 */
export function stepDurationTrendSpec(
  testId: string,
  runs: readonly TrendRun[],
): { spec: TopLevelSpec; note?: string } {
  const longest = new Map<string, number>()
  for (const run of runs)
    for (const step of run.steps)
      longest.set(step.step, Math.max(longest.get(step.step) ?? 0, drawableMs(step.durationMs)))
  const shown = new Set(
    [...longest]
      .sort((a, b) => b[1] - a[1])
      .slice(0, MAX_TREND_STEPS)
      .map(([step]) => step),
  )
  const { unit, per } = durationUnit(Math.max(0, ...longest.values()))
  const values = runs.flatMap((run, i) =>
    run.steps
      .filter((step) => shown.has(step.step))
      .map((step) => ({
        label: runLabel(i + 1, run.startTime),
        runId: run.runId,
        step: step.step,
        status: step.status,
        value: drawableMs(step.durationMs) / per,
      })),
  )
  const note = longest.size > shown.size ? `the ${shown.size} slowest of ${longest.size} steps` : undefined
  const x = { ...RUN_AXIS, scale: { domain: runs.map((run, i) => runLabel(i + 1, run.startTime)) } }
  const y = durationEncoding(
    unit,
    values.map((value) => value.value),
  )
  const color = { field: 'step', type: 'nominal', title: null, legend: { orient: 'bottom', columns: 4 } } as const
  const spec: TopLevelSpec = {
    ...BASE,
    title: {
      text: 'Step durations over runs',
      subtitle: [
        `${runs.length} run${runs.length === 1 ? '' : 's'} of ${testId}, a line per step`,
        ...(note ? [note] : []),
      ],
    },
    width: PLOT_WIDTH,
    height: 200,
    data: { values },
    layer: [
      { mark: { type: 'line', strokeWidth: 1.5 }, encoding: { x, y, color } },
      {
        mark: { type: 'point', filled: true, size: 30 },
        encoding: {
          x,
          y,
          color,
          tooltip: [
            { field: 'step', type: 'nominal' },
            { field: 'status', type: 'nominal' },
            { field: 'value', type: 'quantitative', title: unit },
          ],
        },
      },
    ],
  }
  return note === undefined ? { spec } : { spec, note }
}
