import { describe, expect, test } from 'vitest'
import { type Chart, renderRunCharts, renderTrendChartSvg, trendChartList } from '../../plugin/charts/index.ts'
import { svgPng } from '../../plugin/charts/render.ts'
import type { TrendRun } from '../../plugin/store/run-data.ts'
import { inkAtEdges } from './png.ts'
import { runOf, stepRow } from './steps.ts'

/**
 * Every chart kind fits its picture: nothing drawn (title, axis labels, legend) is cut at the
 * edge of the PNG the documents embed, whatever the names and numbers; and the axes write
 * numbers as people do (no 1e+3, whole numbers on a count's axis, the unit in the title).
 */

const LONG_STEP = 'configure_the_device_under_test_with_the_WWW_MMM_profile_漢字'
const LONG_METRIC = 'a_rather_long_metric_name_for_the_wireless_mesh_throughput_measured_over_the_window_gbps'

/** Metric values per run, oldest first; the last one is this run's. */
const SERIES: Record<string, number[]> = {
  up: [0, 1, 0, 1],
  small: [0.001, 0.0015, 0.002, 0.001],
  resource_wait_ms: [10, 20, 30, 30],
  requests: [500, 1000, 1500, 1500],
  mem_bytes: [1e9, 2e9, 2.5e9, 2.5e9],
  WWWWWWWWWWMMMMMMMMMM: [123456789, 223456789, 3e8, 1e8],
  interfaces: [1, 2, 3, 2],
  [LONG_METRIC]: [-40, -12.5, 3, -40],
}
const NAMES = Object.keys(SERIES)

function metricsOf(run: number): Record<string, number> {
  return Object.fromEntries(NAMES.map((name) => [name, SERIES[name]![run]!]))
}

const trend: TrendRun[] = [0, 1, 2].map((i) => ({
  runId: `old${i}`,
  startTime: `2026-01-0${i + 1}T00:00:00.000Z`,
  status: 'passed',
  steps: [
    { step: 'ping_dut', idx: 1, status: 'passed', durationMs: 40 * (i + 1), metrics: metricsOf(i) },
    { step: LONG_STEP, idx: 2, status: 'failed', durationMs: 1500 * (i + 1), metrics: {} },
  ],
}))

const run = runOf([
  stepRow('ping_dut', 1, { durationMs: 30, envelope: { status: 'ok', metrics: metricsOf(3) } }),
  stepRow(LONG_STEP, 2, {
    status: 'failed',
    durationMs: 2_500,
    attempts: 2,
    attemptLog: [
      { attempt: 1, status: 'failed', reason: 'busy', durationMs: 1_000 },
      { attempt: 2, status: 'failed', durationMs: 1_000 },
    ],
  }),
  stepRow('report', 3, { status: 'blocked', durationMs: 0, attempts: 0 }),
])

/** The texts of an SVG's axes: per axis (`X`, `Y`), its tick labels and its title. */
function axes(svg: string): Record<string, { labels: string[]; title: string }> {
  const found: Record<string, { labels: string[]; title: string }> = {}
  const parts = svg.split(/(?=<g class="mark-group role-axis")/)
  for (const part of parts) {
    const which = /aria-label="([XY])-axis/.exec(part.slice(0, 400))?.[1]
    if (!which) continue
    const texts = (role: string) =>
      [...part.matchAll(new RegExp(`<g class="mark-text role-axis-${role}"[^>]*>((?:<text[^>]*>[^<]*</text>)*)`, 'g'))]
        .flatMap((match) => [...match[1]!.matchAll(/<text[^>]*>([^<]*)<\/text>/g)].map((text) => xmlText(text[1]!)))
        .filter((text) => text !== '')
    // A second axis of the same direction (a layer's) adds its labels.
    const axis = (found[which] ??= { labels: [], title: '' })
    axis.labels.push(...texts('label'))
    axis.title ||= texts('title').join(' ')
  }
  return found
}

function xmlText(text: string): string {
  return text
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&amp;/g, '&')
}

let drawn: Chart[] = []
const trendDrawn: { name: string; svg: string; png: Uint8Array }[] = []

describe('every chart fits its picture and writes numbers as people do', () => {
  test('the charts of a run and of a trend are drawn', async () => {
    const charts = await renderRunCharts(run, trend)
    expect(charts.problems).toEqual([])
    drawn = charts.charts
    expect(drawn.map((chart) => chart.name)).toContain('step_durations')
    expect(drawn.map((chart) => chart.name)).toContain('step_sequence')
    for (const { name } of trendChartList('LAB-1', trend)) {
      const svg = (await renderTrendChartSvg('LAB-1', trend, name))!
      trendDrawn.push({ name: `trend ${name}`, svg, png: (await svgPng(svg)).png })
    }
    expect(trendDrawn.map((chart) => chart.name)).toContain('trend step_duration_trend')
  })

  test('no ink in the outermost pixels of any chart: nothing is cut at the edge', () => {
    const cut = [...drawn, ...trendDrawn]
      .map((chart) => ({ name: chart.name, edges: inkAtEdges(chart.png) }))
      .filter((chart) => chart.edges.length > 0)
    expect(cut).toEqual([])
  })

  test('a metric trend drawn after a narrower one gets its own margins (the reused view is laid out again)', () => {
    const width = (name: string) => drawn.find((chart) => chart.name === `metric_ping_dut.${name}`)!.width
    // The y labels of 0.0015 are wider than those of 0 and 1: the chart is wider, not cut.
    expect(width('small')).toBeGreaterThan(width('up'))
  })

  test('no tick label in exponent notation, nor anywhere else in a chart', () => {
    for (const chart of [...drawn, ...trendDrawn]) {
      const texts = [...chart.svg.matchAll(/<text[^>]*>([^<]*)<\/text>/g)].map((match) => match[1]!)
      expect(
        texts.filter((text) => /\de[+-]?\d/i.test(text)),
        chart.name,
      ).toEqual([])
    }
  })

  const metric = (name: string) => axes(drawn.find((chart) => chart.name === `metric_${name}`)!.svg).Y!

  test('30 reads 30, 1500 reads 1.5 k, small numbers as decimals, negatives with their sign', () => {
    expect(metric('ping_dut.resource_wait_ms').labels).toContain('30')
    expect(metric('ping_dut.requests').labels).toContain('1.5 k')
    expect(metric('ping_dut.small').labels).toContain('0.0015')
    expect(metric(`ping_dut.${LONG_METRIC}`.slice(0, 80)).labels).toContain('-40')
    expect(metric('ping_dut.WWWWWWWWWWMMMMMMMMMM').labels).toContain('300 M')
  })

  test('an axis whose values are all whole numbers has whole ticks only (a count of interfaces)', () => {
    for (const name of ['ping_dut.interfaces', 'ping_dut.up']) {
      const labels = metric(name).labels
      expect(labels.length, name).toBeGreaterThan(1)
      for (const label of labels) expect(label, name).toMatch(/^-?\d+$/)
    }
  })

  test("the metric's unit is the axis title: a duration in ms, bytes in binary units", () => {
    expect(metric('ping_dut.resource_wait_ms').title).toBe('ms')
    const bytes = metric('ping_dut.mem_bytes')
    expect(bytes.title).toBe('GiB')
    expect(bytes.labels).toContain('2')
    expect(metric('ping_dut.interfaces').title).toBe('')
  })

  test('durations: the step chart counts in s when its longest bar is a second or more', () => {
    const durations = axes(drawn.find((chart) => chart.name === 'step_durations')!.svg).X!
    expect(durations.title).toBe('duration (s)')
    expect(durations.labels).toContain('2')
    const overRuns = axes(trendDrawn.find((chart) => chart.name === 'trend step_duration_trend')!.svg).Y!
    expect(overRuns.title).toBe('duration (s)')
  })

  test("the dashboard's trend: a chart per metric, each axis in its one unit (ms and Gbps never share one)", () => {
    const trendAxis = (name: string) => axes(trendDrawn.find((chart) => chart.name === `trend metric_${name}`)!.svg).Y!
    expect(trendAxis('ping_dut.resource_wait_ms').title).toBe('ms')
    expect(trendAxis(`ping_dut.${LONG_METRIC}`.slice(0, 80)).title).toBe('Gbps')
    expect(trendAxis('ping_dut.mem_bytes').title).toBe('GiB')
    for (const chart of trendDrawn) {
      const svg = chart.svg
      expect(svg.match(/aria-label="Y-axis/g)?.length ?? 0, chart.name).toBeLessThanOrEqual(1)
    }
  })

  test('extreme numbers: powers of ten on the axis, still inside the picture', async () => {
    const extreme = (i: number) => ({ huge: 1e25 * (i + 1), tiny: 1e-9 * (i + 1), mixed_ms: i === 0 ? -1e15 : 0.5 })
    const history: TrendRun[] = [0, 1].map((i) => ({
      runId: `x${i}`,
      startTime: `2026-01-0${i + 1}T00:00:00.000Z`,
      status: 'passed',
      steps: [{ step: 's', idx: 1, status: 'passed', durationMs: 1, metrics: extreme(i) }],
    }))
    const { charts, problems } = await renderRunCharts(
      runOf([stepRow('s', 1, { envelope: { metrics: extreme(2) } })]),
      history,
    )
    expect(problems).toEqual([])
    for (const chart of charts) expect(inkAtEdges(chart.png), chart.name).toEqual([])
    const labels = (name: string) => axes(charts.find((chart) => chart.name === `metric_s.${name}`)!.svg).Y!.labels
    expect(labels('huge')).toContain('2 × 10²⁵')
    expect(labels('tiny')).toContain('2 × 10⁻⁹')
    for (const label of [...labels('huge'), ...labels('tiny'), ...labels('mixed_ms')])
      expect(label).not.toMatch(/e[+-]?\d/)
  })
})
