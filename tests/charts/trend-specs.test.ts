import { describe, expect, test } from 'vitest'
import { textWidth } from '../../plugin/charts/text-width.ts'
import { MAX_TREND_STEPS, metricTrend, stepDurationTrendSpec } from '../../plugin/charts/trend-specs.ts'
import type { TrendRun } from '../../plugin/store/run-data.ts'

test("metricTrend marks the report's run among the earlier ones, and titles the chart", () => {
  const { data, signals } = metricTrend('measure.rate', 'LAB-1', [
    { n: 1, runId: 'a', startTime: '2026-01-01T10:00:00.000Z', value: 3, current: false },
    { n: 2, runId: 'b', startTime: '2026-01-02T11:30:00.000Z', value: 4, current: true },
  ])
  expect(data.points.map((point) => [(point as { label: string }).label, (point as { which: string }).which])).toEqual([
    ['#1 01-01 10:00', 'earlier runs'],
    ['#2 01-02 11:30', 'this run'],
  ])
  expect(signals).toEqual({
    chartTitle: ['measure.rate'],
    chartSubtitle: '2 runs of LAB-1; this run: 4',
    yUnit: '',
    yMinStep: 1,
  })
})

test("metricTrend draws a metric in its axis's unit, named by the axis; a long name is broken into title lines", () => {
  const point = (n: number, value: number) => ({
    n,
    runId: `r${n}`,
    startTime: '2026-01-01T10:00:00.000Z',
    value,
    current: n === 2,
  })
  const bytes = metricTrend('dut.rx_bytes', 'LAB-1', [point(1, 1.5 * 1024 ** 3), point(2, 2.5e9)])
  expect(bytes.data.points.map((p) => (p as { value: number }).value)).toEqual([1.5, 2.5e9 / 1024 ** 3])
  expect(bytes.signals).toMatchObject({
    yUnit: 'GiB',
    yMinStep: 0,
    chartSubtitle: '2 runs of LAB-1; this run: 2.328 GiB',
  })
  const wait = metricTrend('ping.resource_wait_ms', 'LAB-1', [point(1, 900), point(2, 2500)])
  expect(wait.signals).toMatchObject({ yUnit: 's', chartSubtitle: '2 runs of LAB-1; this run: 2.5 s' })
  const long = `step.${'x'.repeat(50)}_${'y'.repeat(50)}`
  const { chartTitle } = metricTrend(long, 'LAB-1', [point(1, 1)]).signals
  expect(chartTitle.join('')).toBe(long)
  for (const line of chartTitle) expect(textWidth(line, 13)).toBeLessThanOrEqual(560)
  const wide = metricTrend(`s.${'W'.repeat(120)}😀漢`, 'LAB-1', [point(1, 1)]).signals.chartTitle
  expect(wide.length).toBeGreaterThan(2)
  expect(wide.join('')).toBe(`s.${'W'.repeat(120)}😀漢`)
  for (const line of wide) expect(textWidth(line, 13)).toBeLessThanOrEqual(560)
  expect(chartTitle[0]).toBe(`step.${'x'.repeat(50)}_`)
})

/** A stored run of the trend: its steps' durations (ms), each passed unless named in `failed`. */
function trendRun(
  runId: string,
  startTime: string,
  durations: Record<string, number>,
  failed: string[] = [],
): TrendRun {
  return {
    runId,
    startTime,
    status: failed.length ? 'failed' : 'passed',
    steps: Object.entries(durations).map(([step, durationMs], i) => ({
      step,
      idx: i + 1,
      status: failed.includes(step) ? 'failed' : 'passed',
      durationMs,
      metrics: {},
    })),
  }
}

describe('stepDurationTrendSpec', () => {
  test('a line per step over the runs, oldest first, in one unit; a step missing from a run has no point there', () => {
    const { spec, note } = stepDurationTrendSpec('LAB-1', [
      trendRun('r1', '2026-01-01T10:00:00.000Z', { boot: 1500, check: 500 }, ['check']),
      trendRun('r2', '2026-01-02T11:30:00.000Z', { boot: 2500 }),
    ])
    expect(note).toBeUndefined()
    expect((spec as { data: { values: unknown[] } }).data.values).toEqual([
      { label: '#1 01-01 10:00', runId: 'r1', step: 'boot', status: 'passed', value: 1.5 },
      { label: '#1 01-01 10:00', runId: 'r1', step: 'check', status: 'failed', value: 0.5 },
      { label: '#2 01-02 11:30', runId: 'r2', step: 'boot', status: 'passed', value: 2.5 },
    ])
    const text = JSON.stringify(spec)
    expect(text).toContain('duration (s)')
    expect(text).toContain('2 runs of LAB-1')
  })

  test(`at most ${MAX_TREND_STEPS} steps get a line: the slowest, and the chart says so`, () => {
    const durations = Object.fromEntries(Array.from({ length: MAX_TREND_STEPS + 5 }, (_, i) => [`s${i}`, i]))
    const { spec, note } = stepDurationTrendSpec('LAB-1', [trendRun('r1', '2026-01-01T10:00:00.000Z', durations)])
    const steps = new Set((spec as { data: { values: { step: string }[] } }).data.values.map((value) => value.step))
    expect(steps.size).toBe(MAX_TREND_STEPS)
    expect(steps.has(`s${MAX_TREND_STEPS + 4}`)).toBe(true)
    expect(steps.has('s0')).toBe(false)
    expect(note).toBe(`the ${MAX_TREND_STEPS} slowest of ${MAX_TREND_STEPS + 5} steps`)
    expect(JSON.stringify(spec)).toContain(note)
  })
})
