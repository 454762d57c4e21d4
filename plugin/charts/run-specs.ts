import type { TopLevelSpec } from 'vega-lite'
import { durationUnit } from '../format/numbers.ts'
import { formatMs } from '../format/run-format.ts'
import type { ShownStepRow } from '../store/run-data.ts'
import { BASE, drawableMs, durationEncoding, numberAxis, PLOT_WIDTH, statusColor } from './spec-base.ts'

/**
 * The Vega-Lite specifications of the charts of one run (its step durations, each step's
 * attempts and waits, on the run's clock when its steps' start times are stored): plain
 * functions from data to a spec, the one place the documents (PNG, via render.ts) and the
 * dashboard (SVG) take them from. The charts across runs are in trend-specs.ts.
 */

/** At most this many steps get a bar; a longer run shows its slowest ones, in recipe order. */
export const MAX_DURATION_BARS = 60
/** Colour of the part of a step's time its attempts do not account for: waits between retries. */
const WAIT_COLOR = '#A6A6A6'

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
        ...durationEncoding(
          unit,
          labels.map((label) => label.value),
        ),
        stack: 'zero',
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
