import { Resvg } from '@resvg/resvg-js'
import { describe, expect, test } from 'vitest'
import {
  type Chart,
  MAX_METRIC_CHARTS,
  renderChartSvg,
  renderRunCharts,
  runChartList,
} from '../../plugin/charts/index.ts'
import type { TrendRun } from '../../plugin/store/run-data.ts'
import { runOf, stepRow } from './steps.ts'

/** Width and height from a PNG's IHDR chunk (after the 8-byte signature and the chunk's length and type). */
function pngSize(png: Uint8Array): { width: number; height: number } {
  const bytes = Buffer.from(png)
  expect(bytes.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))
  expect(bytes.subarray(12, 16).toString('latin1')).toBe('IHDR')
  return { width: bytes.readUInt32BE(16), height: bytes.readUInt32BE(20) }
}

/** The share of a rendered SVG's pixels that are not white: a drawn chart has some, and not all. */
function inkOf(svg: string): number {
  const image = new Resvg(svg, { background: 'white' }).render()
  const pixels = image.pixels
  let ink = 0
  for (let i = 0; i < pixels.length; i += 4) if (pixels[i]! < 240 || pixels[i + 1]! < 240 || pixels[i + 2]! < 240) ink++
  return ink / (image.width * image.height)
}

function expectDrawn(chart: Chart): void {
  expect(pngSize(chart.png)).toEqual({ width: chart.width, height: chart.height })
  const ink = inkOf(chart.svg)
  expect(ink).toBeGreaterThan(0.005)
  expect(ink).toBeLessThan(0.9)
}

const WEIRD = 'say "<b>hi</b>" & ü 漢 \\N'

const trendOf = (values: number[]): TrendRun[] =>
  values.map((value, i) => ({
    runId: `old${i}`,
    startTime: `2026-01-0${i + 1}T00:00:00.000Z`,
    status: 'passed',
    steps: [
      { step: 'measure', idx: 2, status: 'passed', durationMs: 5, metrics: { rate: value, 'lat.p99': value * 2 } },
    ],
  }))

describe('renderRunCharts', () => {
  test('step durations, the step graph and a trend per metric: valid PNGs with ink, SVG text escaped', async () => {
    const data = runOf(
      [
        stepRow(WEIRD, 1, {
          durationMs: 90,
          attempts: 2,
          attemptLog: [
            { attempt: 1, status: 'failed', reason: 'busy', durationMs: 20 },
            { attempt: 2, status: 'passed', durationMs: 30 },
          ],
        }),
        stepRow('measure', 2, { envelope: { status: 'ok', metrics: { rate: 7, lat: { p99: 14 }, bad: 'x' } } }),
        stepRow('report', 3, { status: 'blocked', durationMs: 0, attempts: 0 }),
      ],
      {
        steps_graph: [
          { step: WEIRD, needs: [], parallel: false },
          { step: 'measure', needs: [WEIRD], parallel: false },
          { step: 'report', needs: ['measure'], parallel: false },
        ],
      },
    )
    const drawn = await renderRunCharts(data, trendOf([5, 6]))
    expect(drawn.problems).toEqual([])
    expect(drawn.notes).toEqual([])
    expect(drawn.charts.map((chart) => chart.name)).toEqual([
      'step_durations',
      'step_sequence',
      'metric_measure.rate',
      'metric_measure.lat.p99',
    ])
    for (const chart of drawn.charts) expectDrawn(chart)
    const [durations, graph, rate] = drawn.charts
    for (const svg of [durations!.svg, graph!.svg]) {
      expect(svg).toContain('&lt;b&gt;hi&lt;/b&gt;')
      expect(svg).not.toContain('<b>')
    }
    expect(durations!.svg).toContain('waited 40.0 ms')
    expect(rate!.svg).toContain('3 runs of LAB-1; this run: 7')
    expect(runChartList(data, [])).toEqual(drawn.charts.map(({ name, title }) => ({ name, title })))
    expect(await renderChartSvg(data, [], 'step_sequence')).toContain('<svg')
    expect(await renderChartSvg(data, [], 'no_such_chart')).toBeUndefined()
  })

  test('no steps, no metrics, no history: the two run charts, drawn empty, and no metric chart', async () => {
    const drawn = await renderRunCharts(runOf([]), [])
    expect(drawn.charts.map((chart) => chart.name)).toEqual(['step_durations', 'step_sequence'])
    for (const chart of drawn.charts) expect(pngSize(chart.png)).toEqual({ width: chart.width, height: chart.height })
    expect(drawn.problems).toEqual([])
  })

  test(`at most ${MAX_METRIC_CHARTS} metric charts, the rest named; names safe as file names and unique`, async () => {
    const metrics = Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`m/${i} x`, i]))
    const data = runOf([
      stepRow('a:b', 1, { envelope: { metrics } }),
      stepRow('a_b', 2, { envelope: { metrics: { '0 x': 1 } } }),
    ])
    const names = runChartList(data, []).map((chart) => chart.name)
    expect(names).toHaveLength(2 + MAX_METRIC_CHARTS)
    expect(names.slice(2, 4)).toEqual(['metric_a_b.m_0_x', 'metric_a_b.m_1_x'])
    const drawn = await renderRunCharts(data, [])
    expect(drawn.notes).toEqual(['3 more metrics have no chart (the first 8 have one): a:b.m/8 x, a:b.m/9 x, a_b.0 x'])
  })

  test('1,000 steps with huge and NaN durations: drawn in bounded pictures, quickly', async () => {
    const steps = Array.from({ length: 1000 }, (_, i) =>
      stepRow(`step_${i}`, i + 1, { durationMs: i === 5 ? 1e300 : i === 6 ? Number.NaN : i }),
    )
    const started = performance.now()
    const drawn = await renderRunCharts(runOf(steps), [])
    expect(performance.now() - started).toBeLessThan(15_000)
    expect(drawn.problems).toEqual([])
    for (const chart of drawn.charts) {
      expect(chart.note).toMatch(/of 1000 steps.*; report\.xlsx \(sheet Steps\) has every step$/)
      expect(chart.height).toBeLessThan(20_000)
    }
  })
})
