import { STATUS_COLORS } from '../format/run-format.ts'
import { textWidth } from './text-width.ts'

/**
 * What every chart spec shares (run-specs.ts: the charts of one run; trend-specs.ts: the
 * charts across runs): the look (font, plot width, title sizes, status colours), the number
 * axis, titles broken into lines, and durations a chart can draw.
 */

/** The fonts every chart asks for: DejaVu Sans where installed (resvg and Graphviz find it), else the system's sans-serif. */
export const CHART_FONT = 'DejaVu Sans, Liberation Sans, Arial, sans-serif'
/** Width of a chart's plot, in CSS pixels: with its axis labels it fits a Word page (6.25 in). */
export const PLOT_WIDTH = 440
/** Colour of a status STATUS_COLORS does not know. */
const OTHER_COLOR = '#D9D9D9'
/** Durations beyond this (ms, about 31,700 years) are drawn at it: a sum of huge values stays finite. */
const MAX_MS = 1e15

/** The size of a chart's title, in CSS pixels. */
const TITLE_SIZE = 13

/** What every chart's spec starts from: its schema, white background and padding, and the look above. */
export const BASE = {
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
export function drawableMs(ms: number): number {
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
export function numberAxis(unit: string, values: readonly number[]) {
  return {
    labelExpr: `${TICK_LABEL}(datum.value, ${JSON.stringify(unit)})`,
    ...(values.every(Number.isInteger) ? { tickMinStep: 1 } : {}),
  }
}

/** A quantitative encoding of the charts' `value` field, durations in `unit` (named in its title). */
export function durationEncoding(unit: string, values: readonly number[]) {
  return { field: 'value', type: 'quantitative', title: `duration (${unit})`, axis: numberAxis(unit, values) } as const
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
