import type { TopLevelSpec } from 'vega-lite'
import { axisScale, durationUnit, formatQuantity, metricQuantity } from '../format/numbers.ts'
import { formatMs, STATUS_COLORS } from '../format/run-format.ts'
import type { ShownStepRow, TrendRun } from '../store/run-data.ts'
import { textWidth } from './text-width.ts'

/**
 * The Vega-Lite specifications of the run charts: plain functions from data to a spec, the
 * one place the documents (PNG, via render.ts) and the dashboard (SVG) take them from.
 */

/** The fonts every chart asks for: DejaVu Sans where installed (resvg and Graphviz find it), else the system's sans-serif. */
export const CHART_FONT = 'DejaVu Sans, Liberation Sans, Arial, sans-serif'
/** Width of a chart's plot, in CSS pixels: with its axis labels it fits a Word page (6.25 in). */
const PLOT_WIDTH = 440
/** At most this many steps get a bar; a longer run shows its slowest ones, in recipe order. */
export const MAX_DURATION_BARS = 60
/** At most this many steps get a line in the durations over runs: more could not be told apart. */
export const MAX_TREND_STEPS = 10
/** Colour of the part of a step's time its attempts do not account for: waits between retries. */
const WAIT_COLOR = '#A6A6A6'
/** Colour of a status STATUS_COLORS does not know. */
const OTHER_COLOR = '#D9D9D9'
/** Durations beyond this (ms, about 31,700 years) are drawn at it: a sum of huge values stays finite. */
const MAX_MS = 1e15

/** The size of a chart's title, in CSS pixels. */
const TITLE_SIZE = 13

const BASE = {
  $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
  background: 'white',
  padding: 8,
  config: {
    font: CHART_FONT,
    view: { stroke: null },
    axis: { labelFontSize: 10, titleFontSize: 11, labelColor: '#404040', titleColor: '#404040' },
    legend: { labelFontSize: 10, titleFontSize: 10 },
    title: { fontSize: TITLE_SIZE, subtitleFontSize: 10, subtitleColor: '#595959', anchor: 'start' },
  },
} as const

/** A status's fill colour, as the tables of the documents colour it. */
export function statusColor(status: string): string {
  const color = STATUS_COLORS[status]
  return color ? `#${color}` : OTHER_COLOR
}

/** A duration a chart can draw: NaN, negative and infinite are 0, huge is capped. */
function drawableMs(ms: number): number {
  return Number.isFinite(ms) && ms > 0 ? Math.min(ms, MAX_MS) : 0
}

/**
 * The Vega expression function writing a tick label as people write numbers (render.ts
 * registers it; format/numbers.ts formatTick): `recipesTick(value, unit)`.
 */
export const TICK_LABEL = 'recipesTick'
/** Widest line of a chart's title, in CSS pixels: a longer title (a metric's name) is broken into lines. */
const TITLE_LINE = 560

/**
 * A quantitative axis's look: its tick labels as people write numbers, in `unit` (named in
 * the axis title, not at each tick); whole ticks only when every value it shows is whole.
 */
function numberAxis(unit: string, values: readonly number[]) {
  return {
    labelExpr: `${TICK_LABEL}(datum.value, ${JSON.stringify(unit)})`,
    ...(values.every(Number.isInteger) ? { tickMinStep: 1 } : {}),
  }
}

/** A title as lines no wider than TITLE_LINE, each broken after a `.`, `_`, `-` or space where one is in its second half. */
export function titleLines(text: string): string[] {
  const lines: string[] = []
  // By characters, not UTF-16 units: a line never ends inside one.
  let rest = Array.from(text)
  const width = (chars: string[]) => textWidth(chars.join(''), TITLE_SIZE)
  while (width(rest) > TITLE_LINE) {
    let fits = 1
    while (fits < rest.length && width(rest.slice(0, fits + 1)) <= TITLE_LINE) fits++
    const head = rest.slice(0, fits)
    const at = Math.max(...['.', '_', '-', ' '].map((mark) => head.lastIndexOf(mark)))
    const cut = at >= fits / 2 ? at + 1 : fits
    lines.push(rest.slice(0, cut).join(''))
    rest = rest.slice(cut)
  }
  lines.push(rest.join(''))
  return lines
}

/** A step's time cut into its attempts, in order, then the wait its attempts leave over. */
export function durationSegments(step: ShownStepRow): { part: string; kind: string; ms: number }[] {
  const total = drawableMs(step.durationMs)
  const attempts = step.attemptLog
  if (attempts.length === 0) return [{ part: step.status, kind: step.status, ms: total }]
  const segments: { part: string; kind: string; ms: number }[] = attempts.map((attempt, i) => ({
    part: `attempt ${attempt.attempt}`,
    // The last attempt ends the step: it shows the step's status (expected-error, setup…), earlier ones how they ended.
    kind: i === attempts.length - 1 ? step.status : attempt.status,
    ms: drawableMs(attempt.durationMs),
  }))
  const wait = total - segments.reduce((sum, segment) => sum + segment.ms, 0)
  // Clock rounding leaves crumbs: only a wait worth a pixel-ish (over 1 % and 1 ms) is drawn.
  if (wait > 1 && wait > total / 100) segments.push({ part: 'wait', kind: WAIT_KIND, ms: wait })
  return segments
}

/** The text beside a step's bar: its time, its attempts and wait, or why it has none. */
function barLabel(step: ShownStepRow, segments: { part: string; ms: number }[]): string {
  if (step.attempts === 0 && drawableMs(step.durationMs) === 0) return step.status
  const parts = [formatMs(drawableMs(step.durationMs))]
  if (step.attemptLog.length > 1) parts.push(`${step.attemptLog.length} attempts`)
  const wait = segments.find((segment) => segment.part === 'wait')
  if (wait) parts.push(`waited ${formatMs(wait.ms)}`)
  return parts.join(' · ')
}

/**
 * Each step as a bar, a lane (row) per step in recipe order. When the steps' start times are
 * stored (schema 9 on), the bars sit on the run's clock: each from where the step began to
 * where it ended, its attempts where they ran and the back-off between them, so steps that
 * ran side by side overlap on the x axis, each on its lane; a step that did not run sits where
 * the one before it ended. A run stored without start times is drawn as before: each step's
 * time from 0, cut into its attempts (coloured by how each ended) and the wait they leave
 * over. Steps that did not run get their status as a label. A run of more than
 * MAX_DURATION_BARS steps shows its slowest.
 */
export function stepDurationsSpec(steps: readonly ShownStepRow[]): { spec: TopLevelSpec; note?: string } {
  const shown =
    steps.length <= MAX_DURATION_BARS
      ? steps
      : [...steps]
          .sort((a, b) => drawableMs(b.durationMs) - drawableMs(a.durationMs))
          .slice(0, MAX_DURATION_BARS)
          .sort((a, b) => a.idx - b.idx)
  const note =
    steps.length > shown.length
      ? `the ${shown.length} slowest of ${steps.length} steps, in recipe order; report.xlsx (sheet Steps) has every step`
      : undefined
  const timed = shown.some((step) => startMs(step.startTime) !== undefined)
  const spec = timed ? timelineSpec(steps.length, shown, note) : durationsSpec(steps.length, shown, note)
  return note === undefined ? { spec } : { spec, note }
}

/** A stored time (ISO) as ms since the epoch; undefined when there is none or it does not parse. */
function startMs(time: string | null | undefined): number | undefined {
  if (!time) return undefined
  const ms = Date.parse(time)
  return Number.isFinite(ms) ? ms : undefined
}

/** The steps' lane labels: `2. port_a`. */
function laneOf(step: ShownStepRow): string {
  return `${step.idx}. ${step.step}`
}

/** The y axis of the step charts: a lane per step, in the order given. */
const LANES = { field: 'row', type: 'nominal', sort: null, title: null, axis: { labelLimit: 180 } } as const

/** The colour scale of the step charts: a status's colour, grey for the waits. */
function kindColors(kinds: readonly string[]) {
  return {
    field: 'kind',
    type: 'nominal',
    title: null,
    scale: {
      domain: [...kinds],
      range: kinds.map((kind) => (kind === WAIT_KIND ? WAIT_COLOR : statusColor(kind))),
    },
    legend: { orient: 'bottom', direction: 'horizontal' },
  } as const
}

const WAIT_KIND = 'wait / back-off'

/** Each step's time from 0 (a run stored without start times), its attempts stacked, then their wait. */
function durationsSpec(total: number, shown: readonly ShownStepRow[], note: string | undefined): TopLevelSpec {
  const { unit, per } = durationUnit(Math.max(0, ...shown.map((step) => drawableMs(step.durationMs))))
  const segments: { row: string; part: string; kind: string; value: number; order: number }[] = []
  const labels: { row: string; value: number; text: string }[] = []
  for (const step of shown) {
    const row = laneOf(step)
    const parts = durationSegments(step)
    parts.forEach((part, order) => {
      segments.push({ row, part: part.part, kind: part.kind, value: part.ms / per, order })
    })
    labels.push({ row, value: drawableMs(step.durationMs) / per, text: barLabel(step, parts) })
  }
  return laneChart(
    `${total} step${total === 1 ? '' : 's'}: each attempt in order, then the wait between retries`,
    note,
    segments,
    {
      x: {
        field: 'value',
        type: 'quantitative',
        stack: 'zero',
        title: `duration (${unit})`,
        axis: numberAxis(
          unit,
          labels.map((label) => label.value),
        ),
      },
      order: { field: 'order', type: 'quantitative' },
    },
    labels,
  )
}

/** A part of a step on the run's clock: from and to in ms since the first step began. */
interface ClockSegment {
  part: string
  kind: string
  from: number
  to: number
}

/**
 * A step's parts on the run's clock, from `origin`: each attempt where it ran (attempts of
 * older rows, without a start, one after the other) and the back-off between them; a step
 * without attempts one bar in its status; one without a start at `after` (where the one
 * before it ended), as long as it took.
 */
export function clockSegments(step: ShownStepRow, origin: number, after: number): ClockSegment[] {
  const stepStart = startMs(step.startTime)
  const from = stepStart === undefined ? after : Math.max(0, stepStart - origin)
  const attempts = step.attemptLog
  if (attempts.length === 0)
    return [{ part: step.status, kind: step.status, from, to: from + drawableMs(step.durationMs) }]
  const segments: ClockSegment[] = []
  let cursor = from
  attempts.forEach((attempt, i) => {
    const began = startMs(attempt.startTime)
    const at = began === undefined ? cursor : Math.max(cursor, began - origin)
    if (at - cursor > 1) segments.push({ part: 'wait', kind: WAIT_KIND, from: cursor, to: at })
    const end = at + drawableMs(attempt.durationMs)
    segments.push({
      part: `attempt ${attempt.attempt}`,
      // The last attempt ends the step: it shows the step's status (expected-error, setup…), earlier ones how they ended.
      kind: i === attempts.length - 1 ? step.status : attempt.status,
      from: at,
      to: end,
    })
    cursor = end
  })
  return segments
}

/** Each step from its start to its end on the run's clock, a lane per step: steps side by side overlap. */
function timelineSpec(total: number, shown: readonly ShownStepRow[], note: string | undefined): TopLevelSpec {
  const origin = Math.min(...shown.flatMap((step) => startMs(step.startTime) ?? []))
  const placed: { step: ShownStepRow; parts: ClockSegment[] }[] = []
  let after = 0
  for (const step of shown) {
    const parts = clockSegments(step, origin, after)
    placed.push({ step, parts })
    after = parts.at(-1)!.to
  }
  const { unit, per } = durationUnit(Math.max(0, ...placed.map(({ parts }) => parts.at(-1)!.to)))
  const segments: { row: string; part: string; kind: string; start: number; end: number }[] = []
  const labels: { row: string; value: number; text: string }[] = []
  for (const { step, parts } of placed) {
    const row = laneOf(step)
    for (const part of parts)
      segments.push({ row, part: part.part, kind: part.kind, start: part.from / per, end: part.to / per })
    const waited = parts.filter((part) => part.kind === WAIT_KIND).reduce((sum, part) => sum + part.to - part.from, 0)
    labels.push({
      row,
      value: parts.at(-1)!.to / per,
      text: barLabel(step, waited > 0 ? [{ part: 'wait', ms: waited }] : []),
    })
  }
  return laneChart(
    `${total} step${total === 1 ? '' : 's'} on the run's clock, a lane each: steps that ran side by side overlap`,
    note,
    segments,
    {
      x: {
        field: 'start',
        type: 'quantitative',
        title: `time since the first step started (${unit})`,
        axis: numberAxis(unit, [...segments.flatMap((segment) => [segment.start, segment.end])]),
      },
      x2: { field: 'end' },
    },
    labels,
  )
}

/**
 * The step-durations chart: a lane per step, its parts as bars coloured by kind (placed by
 * `placement`, the x encoding), and a label after each lane's last bar.
 */
function laneChart(
  subtitle: string,
  note: string | undefined,
  segments: readonly { kind: string }[],
  placement: Record<string, unknown>,
  labels: readonly { row: string; value: number; text: string }[],
): TopLevelSpec {
  const kinds = [...new Set(segments.map((segment) => segment.kind))]
  return {
    ...BASE,
    title: { text: 'Step durations', subtitle: [subtitle, ...(note ? [note] : [])] },
    width: PLOT_WIDTH,
    height: { step: 18 },
    layer: [
      {
        data: { values: segments as object[] },
        mark: { type: 'bar', stroke: '#7F7F7F', strokeWidth: 0.5 },
        encoding: { y: LANES, ...placement, color: kindColors(kinds) },
      },
      {
        data: { values: labels as object[] },
        mark: { type: 'text', align: 'left', dx: 4, fontSize: 10, color: '#404040' },
        encoding: { y: LANES, x: { field: 'value', type: 'quantitative' }, text: { field: 'text', type: 'nominal' } },
      },
    ],
  } as TopLevelSpec
}

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
  const y = {
    field: 'value',
    type: 'quantitative',
    title: `duration (${unit})`,
    axis: numberAxis(
      unit,
      values.map((value) => value.value),
    ),
  } as const
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
